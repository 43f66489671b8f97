-- Scripts, their sections, generation jobs, takes, the approval log, compilations
-- and the webhook inbox (the local implementation of the inbox interface).

CREATE TABLE scripts (
    id            text PRIMARY KEY,
    title         text NOT NULL,
    budget_usd    numeric(12, 4),
    document      jsonb NOT NULL,
    source_path   text,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'generating', 'review', 'compiling', 'compiled', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sections (
    script_id     text NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    id            text NOT NULL,
    position      integer NOT NULL,
    narration     text NOT NULL,
    spec          jsonb NOT NULL,
    current_take  integer NOT NULL DEFAULT 1,
    overrides     jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (script_id, id)
);

-- One row per prediction we intend to create. The row is written before the
-- Replicate call, so a crash between the two is recovered without a duplicate.
CREATE TABLE jobs (
    id                 bigserial PRIMARY KEY,
    script_id          text NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    section_id         text NOT NULL DEFAULT '',
    stage              text NOT NULL CHECK (stage IN ('keyframe', 'clip', 'soundtrack')),
    take               integer NOT NULL,
    attempt            integer NOT NULL DEFAULT 1,
    model_id           text NOT NULL,
    prediction_id      text UNIQUE,
    status             text NOT NULL DEFAULT 'creating'
                       CHECK (status IN ('creating', 'starting', 'processing', 'succeeded',
                                         'failed', 'canceled', 'aborted', 'expired')),
    input              jsonb NOT NULL,
    output             jsonb,
    error              text,
    estimated_cost_usd numeric(12, 4) NOT NULL,
    actual_cost_usd    numeric(12, 4),
    predict_time_s     double precision,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    collected_at       timestamptz,
    UNIQUE (script_id, section_id, stage, take, attempt)
);
CREATE INDEX jobs_script_stage ON jobs (script_id, stage);

CREATE TABLE takes (
    id             bigserial PRIMARY KEY,
    script_id      text NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    section_id     text NOT NULL DEFAULT '',
    stage          text NOT NULL CHECK (stage IN ('keyframe', 'clip', 'soundtrack')),
    take           integer NOT NULL,
    job_id         bigint REFERENCES jobs (id),
    media_key      text NOT NULL,
    thumbnail_key  text,
    probe          jsonb NOT NULL,
    duration_s     double precision,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (script_id, section_id, stage, take)
);

-- Append-only: a decision is never updated or deleted, only superseded.
CREATE TABLE approvals (
    id          bigserial PRIMARY KEY,
    script_id   text NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    section_id  text NOT NULL,
    take        integer NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('approved', 'rejected')),
    note        text,
    prompt      text,
    seed        bigint,
    reviewer    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approvals_script ON approvals (script_id, section_id, id);

CREATE TABLE compilations (
    id            bigserial PRIMARY KEY,
    script_id     text NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    output_key    text,
    output_uri    text,
    duration_s    double precision,
    size_bytes    bigint,
    clip_count    integer,
    cost_usd      numeric(12, 4),
    plan          jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

-- The local webhook inbox. `seq` is the sensor's high-water cursor; inserts take
-- an advisory lock so that sequence order equals commit order (no row is skipped).
CREATE TABLE webhook_inbox (
    seq            bigserial PRIMARY KEY,
    webhook_id     text NOT NULL UNIQUE,
    prediction_id  text,
    status         text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    body           text NOT NULL
);
