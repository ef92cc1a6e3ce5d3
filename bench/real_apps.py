"""Deploy times of apps written for Heroku (`deployd dev`, real PyPI and npm installs).

For each sample app of the end-to-end tests: the first deploy (cold: nothing in the app's
package cache), a new commit (deployd's build cache misses, the package managers' caches
are warm), and the same commit again (deployd's build cache hits). Wall time from
`deployctl deploy` to its end, one run each (installs from the network vary more than
several runs would average out).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import BIN, ctl, dev_daemon, git, steps  # noqa: E402

from tests.e2e.test_real_apps import FASTAPI_APP, FLASK_APP  # noqa: E402
from tests.support.repos import fixture_files, repository  # noqa: E402

INLINE = {
    "flask": {
        "app.py": FLASK_APP,
        "requirements.txt": "flask>=3,<4\ngunicorn>=22\n",
        "Procfile": "web: gunicorn app:app\n",
    },
    "fastapi": {
        "main.py": FASTAPI_APP,
        "requirements.txt": "fastapi>=0.110\nuvicorn>=0.29\n",
        "Procfile": "web: uvicorn main:app --host 127.0.0.1 --port $PORT\n",
    },
}
FIXTURES = ("uvapp", "pipenvapp", "djangoapp", "yarnapp")


def timed(socket: Path, *args: str) -> tuple[float, float]:
    """Seconds until the release is live (its "is live at" line) and until the command
    ends (the old release drained and stopped, postdeploy scripts run)."""
    started = time.perf_counter()
    live = None
    with subprocess.Popen(
        [str(BIN / "deployctl"), "--socket", str(socket), *args],
        stdout=subprocess.PIPE,
        text=True,
    ) as deploying:
        assert deploying.stdout is not None
        for line in deploying.stdout:
            if live is None and "is live at" in line:
                live = time.perf_counter() - started
    if deploying.returncode != 0:
        raise SystemExit(f"deployctl {' '.join(args)} failed")
    total = time.perf_counter() - started
    return (live if live is not None else total), total


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-real-"))
    work.chmod(0o755)
    apps = {**INLINE, **{name: fixture_files(name) for name in FIXTURES}}
    with dev_daemon(["--no-example"]) as (socket, _):
        print("seconds to live / to the command's end (waiting for the previous release's")
        print("drain, 2 s by default, in brackets)")
        print(f"{'app':<10} {'cold':>11} {'new commit':>17} {'same commit':>17}")
        for name, files in apps.items():
            url = repository(work, name, files)
            ctl(socket, "apps", "create", name, "--git", url)
            cold = timed(socket, "deploy", name)
            tree = work / name
            (tree / "BENCH").write_text("2\n")
            git(tree, "add", "-A")
            git(tree, "commit", "-qm", "again")
            git(tree, "push", "-q", str(work / f"{name}.git"), "HEAD:main")
            warm = timed(socket, "deploy", name)
            warm_drain = steps(socket, name, last_job(socket, name)).get("drain", 0.0)
            same = timed(socket, "deploy", name)
            same_drain = steps(socket, name, last_job(socket, name)).get("drain", 0.0)
            cells = [f"{live:4.1f} / {end:4.1f}" for live, end in (cold, warm, same)]
            cells[1] += f" [{warm_drain:3.1f}]"
            cells[2] += f" [{same_drain:3.1f}]"
            print(f"{name:<10} {cells[0]:>11} {cells[1]:>17} {cells[2]:>17}")


def last_job(socket: Path, app: str) -> int:
    events = json.loads(
        ctl(socket, "events", "--json", "--limit", "1", "--kind", "deploy.live", "--app", app)
    )["events"]
    return int(events[-1]["data"]["job"])


if __name__ == "__main__":
    main()
