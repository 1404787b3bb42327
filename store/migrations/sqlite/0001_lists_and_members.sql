-- Lists and their members. Times are Unix nanoseconds (UTC), booleans 0/1.
CREATE TABLE lists (
    id                           INTEGER PRIMARY KEY,
    list_name                    TEXT    NOT NULL,
    mail_host                    TEXT    NOT NULL,
    list_id                      TEXT    NOT NULL UNIQUE,
    display_name                 TEXT    NOT NULL,
    description                  TEXT    NOT NULL DEFAULT '',
    subject_prefix               TEXT    NOT NULL,
    default_member_action        TEXT    NOT NULL DEFAULT 'defer',
    default_nonmember_action     TEXT    NOT NULL DEFAULT 'hold',
    subscription_policy          TEXT    NOT NULL DEFAULT 'confirm',
    unsubscription_policy        TEXT    NOT NULL DEFAULT 'confirm',
    max_message_size             INTEGER NOT NULL DEFAULT 40,
    max_num_recipients           INTEGER NOT NULL DEFAULT 10,
    require_explicit_destination INTEGER NOT NULL DEFAULT 1,
    administrivia                INTEGER NOT NULL DEFAULT 1,
    reply_goes_to_list           TEXT    NOT NULL DEFAULT 'no_munging',
    emergency                    INTEGER NOT NULL DEFAULT 0,
    include_rfc2369_headers      INTEGER NOT NULL DEFAULT 1,
    post_id                      INTEGER NOT NULL DEFAULT 1,
    created_at                   INTEGER NOT NULL,
    last_post_at                 INTEGER NOT NULL DEFAULT 0,
    UNIQUE (list_name, mail_host)
);

CREATE TABLE members (
    id                   INTEGER PRIMARY KEY,
    list_id              INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    address_key          TEXT    NOT NULL,
    address              TEXT    NOT NULL,
    display_name         TEXT    NOT NULL DEFAULT '',
    role                 TEXT    NOT NULL CHECK (role IN ('owner', 'moderator', 'member', 'nonmember')),
    delivery_enabled     INTEGER NOT NULL DEFAULT 1,
    moderation_action    TEXT    NOT NULL DEFAULT '',
    receive_own_postings INTEGER NOT NULL DEFAULT 1,
    subscribed_at        INTEGER NOT NULL,
    UNIQUE (list_id, address_key, role)
);
