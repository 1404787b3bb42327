-- Bounce processing, with Mailman's names and defaults: what a list does
-- about the failures its members' addresses report (the two intervals in
-- days), each member's score and warnings, and what kind of event each
-- bounce is (normal, probe, policy: a 5.7.x refusal, recorded and never
-- scored; complaint: a feedback report).
ALTER TABLE lists ADD COLUMN process_bounces BIGINT NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN bounce_score_threshold BIGINT NOT NULL DEFAULT 5;
ALTER TABLE lists ADD COLUMN bounce_info_stale_after BIGINT NOT NULL DEFAULT 7;
ALTER TABLE lists ADD COLUMN bounce_you_are_disabled_warnings BIGINT NOT NULL DEFAULT 3;
ALTER TABLE lists ADD COLUMN bounce_you_are_disabled_warnings_interval BIGINT NOT NULL DEFAULT 7;
ALTER TABLE lists ADD COLUMN bounce_notify_owner_on_bounce_increment BIGINT NOT NULL DEFAULT 0;
ALTER TABLE lists ADD COLUMN bounce_notify_owner_on_disable BIGINT NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN bounce_notify_owner_on_removal BIGINT NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN forward_unrecognized_bounces_to TEXT NOT NULL DEFAULT 'administrators';
-- Why delivery is off ('' while it is on): by_bounces, by_user, by_moderator.
ALTER TABLE members ADD COLUMN delivery_status TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN bounce_score BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN last_bounce_received BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN last_warning_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN total_warnings_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE bounce_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE bounce_events ADD COLUMN status TEXT NOT NULL DEFAULT '';
