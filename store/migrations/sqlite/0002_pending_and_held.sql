-- Requests waiting for someone: confirmations and held posts.
CREATE TABLE pending (
    token      TEXT    PRIMARY KEY,
    list_id    INTEGER REFERENCES lists (id) ON DELETE CASCADE,
    type       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX pending_expires_at ON pending (expires_at);

CREATE TABLE held_messages (
    id         INTEGER PRIMARY KEY,
    list_id    INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    sender     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    reasons    TEXT    NOT NULL,
    message    BLOB    NOT NULL,
    msgdata    TEXT    NOT NULL,
    held_at    INTEGER NOT NULL
);
