"""The Logs tab's rules without a browser: a line as shown (escaped, cut), and a stream
that resumes from its cursor showing nothing twice and losing nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from deployd.web.loglines import LINE_CHARS, Cursor, Resume, digest, safe, shown

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


def test_the_cursor_names_the_last_line_and_how_many_copies_of_it_came() -> None:
    before = Cursor.now()
    assert Cursor.after([], before) is before and before.text().endswith("~0")
    lines = [line(A, "1"), line(B, "2"), line(B, "2"), "no stamp"]
    cursor = Cursor.after(lines, before)
    assert cursor == Cursor(B, 2, digest(line(B, "2")))
    assert cursor.text() == f"{B}~2~{digest(line(B, '2'))}"
    assert Cursor.parse(cursor.text()) == cursor and Cursor.parse(before.text()) == before
    for bad in (
        None,
        "",
        "12",
        f"{B}~",
        f"{B}~-1",
        f"{B}~1",  # a line's cursor without its digest
        f"{B}~0~{digest('x')}",
        f"{B}~1~{digest('x')}\nevent: x",
        f"2026-13-40T99:99:99.000Z~1~{digest('x')}",
    ):
        assert Cursor.parse(bad) is None, bad
    now = datetime(2026, 11, 30, 5, 40, 10, 500_000, tzinfo=UTC)
    assert cursor.since(now) == "13s"  # 10.3 s ago, rounded up, and 2 s more


def test_a_resumed_stream_skips_what_was_seen_and_keeps_what_came_after() -> None:
    # processes write the one log side by side: stamps a few ms out of order
    replay = [line(A, "1"), line(C, "2"), line(B, "3"), line(A, "4"), line(C, "5")]
    resume = Resume(Cursor.after(replay[:3], Cursor.now()))  # the browser had 1, 2 and 3
    assert [x for x in replay if resume.fresh(x)] == [line(A, "4"), line(C, "5")]
    twice = [line(B, "same"), line(B, "same"), line(B, "same")]
    again = Resume(Cursor.after(twice[:2], Cursor.now()))  # the same line twice in a ms
    assert [x for x in twice if again.fresh(x)] == [line(B, "same")]
    moment = Resume(Cursor(B))  # the page had no line: those stamped from then on are new
    assert [x for x in replay if moment.fresh(x)] == replay[1:]
    gone = Resume(Cursor(A, 1, digest("rotated away")))  # a second later: skipping ends
    later = [line(A, "x"), line(B, "y"), "2026-11-30T05:40:01.101Z web.1[v2]: z"]
    assert [x for x in later if gone.fresh(x)] == later[2:]
    assert all(Resume(None).fresh(x) for x in replay)
