"""deployd's own log lines (stderr; the journal under systemd), for every command.

Apart from the daemon's module so that a command that does not run the daemon (`deployd
web`) does not load the daemon's code to set up a log line.
"""

from __future__ import annotations

import logging
import sys


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # a line per change otherwise
