-- `deployctl db migrate APP`: the live release's `release:` command, run as a job.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (
    kind IN ('deploy', 'rollback', 'config', 'scale', 'restart', 'stop', 'start', 'migrate'));
