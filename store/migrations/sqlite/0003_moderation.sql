-- What the posting chain's moderation needs: the list settings its rules
-- read, bans, the count of automatic replies sent, and the token with which
-- a moderator confirms a held post.

-- moderator_password is a PBKDF2 hash ("pbkdf2-sha256$iterations$salt$hash"),
-- never the password. acceptable_aliases and bounce_matching_headers hold
-- one entry a line.
ALTER TABLE lists ADD COLUMN moderator_password       TEXT    NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN admin_immed_notify       INTEGER NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN respond_to_post_requests INTEGER NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN acceptable_aliases       TEXT    NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN bounce_matching_headers  TEXT    NOT NULL DEFAULT '';

-- A pattern is a lower-cased address or a ^regex; a NULL list_id bans from
-- every list of the site. NULLs are distinct in a UNIQUE constraint, hence
-- the index on coalesce(list_id, 0): row ids start at 1.
CREATE TABLE bans (
    id         INTEGER PRIMARY KEY,
    list_id    INTEGER REFERENCES lists (id) ON DELETE CASCADE,
    pattern    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX bans_list_pattern ON bans (coalesce(list_id, 0), pattern);

-- Automatic replies sent to an address for a list on a day (UTC,
-- YYYY-MM-DD), against [mta] max_autoresponses_per_day. Only the current
-- day's rows are kept.
CREATE TABLE autoresponses (
    list_id     INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    address_key TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (list_id, address_key, day)
);

-- The token of the pending request that confirms a held post; '' for the
-- posts held before this migration, which have none.
ALTER TABLE held_messages ADD COLUMN token TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX held_messages_token ON held_messages (token) WHERE token <> '';
