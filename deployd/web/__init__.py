"""`deployd web`: the web side of deployd, a separate process that is only a client of the
daemon's socket, like the CLI and the TUI.

It holds no rights of its own: it never imports the services, the store or the engine
(import-linter holds it to `deployd.protocol` and deployctl's clients), so every check of
roles, every validation, masking and audit record stays in the daemon's one dispatcher.
It receives GitHub's webhooks (`hooks.py`) and serves the web GUI (issue 17): a person logs
in with their deployd user and password (`login.py`), and every page is drawn from calls
made on a connection that presented their daemon session token (`guard.py`), kept live by
the daemon's events over Server-Sent Events (`live.py`).
"""
