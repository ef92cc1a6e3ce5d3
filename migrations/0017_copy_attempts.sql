-- Copies off the host that failed are tried again with a growing delay, and copies of
-- pruned backups whose deletion failed are deleted again: count the tries.
ALTER TABLE backup_copies ADD COLUMN attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1);
