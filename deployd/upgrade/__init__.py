"""deployd's own installation: its versioned virtualenvs, where new versions come from, the
record of an update, and the helper that restarts the daemon and checks the new one."""
