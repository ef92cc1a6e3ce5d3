-- One GitHub account for the server (its tokens encrypted with the vault's key), the apps
-- that follow a repository, and every webhook delivery received, with its verdict.
CREATE TABLE github_account (
    id             integer PRIMARY KEY CHECK (id = 1),
    login          text NOT NULL,
    token          text NOT NULL,
    refresh_token  text,
    expires_at     timestamptz,
    refresh_expires_at timestamptz,
    scope          text NOT NULL DEFAULT '',
    logged_in_by   text,
    logged_in_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE github_connections (
    app           text PRIMARY KEY REFERENCES apps (name) ON DELETE CASCADE,
    repo          text NOT NULL,
    branch        text NOT NULL,
    hook_id       bigint,
    secret        text NOT NULL,
    previews      boolean NOT NULL DEFAULT false,
    forks         boolean NOT NULL DEFAULT false,
    connected_by  text,
    connected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_connections_repo ON github_connections (repo);

CREATE TABLE github_deliveries (
    id           bigserial PRIMARY KEY,
    delivery_id  text NOT NULL UNIQUE,
    app          text,
    event        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    verdict      text NOT NULL CHECK (verdict IN ('deployed', 'ignored', 'rejected')),
    reason       text NOT NULL,
    job_id       bigint,
    size_bytes   integer NOT NULL
);
CREATE INDEX github_deliveries_app ON github_deliveries (app, received_at DESC);
