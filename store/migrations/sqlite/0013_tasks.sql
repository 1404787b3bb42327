-- The scheduler's jobs, one row each: when it is next due, who holds it
-- while it runs (so that hosts sharing one database run it once: a host
-- takes it only when it is due and no one's hold on it is current), and
-- how its last run went. Times are Unix nanoseconds, 0 for never;
-- last_failed is 0 or 1.
CREATE TABLE tasks (
    name             TEXT    PRIMARY KEY,
    due_at           INTEGER NOT NULL,
    held_by          TEXT    NOT NULL DEFAULT '',
    held_until       INTEGER NOT NULL DEFAULT 0,
    last_started_at  INTEGER NOT NULL DEFAULT 0,
    last_finished_at INTEGER NOT NULL DEFAULT 0,
    last_ran_on      TEXT    NOT NULL DEFAULT '',
    last_result      TEXT    NOT NULL DEFAULT '',
    last_failed      INTEGER NOT NULL DEFAULT 0,
    runs             INTEGER NOT NULL DEFAULT 0
);
