-- What Mailman's REST API and its web clients need: domains and their
-- owners, users with several addresses and a preferred one, preferences at
-- the user, address and member levels, list settings kept for the clients
-- that runners do not read yet, header matches, and the templates a site
-- registers (their text is kept here, so that nothing waits on a fetch).

CREATE TABLE domains (
    id           INTEGER PRIMARY KEY,
    mail_host    TEXT    NOT NULL UNIQUE,
    description  TEXT    NOT NULL DEFAULT '',
    alias_domain TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
);
-- Every list's domain exists from now on.
INSERT INTO domains (mail_host, created_at)
    SELECT mail_host, min(created_at) FROM lists GROUP BY mail_host;

-- A user is one person: user_id is 32 hex digits (Mailman's UUID), made at
-- random. password is a PBKDF2 hash or ''. preferred_address_key names one
-- of the user's verified addresses, or is ''.
CREATE TABLE users (
    user_id               TEXT    PRIMARY KEY,
    display_name          TEXT    NOT NULL DEFAULT '',
    password              TEXT    NOT NULL DEFAULT '',
    is_server_owner       INTEGER NOT NULL DEFAULT 0,
    preferred_address_key TEXT    NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL
);
CREATE INDEX users_created_at ON users (created_at, user_id);

CREATE TABLE domain_owners (
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    user_id   TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    PRIMARY KEY (domain_id, user_id)
);

-- The user an address belongs to, '' for none (a nonmember's address).
ALTER TABLE addresses ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
CREATE INDEX addresses_user ON addresses (user_id) WHERE user_id <> '';

-- Every subscribed address has its row and its user, as in Mailman: an
-- address an administrator added counts as verified from then on.
INSERT INTO addresses (address_key, address, display_name, verified_at, created_at)
    SELECT address_key, min(address), max(display_name), min(subscribed_at), min(subscribed_at)
    FROM members WHERE role <> 'nonmember' GROUP BY address_key
    ON CONFLICT (address_key) DO NOTHING;
UPDATE addresses SET user_id = lower(hex(randomblob(16)))
    WHERE user_id = '' AND address_key IN (SELECT address_key FROM members WHERE role <> 'nonmember');
INSERT INTO users (user_id, display_name, created_at)
    SELECT user_id, display_name, created_at FROM addresses WHERE user_id <> '';

-- A membership is the address's (as_address) or follows its user's
-- preferred address (as_user).
ALTER TABLE members ADD COLUMN subscription_mode TEXT NOT NULL DEFAULT 'as_address';
CREATE INDEX members_address ON members (address_key);
-- A roster by role in address order, and a list's member count, read
-- from the index alone.
CREATE INDEX members_list_role ON members (list_id, role, address_key);

-- Preferences set at one level: owner is "user:USER_ID", "address:KEY" or
-- "member:ROWID"; a preference not set at a level has no row.
CREATE TABLE preferences (
    owner TEXT NOT NULL,
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (owner, name)
);

-- A list's regular members, counted as they come and go, so that a
-- list's member_count costs no scan of its roster.
ALTER TABLE lists ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
UPDATE lists SET member_count = (SELECT count(*) FROM members m WHERE m.list_id = lists.id AND m.role = 'member');
CREATE TRIGGER members_count_insert AFTER INSERT ON members WHEN NEW.role = 'member'
BEGIN
    UPDATE lists SET member_count = member_count + 1 WHERE id = NEW.list_id;
END;
CREATE TRIGGER members_count_delete AFTER DELETE ON members WHEN OLD.role = 'member'
BEGIN
    UPDATE lists SET member_count = member_count - 1 WHERE id = OLD.list_id;
END;
CREATE TRIGGER members_count_update AFTER UPDATE OF role, list_id ON members
BEGIN
    UPDATE lists SET member_count = member_count - 1 WHERE id = OLD.list_id AND OLD.role = 'member';
    UPDATE lists SET member_count = member_count + 1 WHERE id = NEW.list_id AND NEW.role = 'member';
END;

-- Whether a list is shown to people who are not its members, a column
-- because list indexes filter on it.
ALTER TABLE lists ADD COLUMN advertised INTEGER NOT NULL DEFAULT 1;

-- The list settings of Mailman's API that no runner reads yet, by name
-- with their values as JSON; a setting without a row has its default.
CREATE TABLE list_settings (
    list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    name    TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (list_id, name)
);

-- A list's header matches, in order from position 0; action '' means the
-- site's default chain.
CREATE TABLE header_matches (
    id       INTEGER PRIMARY KEY,
    list_id  INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    header   TEXT    NOT NULL,
    pattern  TEXT    NOT NULL,
    action   TEXT    NOT NULL DEFAULT '',
    tag      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX header_matches_list ON header_matches (list_id, position);

-- Templates registered by URI for the site (scope ''), a domain
-- ("domain:HOST") or a list ("list:LIST_ID"). content is the text last
-- fetched, fetched_at when (0: never), so that notices use what is here.
CREATE TABLE templates (
    scope      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    uri        TEXT    NOT NULL,
    username   TEXT    NOT NULL DEFAULT '',
    password   TEXT    NOT NULL DEFAULT '',
    content    TEXT    NOT NULL DEFAULT '',
    fetched_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, name)
);
