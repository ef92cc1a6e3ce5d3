"""Deploy times of apps written for Heroku (`deployd dev`, real PyPI and npm installs).

For each sample app of the end-to-end tests: the first deploy (cold: nothing in the app's
package cache), a new commit (deployd's build cache misses, the package managers' caches
are warm), and the same commit again (deployd's build cache hits). Wall time from
`deployctl deploy` to its end, one run each (installs from the network vary more than
several runs would average out).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import ctl, dev_daemon, git  # noqa: E402

from tests.e2e.test_real_apps import FASTAPI_APP, FLASK_APP  # noqa: E402
from tests.support.repos import APPS, repository  # noqa: E402

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


def files_of(fixture: str) -> dict[str, str]:
    return {
        str(path.relative_to(APPS / fixture)): path.read_text()
        for path in sorted((APPS / fixture).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def timed(socket: Path, *args: str) -> float:
    started = time.perf_counter()
    ctl(socket, *args)
    return time.perf_counter() - started


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-real-"))
    work.chmod(0o755)
    apps = {**INLINE, **{name: files_of(name) for name in FIXTURES}}
    with dev_daemon(["--no-example"]) as (socket, _):
        print(f"{'app':<10} {'cold':>8} {'new commit':>11} {'same commit':>12}")
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
            same = timed(socket, "deploy", name)
            print(f"{name:<10} {cold:7.1f}s {warm:10.1f}s {same:11.1f}s")


if __name__ == "__main__":
    main()
