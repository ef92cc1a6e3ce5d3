"""How long deploys, switches and rollbacks take (`deployd dev`), on two runtimes.

For the example app (process runtime) and a small Dockerfile app (docker runtime, busybox
httpd; the Engine must run): medians over RUNS of a new commit, the same commit again
(deployd's build cache), and a rollback, split into the pipeline's steps as the daemon's
own events time them. For the docker app also a cold build (a new first layer: nothing of
the app's layers cached). "switch" is health passed → nginx serving the new release;
"start" + "health" is a container's start to healthy.
Targets (issue 3): switch < 100 ms, rollback < 2 s, platform overhead < 1 s.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _daemon import ctl, dev_daemon, git, steps

RUNS = 7
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"
DOCKHELLO = ROOT / "tests" / "support" / "apps" / "dockhello"


def deploy(socket: Path, app: str, *args: str) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    job = json.loads(ctl(socket, *args, "--json"))
    wall = time.perf_counter() - started
    return wall, steps(socket, app, job["id"])


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


def commit(tree: Path, bare: Path, message: str) -> None:
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", message)
    git(tree, "push", "-q", str(bare), "HEAD:main")


def measure(socket: Path, label: str, source: Path, work: Path, docker: bool) -> None:
    bare, tree = work / f"{label}.git", work / label
    git(work, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    shutil.copytree(source, tree)
    git(tree, "init", "-q", "--initial-branch=main")
    commit(tree, bare, "0")
    ctl(socket, "apps", "create", label, "--git", f"file://{bare}")
    ctl(socket, "deploy", label)
    fresh, cached, rollbacks, cold = [], [], [], []
    dockerfile = (tree / "Dockerfile").read_text() if docker else ""
    for i in range(RUNS):
        (tree / ("www/index.html" if docker else "VERSION")).write_text(f"{i}\n")
        commit(tree, bare, str(i))
        fresh.append(deploy(socket, label, "deploy", label))
        cached.append(deploy(socket, label, "deploy", label))
        rollbacks.append(deploy(socket, label, "rollback", label))
        if docker:  # a first layer never seen: every layer after it is built again
            lines = dockerfile.splitlines()
            (tree / "Dockerfile").write_text(
                "\n".join([lines[2], f"RUN echo {time.time()}", *lines[3:]]) + "\n"
            )
            commit(tree, bare, f"cold {i}")
            cold.append(deploy(socket, label, "deploy", label))
    print(f"{label} app, median of {RUNS}; wall time is `deployctl` start to 'live'")
    report("deploy, new commit", fresh)
    report("deploy, same commit", cached)
    report("rollback", rollbacks)
    if docker:
        report("deploy, cold build", cold)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-repo-", dir="/tmp"))
    work.chmod(0o755)
    try:
        with dev_daemon(["--no-example"], {"DEPLOYD_DOCKER_NETWORK": "host"}) as (socket, _):
            measure(socket, "process", EXAMPLE, work, docker=False)
            sys.path.insert(0, str(ROOT))
            from tests.support.docker import engine, ensure_base_image

            client = engine()
            if client is None:
                print("no Docker Engine running: skipped the docker app")
                return
            ensure_base_image(client)
            measure(socket, "docker", DOCKHELLO, work, docker=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
