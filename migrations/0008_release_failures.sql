-- A release that did not go live says at which step (fetch, build, release, start,
-- health, switch) and why (`error`, with the last lines of output).
ALTER TABLE releases ADD COLUMN failed_step text
    CHECK (failed_step IS NULL OR failed_step ~ '^[a-z_]{1,32}$');
