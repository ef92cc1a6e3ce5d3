"""How long install.sh takes on a fresh server, to the first deployed app, and on a second
run; the systemd test host (Debian 12 in a container with systemd as PID 1 and a network of
its own) stands in for the server.

Prints: install.sh on a fresh host (packages from Debian's mirror, deployd from PyPI),
`apps create` + `deploy` of the example app on the systemd runtime, their sum (the target:
under 3 minutes, beside Dokku's stated 5-10), and a second install.sh (nothing to do).
Run as root with a Docker Engine: `uv run python bench/install.py [RUNS]`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.installed_host import (  # the checkout's root, just added
    CHECKOUT,
    installed_host,
    unavailable,
)


def one_run() -> tuple[float, float, float]:
    with installed_host() as server:
        assert server.first_install is not None
        install = server.first_install.seconds
        started = time.monotonic()
        server.copy_app(CHECKOUT / "examples" / "hello", "/srv/hello")
        server.deployctl("apps", "create", "hello", "--path", "/srv/hello", "--runtime", "systemd")
        server.deployctl("deploy", "hello")
        reply = server.wait_for("hello.localhost")
        assert reply.status == 200, reply
        deploy = time.monotonic() - started
        again = server.install()
        assert "nothing to do" in again.output, again.output
        return install, deploy, again.seconds


def main() -> None:
    why = unavailable()
    if why is not None:
        sys.exit(f"cannot measure: {why}")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    results = [one_run() for _ in range(runs)]
    install, deploy, again = (statistics.median(column) for column in zip(*results, strict=True))
    print(f"runs                                  {runs}")
    print(f"install.sh, fresh host                {install:6.1f} s")
    print(f"apps create + deploy (systemd)        {deploy:6.1f} s")
    print(f"fresh host to first deployed app      {install + deploy:6.1f} s  (target < 180 s)")
    print(f"install.sh again (nothing to do)      {again:6.1f} s")


if __name__ == "__main__":
    main()
