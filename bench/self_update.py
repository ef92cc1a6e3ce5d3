"""How long a self-update takes on an installed server, and how many requests two apps drop
meanwhile: install.sh on the systemd test host, two apps (process and systemd runtimes)
asked all the time through nginx, then `deployctl self-update` to a newer version (a new
virtualenv, a verified dump, one migration), to one that does not start (put back by
itself), and `--rollback`.

Prints each one's time and the requests answered and failed (the target: 0 failed).
Run as root with a Docker Engine: `uv run python bench/self_update.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deployd import __version__
from tests.support.installed_host import unavailable
from tests.support.updating import (
    BROKEN,
    GOOD,
    self_update,
    stop_loop,
    updatable_server,
)


def main() -> None:
    why = unavailable()
    if why is not None:
        sys.exit(f"cannot measure: {why}")
    with updatable_server() as server:
        steps = [
            (
                f"self-update {__version__} → {GOOD} (install, dump, migrate, switch)",
                ["--to", GOOD],
                0,
            ),
            (f"self-update to {BROKEN}, which does not start, and back", ["--to", BROKEN], 1),
            (f"self-update --rollback {GOOD} → {__version__}", ["--rollback"], 0),
        ]
        for what, args, expected in steps:
            done, seconds = self_update(server, *args)
            assert done.returncode == expected, done.stdout + done.stderr
            print(f"{what:<62} {seconds:6.1f} s")
        counted = stop_loop(server)
        print(f"{'requests to two apps meanwhile: answered':<62} {counted.ok:6d}")
        print(f"{'requests failed (target 0)':<62} {counted.failed:6d}")


if __name__ == "__main__":
    main()
