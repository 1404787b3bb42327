-- What subscribing and leaving by email needs: the list settings of the
-- command runner, a member's delivery mode, the addresses that have shown
-- they receive mail at them, and the pending requests of one address.

-- member_roster_visibility says who may ask `who`: public, members or
-- moderators. autorespond_requests is none, respond_and_discard or
-- respond_and_continue, for mail to LIST-request; the grace period is in
-- days, 0 answering every message.
ALTER TABLE lists ADD COLUMN send_welcome_message      BIGINT  NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN send_goodbye_message      BIGINT  NOT NULL DEFAULT 1;
ALTER TABLE lists ADD COLUMN welcome_message           TEXT    NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN goodbye_message           TEXT    NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN member_roster_visibility  TEXT    NOT NULL DEFAULT 'moderators';
ALTER TABLE lists ADD COLUMN autorespond_requests      TEXT    NOT NULL DEFAULT 'none';
ALTER TABLE lists ADD COLUMN autoresponse_request_text TEXT    NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN autoresponse_grace_period BIGINT  NOT NULL DEFAULT 90;

-- regular, mime_digests, plaintext_digests or summary_digests.
ALTER TABLE members ADD COLUMN delivery_mode TEXT NOT NULL DEFAULT 'regular';

-- Addresses met by the subscription workflows. verified_at is 0 until the
-- address confirmed a token sent to it. A member added by an administrator
-- counts as verified without a row here.
CREATE TABLE addresses (
    address_key  TEXT    PRIMARY KEY,
    address      TEXT    NOT NULL,
    display_name TEXT    NOT NULL DEFAULT '',
    verified_at  BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL
);

-- The address a pending subscription or unsubscription is for, so that a
-- second request while one waits is refused; '' for other requests.
ALTER TABLE pending ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
CREATE INDEX pending_address ON pending (list_id, address_key) WHERE address_key <> '';

-- When a list last answered an address automatically, by kind of answer,
-- for the grace period.
CREATE TABLE autoresponse_log (
    list_id     BIGINT  NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    address_key TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    sent_at     BIGINT  NOT NULL,
    PRIMARY KEY (list_id, address_key, kind)
);
