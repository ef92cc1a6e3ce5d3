"""`deployctl tui`: the whole of deployd on one screen, kept current by the daemon's events."""
