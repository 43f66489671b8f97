-- Scripts are documents (issue 23): every save of a script is kept as a numbered version, who
-- saved it and when, with what the save changed (the sections it sent back to generation, the
-- ones it added or removed, its estimated cost). Version 1 is the script as first stored; the
-- newest version is the script's document.
CREATE TABLE script_versions (
    script_id  text NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version >= 1),
    document   jsonb NOT NULL,
    saved_by   text NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now(),
    changes    jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (script_id, version)
);

-- Scripts stored before: their document is version 1, saved by whoever the audit log says
-- created it (scripts from before the audit log: 'unknown').
INSERT INTO script_versions (script_id, version, document, saved_by, saved_at)
SELECT s.id, 1, s.document,
       COALESCE((SELECT a.actor FROM audit_log a
                 WHERE a.object = 'script:' || s.id AND a.action = 'script.created'
                 ORDER BY a.id LIMIT 1), 'unknown'),
       s.created_at
FROM scripts s;
