"""The Unix-socket JSON-RPC server: framing, peer credentials, dispatch to services."""
