"""Pure rules: no I/O, no clock reads, no randomness. Everything here is decided from inputs."""
