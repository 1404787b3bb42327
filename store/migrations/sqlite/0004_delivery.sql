-- Delivery: bounces the outgoing runner records, for the bounce processing
-- to come.
CREATE TABLE bounce_events (
    id         INTEGER PRIMARY KEY,
    list_id    INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    processed  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX bounce_events_list ON bounce_events (list_id, processed);
