-- Workspaces (a client, brand or team), the people who sign in, their roles, and the audit log.
-- Every script (with its sections, takes, decisions and compilations), every job (ad-hoc too)
-- and every API key belongs to exactly one workspace; what existed before goes to `default`.
CREATE TABLE workspaces (
    id                  bigserial PRIMARY KEY,
    slug                text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name                text NOT NULL,
    monthly_budget_usd  numeric(12, 4) CHECK (monthly_budget_usd >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
INSERT INTO workspaces (slug, name) VALUES ('default', 'Default');

-- A person is known by the verified email their identity provider gives (lower case); `subject`
-- is the provider's `sub`, recorded at the first sign-in.
CREATE TABLE people (
    id               bigserial PRIMARY KEY,
    email            text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    subject          text UNIQUE,
    name             text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at  timestamptz
);

CREATE TABLE memberships (
    workspace_id  bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    person_id     bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('viewer', 'writer', 'reviewer', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, person_id)
);
CREATE INDEX memberships_person ON memberships (person_id);

-- Existing rows take the default workspace; new ones must name theirs (no default is kept).
ALTER TABLE scripts ADD COLUMN workspace_id bigint REFERENCES workspaces (id);
UPDATE scripts SET workspace_id = (SELECT id FROM workspaces WHERE slug = 'default');
ALTER TABLE scripts ALTER COLUMN workspace_id SET NOT NULL;
CREATE INDEX scripts_workspace ON scripts (workspace_id, created_at);

ALTER TABLE jobs ADD COLUMN workspace_id bigint REFERENCES workspaces (id);
UPDATE jobs SET workspace_id = (SELECT id FROM workspaces WHERE slug = 'default');
ALTER TABLE jobs ALTER COLUMN workspace_id SET NOT NULL;
CREATE INDEX jobs_workspace_created ON jobs (workspace_id, created_at);

-- A key acts in one workspace with one role; keys made before were writers of `default`.
ALTER TABLE api_keys ADD COLUMN workspace_id bigint REFERENCES workspaces (id);
UPDATE api_keys SET workspace_id = (SELECT id FROM workspaces WHERE slug = 'default');
ALTER TABLE api_keys ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE api_keys ADD COLUMN role text NOT NULL DEFAULT 'writer'
    CHECK (role IN ('viewer', 'writer', 'reviewer', 'admin'));
ALTER TABLE api_keys ALTER COLUMN role DROP DEFAULT;

-- Every write, by whom: a person's email or a key's name (`actor`), what (`action`), on which
-- object (`object`, e.g. `script:spring-launch`), with a few details.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    workspace_id  bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    actor         text NOT NULL,
    action        text NOT NULL,
    object        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);
