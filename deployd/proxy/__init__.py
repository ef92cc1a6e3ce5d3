"""The front door: nginx sites per app (and, later, certificates)."""
