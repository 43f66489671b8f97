-- A script's soundtrack take (issue 23): an edit that changes a soundtrack already asked for
-- moves it to its next take, as a retake moves a section's, so generation asks for the new one
-- and the compile takes the newest stored. A script without a row is on its take 1. Its own
-- table, not a `scripts` column: `scripts` rows are read whole into one record type.
CREATE TABLE soundtrack_takes (
    script_id  text PRIMARY KEY REFERENCES scripts (id) ON DELETE CASCADE,
    take       integer NOT NULL CHECK (take > 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);
