"""What a hostile source costs the daemon: a 1.5 GiB file in a `--path` directory and a
small repository holding a 1 GiB file (issue 10 measured 1.6 GB and 2.2 GB of daemon RSS
for these before sources became checked streams). Prints how long the refusal took and the
daemon's peak RSS (VmHWM) before and after."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _daemon import GIT_ENV, dev_daemon

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def deployctl(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "deployctl"), "--socket", str(socket), *args],
        capture_output=True,
        text=True,
    )


def refusal(socket: Path, pid: int, name: str, *source: str) -> None:
    deployctl(socket, "apps", "create", name, *source)
    before = peak_rss_mb(pid)
    started = time.perf_counter()
    result = deployctl(socket, "deploy", name)
    took = (time.perf_counter() - started) * 1000
    reason = result.stderr.strip().splitlines()[-1] if result.stderr else "(no error)"
    print(
        f"{name:<10} refused in {took:6.0f} ms; daemon peak RSS {before:.0f} -> "
        f"{peak_rss_mb(pid):.0f} MB; {reason}"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-hostile-", dir="/tmp"))
    work.chmod(0o755)
    try:
        directory = work / "dir"
        shutil.copytree(EXAMPLE, directory)
        with (directory / "big.bin").open("wb") as fh:
            fh.truncate(1536 * 1024 * 1024)
        tree, bare = work / "tree", work / "bomb.git"
        shutil.copytree(EXAMPLE, tree)
        with (tree / "zeros.bin").open("wb") as fh:
            fh.truncate(1024 * 1024 * 1024)
        for args in (
            ["init", "-q", "--initial-branch=main"],
            ["add", "-A"],
            ["commit", "-qm", "x"],
        ):
            subprocess.run(["git", *args], cwd=tree, env=GIT_ENV, check=True)
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(tree), str(bare)], env=GIT_ENV, check=True
        )
        size = sum(p.stat().st_size for p in bare.rglob("*") if p.is_file())
        print(f"the repository holding a 1 GiB file is {size / 1024 / 1024:.1f} MiB")
        with dev_daemon(["--no-example"]) as (socket, process):
            pid = process.pid  # the daemon itself (its console script is Python)
            refusal(socket, pid, "bigfile", "--path", str(directory))
            refusal(socket, pid, "bomb", "--git", f"file://{bare}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
