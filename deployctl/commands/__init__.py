"""One module per protocol area, mirroring `deployd/protocol/<area>.py`."""
