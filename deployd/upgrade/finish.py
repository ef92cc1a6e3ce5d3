"""The update's last steps, in a process of its own (a transient systemd unit started by the
daemon, from the version that runs now): restart the service, wait for the new daemon to
answer as the new version with its database reachable, and if it does not within the
time allowed, point `current` back and restart the old one. It runs apart because the
daemon that started the update is the one being replaced."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployd.domain.upgrades import UpdateStep
from deployd.protocol import framing

from . import record
from .layout import Installation

POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Finisher:
    installation: Installation
    record_file: Path
    unit: str
    socket: Path
    timeout: float

    def run(self) -> UpdateStep:
        update = record.read(self.record_file)
        if update is None or update.step is not UpdateStep.SWITCHING:
            return update.step if update else UpdateStep.FAILED
        problem = self._restart_and_check(update.to_version)
        if problem is None:
            record.write(self.record_file, update.moved(UpdateStep.DONE, _now()))
            return UpdateStep.DONE
        self.installation.switch(update.from_version)
        again = self._restart_and_check(update.from_version)
        reason = f"deployd {update.to_version} {problem}; back on {update.from_version}"
        if again is not None:
            reason += f", which {again} too"
        record.write(self.record_file, update.moved(UpdateStep.ROLLED_BACK, _now(), reason))
        return UpdateStep.ROLLED_BACK

    def _restart_and_check(self, version: str) -> str | None:
        """None once the daemon answers as `version`; else what went wrong."""
        try:
            restart = subprocess.run(
                ["systemctl", "restart", self.unit],
                capture_output=True,
                text=True,
                timeout=self.timeout + 30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"did not start within {self.timeout + 30:.0f} s"
        if restart.returncode != 0:
            return f"did not start ({self._last_words()})"
        deadline = time.monotonic() + self.timeout
        seen = "did not answer"
        while time.monotonic() < deadline:
            answer = status(self.socket)
            if answer is not None:
                running = answer.get("version")
                facts = answer.get("database")
                database = facts.get("state") if isinstance(facts, dict) else None
                if running == version and database == "ok":
                    return None
                seen = f"answered as {running} with its database {database}"
            time.sleep(POLL_SECONDS)
        return f"{seen} within {self.timeout:.0f} s"

    def _last_words(self) -> str:
        """The last line the failed main process wrote: why it did not start. Its pid is
        systemd's; its output reaches the journal through a stream, which may lag."""
        shown = self._systemctl("show", "--property=ExecMainPID", "--value", self.unit).strip()
        if not shown.isdigit() or shown == "0":
            return "no process was started"
        for _ in range(10):
            said = self._journal(f"_PID={shown}")
            if said:
                return said[-1][:300]
            time.sleep(0.3)
        return "its journal says nothing"

    def _journal(self, match: str) -> list[str]:
        journal = subprocess.run(
            ["journalctl", match, "--lines=1", "--output=cat", "--no-pager"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return journal.stdout.strip().splitlines()

    def _systemctl(self, *args: str) -> str:
        return subprocess.run(
            ["systemctl", *args], capture_output=True, text=True, timeout=30, check=False
        ).stdout


def status(path: Path) -> dict[str, object] | None:
    """`system.status` over the socket (as root: an admin), or None if it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5.0)
            conn.connect(str(path))
            conn.sendall(framing.encode(framing.request("system.status", {}, 1)))
            reader = conn.makefile("rb")
            line = reader.readline(framing.MAX_LINE_BYTES)
    except OSError:
        return None
    try:
        reply = json.loads(line)
    except ValueError:
        return None
    result = reply.get("result") if isinstance(reply, dict) else None
    return result if isinstance(result, dict) else None


def _now() -> datetime:
    return datetime.now(UTC)
