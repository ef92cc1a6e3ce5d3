"""How long deploys, switches and rollbacks take for the example app (`deployd dev`).

Prints medians over RUNS of each: a new commit (build of a Procfile app: a copy), the same
commit again (build cache hit), and a rollback, split into the pipeline's steps as the
daemon's own events time them. "switch" is health passed → nginx serving the new release.
Targets (issue 3): switch < 100 ms, rollback < 2 s, platform overhead < 1 s.
"""

from __future__ import annotations

import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _daemon import BIN, dev_daemon

RUNS = 7
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@x",
            "PATH": "/usr/bin:/bin",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@x",
            "HOME": "/tmp",
        },
    )


def ctl(socket: Path, *args: str) -> str:
    out = subprocess.run(
        [str(BIN / "deployctl"), "--socket", str(socket), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def steps(socket: Path, job: int) -> dict[str, float]:
    """Seconds spent in each step, from the job's stored events."""
    events = json.loads(
        ctl(socket, "events", "--json", "--limit", "200", "--kind", "deploy", "--app", "bench")
    )["events"]
    mine = [e for e in events if e["data"].get("job") == job and e["kind"] != "deploy.output"]
    marks = [(e["data"].get("step") or e["kind"], datetime.fromisoformat(e["at"])) for e in mine]
    durations: dict[str, float] = {}
    for (name, at), (_, following) in itertools.pairwise(marks):
        durations[name] = durations.get(name, 0.0) + (following - at).total_seconds()
    return durations


def deploy(socket: Path, *args: str) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    job = json.loads(ctl(socket, *args, "--json"))
    wall = time.perf_counter() - started
    return wall, steps(socket, job["id"])


def report(label: str, runs: list[tuple[float, dict[str, float]]]) -> None:
    wall = statistics.median(r[0] for r in runs)
    names = sorted(
        {k for _, s in runs for k in s},
        key=lambda k: list(runs[0][1]).index(k) if k in runs[0][1] else 99,
    )
    parts = ", ".join(
        f"{n} {statistics.median(s.get(n, 0.0) for _, s in runs) * 1000:.0f}" for n in names
    )
    print(f"{label:<22} {wall * 1000:7.0f} ms   (ms per step: {parts})")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-repo-", dir="/tmp"))
    work.chmod(0o755)
    try:
        bare, tree = work / "bench.git", work / "tree"
        git(work, "init", "-q", "--bare", "--initial-branch=main", str(bare))
        shutil.copytree(EXAMPLE, tree)
        git(tree, "init", "-q", "--initial-branch=main")
        git(tree, "add", "-A")
        git(tree, "commit", "-qm", "0")
        git(tree, "push", "-q", str(bare), "HEAD:main")
        with dev_daemon(["--no-example"]) as (socket, _):
            ctl(socket, "apps", "create", "bench", "--git", f"file://{bare}")
            ctl(socket, "deploy", "bench")
            fresh, cached, rollbacks = [], [], []
            for i in range(RUNS):
                (tree / "VERSION").write_text(f"{i}\n")
                git(tree, "commit", "-qam", str(i)) if i else git(tree, "add", "-A")
                if i == 0:
                    git(tree, "commit", "-qm", "v")
                git(tree, "push", "-q", str(bare), "HEAD:main")
                fresh.append(deploy(socket, "deploy", "bench"))
                cached.append(deploy(socket, "deploy", "bench"))
                rollbacks.append(deploy(socket, "rollback", "bench"))
        print(f"example app, median of {RUNS}; wall time is `deployctl` start to 'live'")
        report("deploy, new commit", fresh)
        report("deploy, same commit", cached)
        report("rollback", rollbacks)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
