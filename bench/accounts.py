"""What privilege separation costs: an account per app, sources as checked tar streams.

Run as root (`deployd dev` then gives every app its own account). For RUNS apps of the
example: `apps create` (which now makes the app's Unix account), a first deploy from a
git repository (`file://`, read as the caller) split into its fetch and build steps as the
daemon's events time them, a deploy of a new commit, and `apps delete` (which now stops
everything of the account and removes it). The same script runs against an older checkout
(`python bench/accounts.py` there) for the figures before.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _daemon import ctl, dev_daemon, git, steps

RUNS = 7
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"


def timed(socket: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = ctl(socket, *args)
    return (time.perf_counter() - started) * 1000, out


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-acc-", dir="/tmp"))
    work.chmod(0o755)
    figures: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    try:
        with dev_daemon(["--no-example"]) as (socket, _):
            for i in range(RUNS):
                bare, tree = work / f"a{i}.git", work / f"a{i}"
                git(work, "init", "-q", "--bare", "--initial-branch=main", str(bare))
                shutil.copytree(EXAMPLE, tree)
                git(tree, "init", "-q", "--initial-branch=main")
                for n in range(2):
                    (tree / "VERSION").write_text(f"{n}\n")
                    git(tree, "add", "-A")
                    git(tree, "commit", "-qm", str(n))
                    git(tree, "push", "-q", str(bare), "HEAD:main")
                    if n == 0:
                        ms, _ = timed(socket, "apps", "create", f"a{i}", "--git", f"file://{bare}")
                        record("apps create", ms)
                    ms, out = timed(socket, "deploy", f"a{i}", "--json")
                    label = "first deploy" if n == 0 else "deploy, new commit"
                    record(label, ms)
                    for step, value in steps(socket, f"a{i}", json.loads(out)["id"]).items():
                        if step in ("fetch", "build"):
                            record(f"  {label}: {step}", value * 1000)
            for i in range(RUNS):
                ms, _ = timed(socket, "apps", "delete", f"a{i}", "--yes")
                record("apps delete", ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"median of {RUNS}, wall time of each deployctl command (ms)")
    for name, values in figures.items():
        print(f"{name:<32} {statistics.median(values):7.0f}")


if __name__ == "__main__":
    main()
