-- What a list does with a post that says it was sent automatically (an
-- Auto-Submitted other than "no", or Precedence bulk, junk or list with
-- no list header): hold, discard or accept. Answering an out-of-office
-- reply by posting it to the list makes the next one.
ALTER TABLE lists ADD COLUMN automatic_post_action TEXT NOT NULL DEFAULT 'hold';
