"""How a release runs. `process` is the daemon supervising child processes itself."""
