"""Use cases, one module per area of the protocol. RPC handlers are one-line calls here."""
