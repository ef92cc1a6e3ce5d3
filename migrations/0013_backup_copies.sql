-- Copies of backups off this host, on S3-compatible storage, tracked apart from the local
-- file: a failed upload never makes the local backup failed, and is shown.

-- The storage's keys (kept encrypted with the vault's key) and the age key pair that
-- encrypts every copy before it leaves the host (the identity decrypts them: the operator
-- keeps a copy of it off this host).
CREATE TABLE remote_storage (
    id              integer PRIMARY KEY CHECK (id = 1),
    access_key_id   text NOT NULL,
    secret_token    text NOT NULL,
    identity_token  text NOT NULL,
    recipient       text NOT NULL CHECK (recipient ~ '^age1[0-9a-z]{58}$'),
    updated_by      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backup_copies (
    backup_id   bigint NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    location    text NOT NULL CHECK (location IN ('remote')),
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'copied', 'failed', 'deleted')),
    key         text,
    size_bytes  bigint,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (backup_id, location)
);
