-- Whether a member who is also named in a post's To or Cc wants the list's
-- copy as well (Mailman's receive_list_copy).
ALTER TABLE members ADD COLUMN receive_list_copy BIGINT  NOT NULL DEFAULT 1;
