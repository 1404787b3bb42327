-- A list's roster version, changed with any of its memberships or the
-- user of any of their addresses: whatever a member's REST entry shows. A
-- reader that keeps a copy of a roster (the order of a big roster's pages)
-- compares it to know whether its copy is still the list's. A list's
-- versions start at a random number, so that a list removed and made again
-- (with the same row id) does not take up its predecessor's.
ALTER TABLE lists ADD COLUMN roster_version INTEGER NOT NULL DEFAULT 0;
UPDATE lists SET roster_version = abs(random() % 4503599627370496);
CREATE TRIGGER lists_roster_version AFTER INSERT ON lists
BEGIN
    UPDATE lists SET roster_version = abs(random() % 4503599627370496) WHERE id = NEW.id;
END;

-- One update of the list a membership change, as before, for the count
-- and the version together.
DROP TRIGGER members_count_insert;
DROP TRIGGER members_count_delete;
DROP TRIGGER members_count_update;
CREATE TRIGGER members_insert AFTER INSERT ON members
BEGIN
    UPDATE lists SET member_count = member_count + (NEW.role = 'member'), roster_version = roster_version + 1 WHERE id = NEW.list_id;
END;
CREATE TRIGGER members_delete AFTER DELETE ON members
BEGIN
    UPDATE lists SET member_count = member_count - (OLD.role = 'member'), roster_version = roster_version + 1 WHERE id = OLD.list_id;
END;
CREATE TRIGGER members_update AFTER UPDATE ON members WHEN NEW.list_id = OLD.list_id
BEGIN
    UPDATE lists SET member_count = member_count - (OLD.role = 'member') + (NEW.role = 'member'), roster_version = roster_version + 1 WHERE id = NEW.list_id;
END;
CREATE TRIGGER members_move AFTER UPDATE ON members WHEN NEW.list_id <> OLD.list_id
BEGIN
    UPDATE lists SET member_count = member_count - (OLD.role = 'member'), roster_version = roster_version + 1 WHERE id = OLD.list_id;
    UPDATE lists SET member_count = member_count + (NEW.role = 'member'), roster_version = roster_version + 1 WHERE id = NEW.list_id;
END;

CREATE TRIGGER addresses_user_insert AFTER INSERT ON addresses WHEN NEW.user_id <> ''
BEGIN
    UPDATE lists SET roster_version = roster_version + 1 WHERE id IN (SELECT list_id FROM members WHERE address_key = NEW.address_key);
END;
CREATE TRIGGER addresses_user_update AFTER UPDATE OF user_id ON addresses WHEN NEW.user_id <> OLD.user_id
BEGIN
    UPDATE lists SET roster_version = roster_version + 1 WHERE id IN (SELECT list_id FROM members WHERE address_key = NEW.address_key);
END;
CREATE TRIGGER addresses_user_delete AFTER DELETE ON addresses WHEN OLD.user_id <> ''
BEGIN
    UPDATE lists SET roster_version = roster_version + 1 WHERE id IN (SELECT list_id FROM members WHERE address_key = OLD.address_key);
END;

-- A member's user, read with each member of a roster, from the index
-- alone.
CREATE INDEX addresses_key_user ON addresses (address_key, user_id);
