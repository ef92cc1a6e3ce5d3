-- Self-healing: what the crash watcher needs to remember about a live slot, and a release
-- that crash-looped.

ALTER TABLE slots
    ADD COLUMN restarts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_restart_at timestamptz,
    ADD COLUMN last_exit       text,
    ADD COLUMN health_failures integer NOT NULL DEFAULT 0;

ALTER TABLE releases DROP CONSTRAINT releases_status_check;
ALTER TABLE releases ADD CONSTRAINT releases_status_check CHECK (status IN (
    'pending', 'building', 'built', 'live', 'superseded', 'failed', 'crashlooping'));

-- Every crash of a live release, for the crash-loop rule ("M crashes within its first
-- minutes after going live").
CREATE TABLE crashes (
    id         bigserial PRIMARY KEY,
    app        text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    release_id bigint NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    slot       text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    reason     text NOT NULL
);
CREATE INDEX crashes_release ON crashes (release_id, at);
