-- The scheduler's jobs, one row each: when it is next due, who holds it
-- while it runs (so that hosts sharing one database run it once: a host
-- takes it only when it is due and no one's hold on it is current), and
-- how its last run went. Times are Unix nanoseconds, 0 for never;
-- last_failed is 0 or 1.
CREATE TABLE tasks (
    name             TEXT    PRIMARY KEY,
    due_at           BIGINT  NOT NULL,
    held_by          TEXT    NOT NULL DEFAULT '',
    held_until       BIGINT  NOT NULL DEFAULT 0,
    last_started_at  BIGINT  NOT NULL DEFAULT 0,
    last_finished_at BIGINT  NOT NULL DEFAULT 0,
    last_ran_on      TEXT    NOT NULL DEFAULT '',
    last_result      TEXT    NOT NULL DEFAULT '',
    last_failed      BIGINT  NOT NULL DEFAULT 0,
    runs             BIGINT  NOT NULL DEFAULT 0
);
