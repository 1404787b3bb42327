-- A list's roster version, changed with any of its memberships or the
-- user of any of their addresses: whatever a member's REST entry shows. A
-- reader that keeps a copy of a roster (the order of a big roster's pages)
-- compares it to know whether its copy is still the list's. A list's
-- versions start at a random number, so that a list removed and made again
-- (with the same row id) does not take up its predecessor's.
ALTER TABLE lists ADD COLUMN roster_version BIGINT NOT NULL DEFAULT floor(random() * 4503599627370496)::bigint;

-- One update of each list a statement changes, for the count and the
-- version together.
CREATE OR REPLACE FUNCTION members_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists l SET member_count = l.member_count + n.c, roster_version = l.roster_version + 1
        FROM (SELECT list_id, count(*) FILTER (WHERE role = 'member') AS c FROM new_rows GROUP BY list_id) n WHERE l.id = n.list_id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION members_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists l SET member_count = l.member_count - o.c, roster_version = l.roster_version + 1
        FROM (SELECT list_id, count(*) FILTER (WHERE role = 'member') AS c FROM old_rows GROUP BY list_id) o WHERE l.id = o.list_id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION members_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists l SET member_count = l.member_count + d.c, roster_version = l.roster_version + 1
        FROM (SELECT list_id, sum(c) AS c FROM (
                SELECT list_id, -count(*) FILTER (WHERE role = 'member') AS c FROM old_rows GROUP BY list_id
                UNION ALL
                SELECT list_id, count(*) FILTER (WHERE role = 'member') AS c FROM new_rows GROUP BY list_id) x
              GROUP BY list_id) d
        WHERE l.id = d.list_id;
    RETURN NULL;
END $$;

CREATE FUNCTION addresses_user_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists SET roster_version = roster_version + 1
        WHERE id IN (SELECT m.list_id FROM members m JOIN new_rows n ON m.address_key = n.address_key WHERE n.user_id <> '');
    RETURN NULL;
END $$;
CREATE FUNCTION addresses_user_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists SET roster_version = roster_version + 1
        WHERE id IN (SELECT m.list_id FROM members m JOIN old_rows o ON m.address_key = o.address_key WHERE o.user_id <> '');
    RETURN NULL;
END $$;
CREATE FUNCTION addresses_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists SET roster_version = roster_version + 1
        WHERE id IN (SELECT m.list_id FROM members m JOIN new_rows n ON m.address_key = n.address_key
                     JOIN old_rows o ON o.address_key = n.address_key WHERE o.user_id <> n.user_id);
    RETURN NULL;
END $$;
CREATE TRIGGER addresses_user_insert AFTER INSERT ON addresses REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION addresses_user_added();
CREATE TRIGGER addresses_user_delete AFTER DELETE ON addresses REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION addresses_user_removed();
CREATE TRIGGER addresses_user_update AFTER UPDATE ON addresses REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION addresses_user_changed();

-- A member's user, read with each member of a roster, from the index
-- alone.
CREATE INDEX addresses_key_user ON addresses (address_key, user_id);
