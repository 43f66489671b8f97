-- Final outputs collected where their webhook is accepted (issue 25). The service claims a job's
-- collection for a while (`collect_lease_until`) in the statement that moves it to its final
-- status; collecting runs and the webhook sensor leave a claimed job alone until the claim ends
-- or lapses (the claimer died: the run-based collection takes over). A job the service stored
-- waits, with `materialization_due`, until the webhook sensor has recorded it in Dagster as a
-- materialization of its asset partition.
ALTER TABLE jobs ADD COLUMN collect_lease_until timestamptz;
ALTER TABLE jobs ADD COLUMN materialization_due boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_materialization_due ON jobs (id) WHERE materialization_due;
