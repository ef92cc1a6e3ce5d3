from __future__ import annotations

import os
from pathlib import Path

from deployd.engine.maintenance import rotate, rotate_all


def test_rotation_keeps_the_writer_appending(tmp_path: Path) -> None:
    log = tmp_path / "blue.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # like an app's stdout
    try:
        os.write(fd, b"x" * 2000 + b"\n")
        assert rotate(log, max_bytes=1000, keep=2)
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    assert log.read_bytes() == b"after\n"
    assert (tmp_path / "blue.log.1").stat().st_size == 2001
    assert not rotate(log, max_bytes=1000, keep=2)


def test_only_keep_files_are_kept_and_build_logs_are_left_alone(tmp_path: Path) -> None:
    app = tmp_path / "shop"
    app.mkdir()
    for n in range(4):
        (app / "blue.log").write_bytes(bytes([65 + n]) * 2000)
        (app / "build-1.log").write_bytes(b"b" * 5000)
        rotate_all(tmp_path, max_bytes=1000, keep=2)
    assert sorted(p.name for p in app.iterdir()) == [
        "blue.log",
        "blue.log.1",
        "blue.log.2",
        "build-1.log",
    ]
    assert (app / "blue.log.1").read_bytes()[:1] == b"D"
    assert (app / "blue.log.2").read_bytes()[:1] == b"C"
