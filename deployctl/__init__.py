"""deployctl: the command-line client of deployd. Speaks only `deployd.protocol`."""
