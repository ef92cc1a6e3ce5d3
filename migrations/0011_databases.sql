-- PostgreSQL databases for apps: each with its own role, linked to apps as a config
-- variable, backed up with proof (verified dumps) and restored without destroying first.

CREATE TABLE databases (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$'),
    password_token   text NOT NULL,  -- the role's password, encrypted with the vault's key
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- the backup schedule: NULL every = none
    schedule_every   text CHECK (schedule_every IN ('hourly', 'daily', 'weekly')),
    schedule_minute  integer NOT NULL DEFAULT 0 CHECK (schedule_minute BETWEEN 0 AND 59),
    schedule_hour    integer NOT NULL DEFAULT 3 CHECK (schedule_hour BETWEEN 0 AND 23),
    schedule_weekday integer NOT NULL DEFAULT 0 CHECK (schedule_weekday BETWEEN 0 AND 6),
    keep             integer NOT NULL DEFAULT 14 CHECK (keep BETWEEN 1 AND 1000),
    schedule_set_at  timestamptz,
    -- the last `deployctl db migrate`: its outcome and the end of its output
    migrated_at      timestamptz,
    migrate_app      text,
    migrate_status   integer,
    migrate_output   text
);

-- Which apps see the database, under which variable (DATABASE_URL unless told otherwise).
CREATE TABLE database_links (
    database   text NOT NULL REFERENCES databases (name) ON DELETE RESTRICT,
    app        text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    variable   text NOT NULL CHECK (variable ~ '^[A-Z_][A-Z0-9_]{0,254}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (database, app),
    UNIQUE (app, variable)
);

-- Every backup, from the moment it starts: `running` until it is verified or has failed.
-- A local file is named by its id; `tables` holds the row count of each table, counted in
-- the dump's own snapshot, which a restore must find again.
CREATE TABLE backups (
    id            bigserial PRIMARY KEY,
    database      text NOT NULL,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'verified', 'failed', 'deleted')),
    trigger       text NOT NULL CHECK (trigger IN ('manual', 'scheduled', 'before-drop',
                                                   'before-restore')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    size_bytes    bigint,
    sha256        text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    tables        jsonb,
    error         text,
    created_by    text
);
CREATE INDEX backups_by_database ON backups (database, id DESC);

-- Sizes and connections of each database, polled every few minutes (a series the analytics
-- can chart).
CREATE TABLE database_sizes (
    database    text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    size_bytes  bigint NOT NULL,
    connections integer NOT NULL,
    PRIMARY KEY (database, at)
);
