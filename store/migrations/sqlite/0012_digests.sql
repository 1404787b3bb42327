-- Digests, kept in the database rather than in a file per list under
-- var_dir (Mailman's digest.mmdf): hosts sharing one database share a
-- list's digest, and a post is added in a transaction keyed by the queue
-- entry that carried it, so the step that adds it may run again after a
-- crash without adding it twice.
--
-- A list's digest numbers: the volume and number the next issue gets, and
-- when the last issue was sent (0: never), from which a new period starts
-- a new volume.
ALTER TABLE lists ADD COLUMN digest_volume INTEGER NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN digest_number INTEGER NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN digest_last_sent_at INTEGER NOT NULL DEFAULT 0;

-- An issue, once closed: its numbers, when it was handed to delivery
-- (0: not yet, so that a crash between closing and sending is finished
-- by the next run), and until when the process sending it holds it (so
-- that a run on another host does not send it too).
CREATE TABLE digest_issues (
    id        INTEGER PRIMARY KEY,
    list_id   INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    volume    INTEGER NOT NULL,
    number    INTEGER NOT NULL,
    closed_at INTEGER NOT NULL,
    sent_at   INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (list_id, volume, number)
);

-- The posts of a list's digest; issue_id is NULL while they wait for the
-- next issue. Once their issue is sent a post's message is dropped but its
-- key kept a while, so that the step that added it, run again after a
-- crash, does not add it to the next issue.
CREATE TABLE digest_posts (
    id       INTEGER PRIMARY KEY,
    list_id  INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    post_key TEXT    NOT NULL,
    message  BLOB    NOT NULL,
    size     INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    issue_id INTEGER REFERENCES digest_issues (id) ON DELETE CASCADE,
    UNIQUE (list_id, post_key)
);
CREATE INDEX digest_posts_waiting ON digest_posts (list_id, issue_id);
