-- A held post's id is what a moderator acts on (`mailmanctl held accept
-- 1`, the notices): it must never be given to another post. SQLite reuses
-- the largest rowid of an INTEGER PRIMARY KEY once its row is gone, so a
-- post held after the last one was discarded got its id, and an accept
-- meant for the first sent the second. AUTOINCREMENT never reuses one; the
-- table is made again with it, keeping every row and id.
CREATE TABLE held_messages_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id    INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    sender     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    reasons    TEXT    NOT NULL,
    message    BLOB    NOT NULL,
    msgdata    TEXT    NOT NULL,
    held_at    INTEGER NOT NULL,
    token      TEXT    NOT NULL DEFAULT ''
);
INSERT INTO held_messages_new (id, list_id, sender, subject, message_id, reasons, message, msgdata, held_at, token)
    SELECT id, list_id, sender, subject, message_id, reasons, message, msgdata, held_at, token FROM held_messages;
DROP TABLE held_messages;
ALTER TABLE held_messages_new RENAME TO held_messages;
CREATE UNIQUE INDEX held_messages_token ON held_messages (token) WHERE token <> '';
