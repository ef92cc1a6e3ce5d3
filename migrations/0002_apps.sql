-- Apps, their two slots, their releases and the job queue that deploys them.

CREATE TABLE apps (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,31}$'),
    source_kind text NOT NULL CHECK (source_kind IN ('git', 'path')),
    source      text NOT NULL,
    branch      text,
    runtime     text NOT NULL DEFAULT 'process' CHECK (runtime IN ('process', 'docker', 'systemd')),
    live_slot   text CHECK (live_slot IN ('blue', 'green')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slots (
    app            text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name IN ('blue', 'green')),
    port           integer NOT NULL UNIQUE CHECK (port BETWEEN 1024 AND 65535),
    state          text NOT NULL DEFAULT 'empty' CHECK (state IN (
        'empty', 'starting', 'healthy', 'live', 'draining', 'stopped', 'failed', 'crashed')),
    release_id     bigint,
    pid            integer,
    pid_started_at double precision,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app, name)
);

CREATE TABLE releases (
    id         bigserial PRIMARY KEY,
    app        text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    commit     text,
    ref        text,
    build_key  text,
    manifest   jsonb,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'building', 'built', 'live', 'superseded', 'failed')),
    error      text,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    live_at    timestamptz
);
CREATE INDEX releases_app ON releases (app, id);

CREATE TABLE jobs (
    id          bigserial PRIMARY KEY,
    app         text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    state       text NOT NULL DEFAULT 'queued' CHECK (state IN (
        'queued', 'running', 'succeeded', 'failed')),
    step        text,
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    release_id  bigint REFERENCES releases (id) ON DELETE SET NULL,
    error       text,
    actor       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
-- One job per app at a time, enforced by the database: a crash never leaves a lock file.
CREATE UNIQUE INDEX jobs_one_active_per_app ON jobs (app) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_queued ON jobs (id) WHERE state = 'queued';
