"""The host's Unix facilities every adapter shares: accounts, and child processes that run
as one of them. Below the adapters, above nothing but the domain."""
