"""The Logs tab's rules without a browser: a line as shown (escaped, cut), and a stream
that resumes from its cursor showing nothing twice and losing nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from deployd.web.logs import LINE_CHARS, Cursor, Resume, safe, shown

A = "2026-11-30T05:40:00.100Z"
B = "2026-11-30T05:40:00.200Z"
C = "2026-11-30T05:40:01.000Z"


def line(stamp: str, text: str, source: str = "web.1[v2]") -> str:
    return f"{stamp} {source}: {text}"


def test_a_line_is_split_escaped_and_cut() -> None:
    drawn = shown(line(A, "GET / 200"))
    assert drawn["source"] == "web.1[v2]" and drawn["text"] == "GET / 200"
    assert drawn["at"] == "2026-11-30T05:40:00.100000+00:00" and drawn["cut"] == 0
    assert not drawn["marker"] and shown(line(A, "v2 starts", "deployd[v2]"))["marker"]
    hostile = shown(line(A, "\x1b]52;c;AAAA\x07 \u202egnp.exe <script>"))
    assert hostile["text"] == "\\u001b]52;c;AAAA\\u0007 \\u202egnp.exe <script>"
    long = shown(line(A, "x" * (LINE_CHARS + 50)))
    assert len(long["text"]) == LINE_CHARS and long["cut"] == 50
    huge = shown(line(A, "y" * 1_000_000))
    assert len(huge["text"]) == LINE_CHARS and huge["cut"] == 1_000_000 - LINE_CHARS
    odd = shown("not in the daemon's form\ttab kept")
    assert odd["source"] == "" and odd["at"] == "" and odd["text"].endswith("\ttab kept")
    assert safe("a\nb") == "a\\u000ab"


def test_the_cursor_is_the_last_stamp_and_how_many_lines_had_it() -> None:
    before = Cursor.now()
    assert Cursor.after([], before) is before
    lines = [line(A, "1"), line(B, "2"), line(B, "3"), "no stamp"]
    cursor = Cursor.after(lines, before)
    assert cursor.text() == f"{B}~2"
    assert Cursor.parse(cursor.text()) == cursor
    for bad in (
        None,
        "",
        "12",
        f"{B}~",
        f"{B}~-1",
        f"{B}~1\nevent: x",
        "2026-13-40T99:99:99.000Z~1",
    ):
        assert Cursor.parse(bad) is None
    assert cursor.advance(line(B, "4")) and cursor.text() == f"{B}~3"
    assert cursor.advance(line(C, "5")) and cursor.text() == f"{C}~1"
    assert not cursor.advance("no stamp") and cursor.text() == f"{C}~1"
    now = datetime(2026, 11, 30, 5, 40, 10, 500_000, tzinfo=UTC)
    assert cursor.since(now) == "12s"  # 9.5 s ago, rounded up, and 2 s more


def test_a_resumed_stream_skips_what_was_seen_and_keeps_what_came_after() -> None:
    replay = [line(A, "1"), line(B, "2"), line(B, "3"), line(B, "4"), line(C, "5"), line(A, "6")]
    resume = Resume(Cursor(B, 2))  # the browser had 1, 2 and 3
    assert [x for x in replay if resume.fresh(x)] == [line(B, "4"), line(C, "5"), line(A, "6")]
    again = Resume(Cursor(B, 2))  # the same text twice in a millisecond is two lines
    twice = [line(B, "same"), line(B, "same"), line(B, "same")]
    assert [x for x in twice if again.fresh(x)] == [line(B, "same")]
    assert all(Resume(None).fresh(x) for x in replay)
