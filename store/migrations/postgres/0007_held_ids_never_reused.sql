-- A held post's id must never be given to another post (see SQLite's
-- 0007). PostgreSQL's identity column never reuses a value already: this
-- migration only keeps the two histories the same, and says so.
COMMENT ON COLUMN held_messages.id IS 'never reused: moderators act on it';
