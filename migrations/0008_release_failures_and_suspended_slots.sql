-- Releases that say where they failed; slots suspended by a clean stop of deployd dev.

-- A release that did not go live says at which step (fetch, build, release, start,
-- health, switch) and why (`error`, with the last lines of output).
ALTER TABLE releases ADD COLUMN failed_step text
    CHECK (failed_step IS NULL OR failed_step ~ '^[a-z_]{1,32}$');

-- A live slot whose process the daemon stopped on purpose (`deployd dev` stopping), to be
-- started again at the next start: no crash.
ALTER TABLE slots DROP CONSTRAINT slots_state_check;
ALTER TABLE slots ADD CONSTRAINT slots_state_check CHECK (state IN (
    'empty', 'starting', 'healthy', 'live', 'draining', 'stopped', 'failed', 'crashed',
    'suspended'));
