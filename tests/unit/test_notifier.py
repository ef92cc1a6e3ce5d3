"""systemd's notify socket is the daemon's alone: claimed at start, no child inherits it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CLAIM = """
import json, subprocess
from deployd.lifecycle import Notifier
notifier = Notifier.claim()
child = subprocess.run(["env"], capture_output=True, text=True).stdout
print(json.dumps({"address": notifier.address, "interval": notifier.watchdog_interval,
                  "child": [line.split("=")[0] for line in child.splitlines()]}))
"""


def test_the_notify_socket_and_watchdog_are_claimed_and_never_inherited() -> None:
    env = {**os.environ, "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"}
    out = subprocess.run(
        [sys.executable, "-c", CLAIM], env=env, capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["address"] == "/run/systemd/notify" and seen["interval"] == 15.0
    assert "NOTIFY_SOCKET" not in seen["child"] and "WATCHDOG_USEC" not in seen["child"]


def test_a_watchdog_meant_for_another_process_is_not_ours() -> None:
    env = {**os.environ, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CLAIM], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out)["interval"] is None
