"""The database pages' pure parts: the size chart drawn by the server, the rows, and the
typed-name confirmation destructive actions ask for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from deployd.protocol.databases import BackupInfo, SizeHistory, SizePoint
from deployd.web import db_views, views
from deployd.web.live import FAMILIES, subscription

T0 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def _history(*sizes: tuple[int, int]) -> SizeHistory:
    """(minutes after T0, bytes) samples."""
    return SizeHistory(
        since=T0 - timedelta(days=7),
        until=T0 + timedelta(days=1),
        points=[SizePoint(at=T0 + timedelta(minutes=m), bytes=b) for m, b in sizes],
    )


def _xy(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def test_a_chart_runs_left_to_right_by_time_with_the_largest_at_the_top() -> None:
    chart = db_views.size_chart(_history((0, 1024), (5, 2048), (60, 4096)), width=600, height=100)
    xy = _xy(chart.points)
    assert [x for x, _ in xy] == [0.0, 50.0, 600.0]  # placed by time, not by index
    assert xy[0][1] == 98.0 and xy[-1][1] == 2.0  # smallest at the bottom, largest on top
    assert chart.top == "4.0 KiB" and chart.bottom == "1.0 KiB"
    assert chart.caption.startswith("+3.0 KiB since ")
    assert chart.caption.endswith("(from 1.0 KiB to 4.0 KiB)")
    assert chart.area.startswith("0,100 ") and chart.area.endswith(" 600,100")
    assert chart.first and chart.last


def test_a_flat_size_is_a_level_line_and_a_shrink_is_said_with_its_sign() -> None:
    flat = db_views.size_chart(_history((0, 8192), (5, 8192)), width=10, height=20)
    assert {y for _, y in _xy(flat.points)} == {10.0}
    assert "±0 B since" in flat.caption
    shrunk = db_views.size_chart(_history((0, 3 * 2**20), (5, 2**20)))
    assert "-2.0 MiB since" in shrunk.caption


def test_fewer_than_two_samples_draw_nothing_and_say_why() -> None:
    for history in (None, _history(), _history((0, 1))):
        chart = db_views.size_chart(history)
        assert chart.points == "" and chart.area == ""
        assert "not measured yet" in chart.caption


def test_sizes_read_as_a_person_reads_them() -> None:
    assert views.size(None) == "?"
    assert views.size(0) == "0 B" and views.size(1023) == "1023 B"
    assert views.size(7_500_000) == "7.2 MiB"
    assert views.size(3 * 2**40) == "3.0 TiB"


def test_a_backup_row_says_where_it_is_kept_and_only_verified_ones_restore() -> None:
    backup = BackupInfo(
        id=4,
        database="shop",
        status="verified",
        trigger="manual",
        started_at=T0,
        finished_at=T0,
        size_bytes=2048,
        sha256="0" * 64,
        tables=2,
        rows=1234,
        error=None,
        location="local+remote",
        remote="copied",
    )
    row = db_views.backup_row(backup)
    assert (row["size"], row["contents"], row["where"], row["remote"]) == (
        "2.0 KiB",
        "2 tables, 1,234 rows",
        "local+remote",
        "copied",
    )
    assert row["restorable"] and row["error"] == ""
    failed = db_views.backup_row(
        backup.model_copy(update={"status": "failed", "error": "pg_dump: refused", "remote": None})
    )
    assert not failed["restorable"] and failed["error"] == "pg_dump: refused"
    assert failed["remote"] == "—"


def test_a_destructive_action_needs_the_name_typed_exactly() -> None:
    assert db_views.typed_name_matches(" shop ", "shop")
    for typed in ("", "Shop", "sho", "shop-db", "shop shop"):
        assert not db_views.typed_name_matches(typed, "shop")


def test_a_schedule_is_the_words_typed_and_nothing_is_off() -> None:
    assert db_views.schedule_words(" weekly  sun 04:30 ") == ["weekly", "sun", "04:30"]
    assert db_views.schedule_words("") == ["off"]


def test_a_database_page_streams_the_db_family_and_nothing_else_narrows_that_way() -> None:
    def asked(query: str) -> tuple[list[str], str | None, int | None]:
        request = Request({"type": "http", "query_string": query.encode(), "headers": []})
        params = subscription(request)
        return list(params.kinds), params.app, params.after_id

    assert asked("family=db&after=7") == (["db"], None, 7)
    assert asked("family=host")[0] == FAMILIES  # host samples are asked for by the dashboard
    assert asked("family=nonsense")[0] == FAMILIES
    assert asked("app=hello&family=db") == ([], "hello", None)  # an app's page: its events
