-- Base tables: people, their credentials, the audit log and the event log.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[a-z_][a-z0-9_-]{0,31}$'),
    role          text NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
    password_hash text,
    unix_user     text UNIQUE,
    builtin       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Sessions (from a password login) and API tokens share one table: both are bearer
-- secrets with an expiry; only their SHA-256 is stored.
CREATE TABLE tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('session', 'api')),
    label        text NOT NULL,
    digest       bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);

-- Ids are gapless (taken from audit_head under its row lock), so a gap is a deletion.
CREATE TABLE audit_log (
    id        bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    peer_uid  integer,
    method    text NOT NULL,
    target    text,
    outcome   text NOT NULL,
    detail    text,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id   bigint NOT NULL,
    last_hash bytea NOT NULL
);
INSERT INTO audit_head (last_id, last_hash) VALUES (0, decode(repeat('00', 32), 'hex'));

CREATE TABLE events (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    kind    text NOT NULL,
    app     text,
    actor   text,
    message text NOT NULL,
    data    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_app ON events (app, id);
