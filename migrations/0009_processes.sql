-- The process model: a release runs every process type of its Procfile, with a count per
-- type; a slot is the set of processes of one release.

-- How many processes of each type an app runs (`deployctl scale`); a type with no row runs
-- app.json's count, else 1 for web and 0 for the others.
CREATE TABLE formation (
    app   text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    type  text NOT NULL CHECK (type ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$'),
    count integer NOT NULL CHECK (count BETWEEN 0 AND 64),
    PRIMARY KEY (app, type)
);

-- Each slot's web ports, one per web process (web.1 has the slot's own port).
CREATE TABLE web_ports (
    app   text NOT NULL,
    slot  text NOT NULL,
    index integer NOT NULL CHECK (index BETWEEN 1 AND 64),
    port  integer NOT NULL UNIQUE CHECK (port BETWEEN 1024 AND 65535),
    PRIMARY KEY (app, slot, index),
    FOREIGN KEY (app, slot) REFERENCES slots (app, name) ON DELETE CASCADE
);
INSERT INTO web_ports (app, slot, index, port) SELECT app, name, 1, port FROM slots;

-- Every process a slot runs: its launcher (pid and kernel start time) and its own record of
-- crashes and restarts. A live slot's process that dies is restarted alone.
CREATE TABLE processes (
    app             text NOT NULL,
    slot            text NOT NULL,
    type            text NOT NULL,
    index           integer NOT NULL CHECK (index BETWEEN 1 AND 64),
    release_id      bigint,
    port            integer,
    pid             integer,
    pid_started_at  double precision,
    started_at      timestamptz NOT NULL DEFAULT now(),
    restarts        integer NOT NULL DEFAULT 0,
    next_restart_at timestamptz,
    last_exit       text,
    health_failures integer NOT NULL DEFAULT 0,
    PRIMARY KEY (app, slot, type, index),
    FOREIGN KEY (app, slot) REFERENCES slots (app, name) ON DELETE CASCADE
);
INSERT INTO processes (app, slot, type, index, release_id, port, pid, pid_started_at)
    SELECT app, name, 'web', 1, release_id, port, pid, pid_started_at FROM slots
    WHERE pid IS NOT NULL;

ALTER TABLE crashes ADD COLUMN process text;

-- Jobs that run an app's processes without a new release.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (
    kind IN ('deploy', 'rollback', 'config', 'scale', 'restart', 'stop', 'start'));

-- `deployctl stop`: nothing runs and nothing is brought back until `deployctl start`.
ALTER TABLE apps ADD COLUMN stopped boolean NOT NULL DEFAULT false;
