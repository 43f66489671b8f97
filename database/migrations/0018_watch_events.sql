-- The landing-page player (issue 27). A cut is a compilation plus a variant combination key
-- ('main' until hook variants exist), reached by an unguessable public id; a script's split
-- link by another. The player's events are kept once per (cut, viewer, kind): a replayed or
-- flooded post cannot inflate a count, and the report counts rows.
CREATE TABLE cuts (
    id             bigserial PRIMARY KEY,
    public_id      text NOT NULL UNIQUE,
    compilation_id bigint NOT NULL REFERENCES compilations (id) ON DELETE CASCADE,
    variant        text NOT NULL DEFAULT 'main',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (compilation_id, variant)
);

CREATE TABLE split_links (
    script_id  text PRIMARY KEY REFERENCES scripts (id) ON DELETE CASCADE,
    public_id  text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE watch_events (
    cut_id     bigint NOT NULL REFERENCES cuts (id) ON DELETE CASCADE,
    viewer     text NOT NULL,
    kind       text NOT NULL
        CHECK (kind IN ('view', 'play', 'q25', 'q50', 'q75', 'q100', 'unmute', 'cta')),
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cut_id, viewer, kind)
);
-- The daily schedule asks which scripts had events since a time.
CREATE INDEX watch_events_at ON watch_events (at);
