"""The web GUI's own rules, without a browser: sessions end, wrong passwords slow down,
forms prove where they came from, and what the pages and the stream are drawn from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployd.protocol.events import Event
from deployd.protocol.stats import Point
from deployd.web import views
from deployd.web.forms import LoginForms
from deployd.web.login import _next
from deployd.web.sessions import Sessions
from deployd.web.throttle import FIRST_WAIT, LONGEST_WAIT, Throttle, wait_after


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_with_its_token_or_after_an_idle_hour() -> None:
    clock = Clock()
    sessions = Sessions(idle=3600, clock=clock)
    short = sessions.open("ann", "t" * 43, 1, expires_at=clock.now + 7200)
    assert sessions.get(short.id) is short
    clock.now += 3599
    assert sessions.get(short.id) is short  # used: the idle hour starts again
    clock.now += 3599
    assert sessions.get(short.id) is short
    clock.now += 2
    assert sessions.get(short.id) is None  # the daemon's token has expired
    idle = sessions.open("bob", "u" * 43, 2, expires_at=clock.now + 86400)
    clock.now += 3600
    assert sessions.get(idle.id) is None and len(sessions) == 0
    assert sessions.get(None) is None and sessions.get("made-up") is None


def test_sessions_have_fresh_random_ids_and_form_tokens_and_are_bounded() -> None:
    clock = Clock()
    sessions = Sessions(most=2, clock=clock)
    first = sessions.open("ann", "t" * 43, 1, expires_at=clock.now + 60)
    clock.now += 1
    second = sessions.open("ann", "t" * 43, 1, expires_at=clock.now + 60)
    assert first.id != second.id and first.csrf != second.csrf and len(first.id) >= 40
    assert "t" * 43 not in repr(first) and first.csrf not in repr(first)
    clock.now += 1
    sessions.open("bob", "u" * 43, 2, expires_at=clock.now + 60)
    assert sessions.get(first.id) is None and sessions.get(second.id) is second  # LRU went
    assert sessions.close(second.id) is second and sessions.get(second.id) is None


def test_five_wrong_passwords_then_waits_that_double() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    keys = ["name:ann", "address:198.51.100.7"]
    for _ in range(4):
        throttle.failed(keys)
        assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == FIRST_WAIT
    assert throttle.wait(["name:ann"]) == FIRST_WAIT  # either key alone
    assert throttle.wait(["address:198.51.100.7", "name:bob"]) == FIRST_WAIT
    clock.now += FIRST_WAIT
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == 2 * FIRST_WAIT
    assert wait_after(40) == LONGEST_WAIT


def test_a_right_password_clears_the_name_not_the_address() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(5):
        throttle.failed(["name:ann", "address:a"])
    throttle.succeeded("name:ann")
    assert throttle.wait(["name:ann"]) == 0
    assert throttle.wait(["name:ann", "address:a"]) == FIRST_WAIT


def test_wrong_attempts_are_forgotten_and_the_count_is_bounded() -> None:
    clock = Clock()
    throttle = Throttle(most=3, clock=clock)
    for _ in range(5):
        throttle.failed(["name:ann"])
    clock.now += FIRST_WAIT + 900
    throttle.failed(["name:ann"])  # a fresh count: one wrong attempt
    assert throttle.wait(["name:ann"]) == 0
    for n in range(10):
        clock.now += 1
        throttle.failed([f"name:n{n}"])
    assert len(throttle._counts) <= 3


def test_a_login_form_token_holds_only_with_its_own_cookie() -> None:
    forms = LoginForms()
    nonce, token = forms.issue()
    assert forms.check(nonce, token)
    other_nonce, other_token = forms.issue()
    assert not forms.check(nonce, other_token) and not forms.check(other_nonce, token)
    assert not forms.check(None, token) and not forms.check(nonce, None)
    assert not forms.check("", forms.sign(""))
    assert not LoginForms().check(nonce, token)  # another process's key


def test_after_login_only_a_path_of_ours() -> None:
    assert _next("/apps/web") == "/apps/web"
    for elsewhere in ("//evil.example/x", "/\\evil.example", "https://evil.example", "", None):
        assert _next(elsewhere) == "/"


def test_the_sparkline_fills_the_quiet_minutes_and_peaks_at_the_top() -> None:
    until = datetime(2026, 11, 30, 12, 30, 40, tzinfo=UTC)
    points = [
        Point(at=until.replace(second=0) - timedelta(minutes=2), requests=5, errors=0, p95_ms=None),
        Point(at=until.replace(second=0), requests=10, errors=1, p95_ms=None),
        Point(at=until - timedelta(hours=2), requests=99, errors=0, p95_ms=None),  # too old
    ]
    values = views.per_minute(points, until)
    assert len(values) == 60 and values[-1] == 10 and values[-3] == 5 and sum(values) == 15
    xy = coordinates(views.spark(values))
    assert xy[0] == (0.0, 39.0) and xy[-1] == (240.0, 1.0) and xy[-3][1] == 20.0
    assert {y for _, y in coordinates(views.spark([0, 0]))} == {39.0}  # quiet: flat, low


def coordinates(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def test_a_stream_frame_is_one_line_of_json_and_only_stored_events_have_ids() -> None:
    event = Event(
        id=7, at=datetime(2026, 11, 30, tzinfo=UTC), kind="deploy.failed", app="web",
        message="line one\nline two <script>", data={},
    )  # fmt: skip
    frame = views.sse("feed", views.feed_item(event), event.id)
    assert frame.startswith("id: 7\nevent: feed\ndata: {") and frame.endswith("}\n\n")
    assert frame.count("\n") == 4 and '"bad":true' in frame
    assert not views.sse("host", {"cpu": "1 %"}).startswith("id:")


def test_an_error_page_leads_back_to_what_the_request_was_about() -> None:
    from deployd.web.views import back_link

    assert back_link("/apps/hello/env/import") == ("/apps/hello#config", "hello")
    assert back_link("/apps/hello/domains/verify") == ("/apps/hello#domains", "hello")
    assert back_link("/apps/hello/rollback") == ("/apps/hello", "hello")
    assert back_link("/databases/shop-db/restore") == ("/databases/shop-db", "shop-db")
    assert back_link("/apps/..%2f../x") == ("/", "the dashboard")
    assert back_link("/new/app") == ("/", "the dashboard")


def test_a_jobs_events_link_to_its_deploy_page_and_others_do_not() -> None:
    from datetime import UTC, datetime

    from deployd.protocol.events import Event
    from deployd.web.views import feed_item

    def item(kind: str, data: dict[str, object], app: str | None = "hello") -> str:
        event = Event(id=1, at=datetime.now(UTC), kind=kind, app=app, message="m", data=data)
        link: str = feed_item(event)["link"]
        return link

    assert item("deploy.started", {"job": 7}) == "/apps/hello/deploys/7"
    assert item("deploy.failed", {"job": 8, "release": 2}) == "/apps/hello/deploys/8"
    assert item("env.changed", {"job": 7}) == ""
    assert item("deploy.started", {"job": "7"}) == ""
    assert item("deploy.started", {"job": 7}, app=None) == ""


def test_the_style_sheet_closes_every_block_it_opens() -> None:
    """An unclosed `@media` block once hid every later rule from desktop browsers."""
    from pathlib import Path

    import deployd.web

    css = (Path(deployd.web.__file__).parent / "static" / "deployd.css").read_text()
    depth = 0
    for number, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"line {number} closes a block never opened"
        if line.startswith("@media"):
            assert depth == 1, f"line {number}: an @media inside another block"
    assert depth == 0, "a block is never closed"


def test_numbers_from_forms_and_headers_are_ascii_digits_only() -> None:
    from deployd.web.forms import number

    assert number("42") == 42 and number(" 7 ") == 7
    for hostile in ("²", "¹²", "①", "4²", "-1", "1e3", "", None, "0x10", "9" * 19):
        assert number(hostile) is None, hostile
