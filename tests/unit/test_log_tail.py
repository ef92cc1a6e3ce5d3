"""`logs -f` sends the recent lines, then follows from just after them: a line written in
between is neither lost nor sent twice, and one half written is not cut in two."""

from __future__ import annotations

from pathlib import Path

from deployd.runtime.logs import tail, tail_to


def test_the_follower_starts_after_the_last_complete_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\nthree\nhalf of fo")
    recent, offset = tail_to(log, 2)
    assert recent == ["two", "three"]
    with log.open("ab") as fh:
        fh.write(b"ur\nfive\n")  # written while the recent lines were being sent
    assert log.read_bytes()[offset:].decode().splitlines() == ["half of four", "five"]
    assert tail(log, 10) == ["one", "two", "three", "half of four", "five"]


def test_no_file_and_an_empty_one_start_at_zero(tmp_path: Path) -> None:
    assert tail_to(tmp_path / "none.log", 5) == ([], 0)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert tail_to(empty, 5) == ([], 0)
    only = tmp_path / "lines.log"
    only.write_bytes(b"a\nb\n")
    assert tail_to(only, 0) == ([], 4)
