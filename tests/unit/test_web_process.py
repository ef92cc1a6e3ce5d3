"""`deployd web` is a client: its process does not load the daemon's code."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import deployd.__main__, deployd.web.server
print(json.dumps(sorted(sys.modules)))
"""
DAEMON_SIDE = (
    "deployd.daemon",
    "deployd.services",
    "deployd.store",
    "deployd.engine",
    "deployd.rpc",
)


def test_the_web_command_loads_none_of_the_daemon() -> None:
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", PROBE], text=True)))
    assert not {m for m in loaded if m.startswith(DAEMON_SIDE)}
    assert not {"psycopg", "docker", "boto3", "bcrypt"} & loaded
