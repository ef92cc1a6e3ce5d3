-- The scheduled time of the last backup a schedule started (not the clock's time when it
-- started): a run is due when a later scheduled time has passed, and a run missed while
-- the daemon was down happens once when it is back.
ALTER TABLE databases ADD COLUMN schedule_last_run timestamptz;
