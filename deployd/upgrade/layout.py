"""The layout install.sh makes: one virtualenv per version under `<dir>/versions/`, and
`<dir>/current` naming the one the service runs. An update installs beside it and moves
the link; going back moves it again. Nothing is ever changed in place."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

INSTALLED = ".installed"
"""Written last into a complete virtualenv (by install.sh and by self-update)."""
VERSION_DIR = re.compile(r"^[0-9][0-9A-Za-z.+!-]{0,60}$")


@dataclass(frozen=True, slots=True)
class Installation:
    root: Path

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def current(self) -> Path:
        return self.root / "current"

    def venv(self, version: str) -> Path:
        if not VERSION_DIR.match(version):
            raise ValueError(f"not a version: {version!r}")
        return self.versions / version

    def running(self) -> str | None:
        """The version this very process runs from, when it is one of ours (not a
        checkout, not a `pip install` elsewhere)."""
        here = Path(sys.prefix).resolve()
        if here.parent == self.versions.resolve() and VERSION_DIR.match(here.name):
            return here.name
        return None

    def stable_python(self) -> Path:
        """The interpreter units outlive the daemon with: the `current` version's, when
        this process runs from one of ours (an update may remove the version that wrote a
        unit; systemd restarts the app with the launcher of whichever version is current,
        so the launcher's arguments stay compatible across versions). Else this one."""
        if self.running() is not None:
            return self.current / "bin" / "python3"
        return Path(sys.executable)

    def current_version(self) -> str | None:
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        name = Path(target).name
        return name if VERSION_DIR.match(name) else None

    def installed(self) -> list[str]:
        try:
            entries = sorted(os.scandir(self.versions), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        return [
            e.name
            for e in entries
            if VERSION_DIR.match(e.name)
            and e.is_dir(follow_symlinks=False)
            and (Path(e.path) / INSTALLED).exists()
        ]

    def switch(self, version: str) -> None:
        """Point `current` at `version` in one rename: the service starts one or the other."""
        target = self.venv(version)
        if not (target / INSTALLED).exists():
            raise FileNotFoundError(f"deployd {version} is not installed in {target}")
        temporary = self.root / f".current.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(Path("versions") / version, temporary)
        os.replace(temporary, self.current)
        directory = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def remove(self, version: str) -> None:
        """A version that is neither current nor running (a failed install, an old one)."""
        if version in (self.current_version(), self.running()):
            raise ValueError(f"deployd {version} is in use")
        shutil.rmtree(self.venv(version), ignore_errors=True)
