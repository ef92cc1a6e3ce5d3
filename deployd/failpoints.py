"""Named points where a test can make the daemon die as if killed with SIGKILL.

Set `DEPLOYD_FAILPOINT=<name>`: when the daemon reaches that point it kills itself with
SIGKILL, so the fault tests can stop it at an exact step of a deploy and check that the
next daemon puts everything right. Unset (always, in production) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

NAMES = ("after-start", "after-switch", "after-verify", "before-reload")


def hit(name: str) -> None:
    if os.environ.get("DEPLOYD_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
