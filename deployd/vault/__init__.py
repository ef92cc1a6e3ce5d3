"""Secrets at rest: the key file, encryption, and the env files slots start with."""
