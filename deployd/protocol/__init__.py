"""The contract between deployd and its clients. Imports pydantic and nothing of the project."""

PROTOCOL_VERSION = 1
