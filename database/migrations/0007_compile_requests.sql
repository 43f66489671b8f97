-- Compilations on request: a row is written `requested` (by the API, or by the approval
-- sensor once every section is approved) with the output format, quality and overrides of the
-- script's own output options; the compile sensor launches one run per row, which moves it
-- to `running`, then `succeeded` or `failed`.
ALTER TABLE compilations DROP CONSTRAINT compilations_status_check;
ALTER TABLE compilations ADD CONSTRAINT compilations_status_check
    CHECK (status IN ('requested', 'running', 'succeeded', 'failed'));
ALTER TABLE compilations ADD COLUMN output_format text NOT NULL DEFAULT 'mp4'
    CHECK (output_format IN ('mp4', 'webm', 'avi'));
ALTER TABLE compilations ADD COLUMN quality text NOT NULL DEFAULT 'standard'
    CHECK (quality IN ('draft', 'standard', 'high'));
ALTER TABLE compilations ADD COLUMN options jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE compilations ADD COLUMN requested_by text NOT NULL DEFAULT 'approval';
-- The approval that completed the script, for the automatic request: a sensor tick read twice
-- (a crash before its cursor was saved) records that request once.
ALTER TABLE compilations ADD COLUMN approval_id bigint UNIQUE;
ALTER TABLE compilations ADD COLUMN started_at timestamptz;
UPDATE compilations c
SET output_format = COALESCE(
        substring(c.output_key FROM '\.(mp4|webm)$'), s.document -> 'output' ->> 'format', 'mp4'),
    started_at = c.created_at
FROM scripts s
WHERE s.id = c.script_id;
-- One compilation in flight per script. Runs that died left `running` rows behind: all but the
-- newest of a script are closed as failed so the index can hold.
UPDATE compilations c
SET status = 'failed', error = 'interrupted (a later compilation of the script started)',
    completed_at = now()
WHERE c.status = 'running'
  AND EXISTS (SELECT 1 FROM compilations d WHERE d.script_id = c.script_id AND d.id > c.id);
CREATE UNIQUE INDEX compilations_one_in_flight ON compilations (script_id)
    WHERE status IN ('requested', 'running');
