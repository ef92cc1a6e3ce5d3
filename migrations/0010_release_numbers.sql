-- Releases count per app (v1, v2, ...), as Heroku and Kamal users expect: `version` is the
-- number every command, log line, header and variable shows; `id` stays the daemon's own.
ALTER TABLE releases ADD COLUMN version integer;
UPDATE releases r SET version = n.version
  FROM (SELECT id, row_number() OVER (PARTITION BY app ORDER BY id) AS version FROM releases) n
 WHERE n.id = r.id;
ALTER TABLE releases ALTER COLUMN version SET NOT NULL;
ALTER TABLE releases ADD CONSTRAINT releases_app_version UNIQUE (app, version);
ALTER TABLE releases ADD CONSTRAINT releases_version_positive CHECK (version >= 1);
