-- Privilege separation: whose rights read an app's local source, app names that are DNS
-- labels, and an audit chain keyed with a secret kept outside the database.

-- The Unix user who chose an app's source (`--path`, `file://`): it is read as them.
-- NULL for apps made before: read as the daemon's own user.
ALTER TABLE apps ADD COLUMN source_uid integer;

-- An app's name is a DNS label (no trailing '-') and never an IDNA-reserved one ("xn--").
-- NOT VALID: names an older deployd accepted keep working.
ALTER TABLE apps ADD CONSTRAINT apps_name_is_a_label
    CHECK (name ~ '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$' AND substr(name, 3, 2) <> '--') NOT VALID;

-- Rows from this id on are chained with HMAC-SHA256 under the audit key (a file beside the
-- vault's key); rows before it (logs written by an older deployd) with plain SHA-256.
-- NULL until a daemon that keys the chain starts for the first time.
ALTER TABLE audit_head ADD COLUMN keyed_from bigint;
