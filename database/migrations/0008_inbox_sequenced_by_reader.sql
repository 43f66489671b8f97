-- Writers no longer serialize on one advisory lock: a webhook is inserted without a `seq`, and
-- the reader numbers the committed rows it finds (under its own lock, readers being one sensor)
-- before reading past its cursor. A row can only get a number after it committed, and numbers
-- only grow, so a reader never skips a row that commits late. Existing rows keep their numbers;
-- the sequence goes on from them.
ALTER TABLE webhook_inbox DROP CONSTRAINT webhook_inbox_pkey;
ALTER TABLE webhook_inbox ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE webhook_inbox ALTER COLUMN seq DROP DEFAULT;
ALTER TABLE webhook_inbox DROP CONSTRAINT webhook_inbox_webhook_id_key;
ALTER TABLE webhook_inbox ADD PRIMARY KEY (webhook_id);
CREATE UNIQUE INDEX webhook_inbox_seq_key ON webhook_inbox (seq);
CREATE INDEX webhook_inbox_unnumbered ON webhook_inbox (received_at) WHERE seq IS NULL;
