-- When the webhook sensor last asked what a generating script needs: the sensor visits the
-- least recently checked scripts first, so no script waits behind a long queue.
ALTER TABLE scripts ADD COLUMN checked_at timestamptz;
CREATE INDEX scripts_generating_checked ON scripts (checked_at NULLS FIRST) WHERE status = 'generating';
