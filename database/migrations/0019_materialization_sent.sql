-- When the webhook sensor last returned a job collected outside a run to Dagster (issue 25). The
-- daemon stores a tick's asset events and only then its cursor, which says they are held; a
-- daemon killed between the two leaves the job due with this set, and the next tick looks the
-- job's events up in Dagster's event log (none older than this) before returning any again, so
-- an output is recorded once however the process dies.
ALTER TABLE jobs ADD COLUMN materialization_sent_at timestamptz;
