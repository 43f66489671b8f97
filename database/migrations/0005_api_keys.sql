-- Integrators' API keys: only a SHA-256 of each key is kept (keys are 256-bit random, so a
-- fast hash is enough and the key can never be read back); `prefix` names it in listings.
CREATE TABLE api_keys (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    user_id          text,
    rate_per_minute  integer NOT NULL CHECK (rate_per_minute > 0),
    prefix           text NOT NULL,
    key_sha256       bytea NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz,
    revoked_at       timestamptz
);
