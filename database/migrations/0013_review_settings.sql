-- A script may wait for a person's "Compile" instead of compiling when its last take is
-- approved (issue 23). One row per script that has a setting; a script without one compiles on
-- its last approval, as before. Its own table, not a `scripts` column: `scripts` rows are read
-- whole into one record type everywhere, and the script's document is what its writer wrote.
CREATE TABLE review_settings (
    script_id            text PRIMARY KEY REFERENCES scripts (id) ON DELETE CASCADE,
    compile_on_approval  boolean NOT NULL DEFAULT true,
    updated_by           text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
