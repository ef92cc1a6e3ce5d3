-- The vault: every version of an app's config, encrypted with a key kept outside the
-- database, and a canary that tells a wrong key file from a right one at start.

CREATE TABLE vault_canary (
    id         integer PRIMARY KEY CHECK (id = 1),
    token      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE env_versions (
    app         text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    token       text NOT NULL,  -- the encrypted JSON object {name: value}; never plaintext
    set_names   text[] NOT NULL DEFAULT '{}',
    unset_names text[] NOT NULL DEFAULT '{}',
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app, version)
);

-- The config new releases get; a rollback moves it back to the rolled-back release's.
ALTER TABLE apps ADD COLUMN env_version integer;
ALTER TABLE apps ADD CONSTRAINT apps_env_version_fk FOREIGN KEY (name, env_version)
    REFERENCES env_versions (app, version) DEFERRABLE INITIALLY DEFERRED;

-- The config each release ran with (NULL: none was set).
ALTER TABLE releases ADD COLUMN env_version integer;

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('deploy', 'rollback', 'config'));
