-- Runtimes: an app's setting may be `auto`; each release records the runtime it was built
-- for, and each slot the runtime of what it runs (an app that changes runtime keeps its
-- old slot on the old one until the switch).

ALTER TABLE apps DROP CONSTRAINT apps_runtime_check;
ALTER TABLE apps ADD CONSTRAINT apps_runtime_check
    CHECK (runtime IN ('auto', 'process', 'docker', 'systemd'));
ALTER TABLE apps ALTER COLUMN runtime SET DEFAULT 'auto';

ALTER TABLE releases ADD COLUMN runtime text NOT NULL DEFAULT 'process'
    CHECK (runtime IN ('process', 'docker', 'systemd'));
ALTER TABLE slots ADD COLUMN runtime text NOT NULL DEFAULT 'process'
    CHECK (runtime IN ('process', 'docker', 'systemd'));
