"""An app's Logs and Analytics tabs against `deployd dev --web-port`: over HTTP (what the
pages show of requests made to the app through nginx, the filters, the log stream resuming
from its cursor) and in Chromium (a line the app logs after the page loaded appears, and
the live log carries on across a deploy started from the CLI: Dokploy#2607's "logs that
stop after a deploy"), with screenshots of both tabs at desktop and phone widths."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import fetch
from tests.e2e.test_web_browser import log_in as log_in_page
from tests.support.browser import DESKTOP, PHONE, person
from tests.support.waiting import wait_for
from tests.support.web import DevWeb, dev_web, frames, log_in
from tests.support.web import browser as http_client

STREAM_SECONDS = 4
"""Streams end this often here, so every browser test also crosses a reconnect or two."""


@pytest.fixture(scope="module")
def web() -> Iterator[DevWeb]:
    with dev_web("deployd-webtabs-", {"DEPLOYD_WEB_STREAM_SECONDS": str(STREAM_SECONDS)}) as dev:
        yield dev


def marker() -> str:
    return f"/tabs-{uuid.uuid4().hex[:10]}"


def logged(web: DevWeb, path: str) -> None:
    """A request the hello app writes a line about (a 404 for a path it does not have)."""
    status, _, _ = fetch(web.daemon, "hello", path)
    assert status == 404


@contextlib.contextmanager
def viewer(web: DevWeb, name: str, address: str) -> Iterator[httpx.Client]:
    """A viewer logged in: the least role there is reads logs and analytics."""
    password = web.add_user(name, "viewer")
    with http_client(web, address) as client:
        assert log_in(client, name, password).status_code == 303
        yield client


def test_the_logs_tab_shows_what_the_app_wrote_to_a_viewer_with_filters(web: DevWeb) -> None:
    path = marker()
    logged(web, path)
    with viewer(web, "reader", "198.51.100.31") as client:

        def shows_it() -> httpx.Response | None:
            answer = client.get("/apps/hello/logs")
            return answer if path in answer.text else None

        page = wait_for(shows_it, 30)
        assert page is not None
        assert re.search(
            rf'<span class="src">web\.1\[v\d+\]</span> <span class="txt">[^<]*GET {path} HTTP',
            page.text,
        )
        assert (
            'aria-current="page">Logs</a>' in page.text
            and 'href="/apps/hello/analytics"' in page.text
        )
        assert re.search(
            r'data-after="\d{4}-\d\d-\d\dT[0-9:.]{12}Z~\d+(~[0-9a-f]{12})?"', page.text
        )
        assert 'data-stream="/apps/hello/logs/events"' in page.text
        only_web = client.get("/apps/hello/logs", params={"process": "web", "since": "1h"})
        assert path in only_web.text and 'value="1h" selected' in only_web.text
        assert "process=web" in only_web.text  # the live stream keeps the filter
        worker = client.get("/apps/hello/logs", params={"process": "worker"})
        assert path not in worker.text and "No lines match these filters" in worker.text
        found = client.get("/apps/hello/logs", params={"q": path.upper()})  # any case
        lines = re.findall(r'<div class="ln[^"]*">.*?</div>', found.text)
        assert lines and all(path in line for line in lines)
        assert "among the newest 10,000" in found.text
        for bad, words in (
            ({"process": "web..1"}, "a process type (worker) or one process (worker.2)"),
            ({"since": "5 minutes"}, "a span such as 90s, 15m, 12h, 7d or 2w"),
            ({"lines": "0"}, "lines"),
            ({"lines": "many"}, "lines and build must be numbers"),
            ({"build": "99"}, "hello has no release v99"),
        ):
            refused = client.get("/apps/hello/logs", params=bad, headers={"Accept": "text/html"})
            assert refused.status_code in (400, 404), (bad, refused.text)
            assert words in refused.text and "Traceback" not in refused.text
        build = client.get("/apps/hello/logs", params={"build": "1"})
        assert build.status_code == 200 and "build of v1" in build.text
        assert "data-stream" not in build.text  # a finished build is not followed
        assert client.get("/apps/nobody/logs").status_code == 404


def test_the_log_stream_sends_new_lines_and_resumes_without_repeating_them(web: DevWeb) -> None:
    with viewer(web, "tailer", "198.51.100.32") as client:
        page = client.get("/apps/hello/logs", params={"process": "web"})
        after = re.search(r'data-after="([^"]+)"', page.text)[1]  # type: ignore[index]
        first = marker()
        logged(web, first)  # between the page and its stream
        seen = _read(client, {"after": after, "process": "web"}, until=first)
        assert seen[0] == {"retry": "2000"} and seen[1]["event"] == "live"
        shown = [
            line
            for f in seen
            if f.get("event") == "lines"
            for line in json.loads(f["data"])["lines"]
        ]
        assert [line["text"] for line in shown if first in line["text"]][:1]
        cursor = [f["id"] for f in seen if "id" in f][-1]
        second = marker()
        logged(web, second)  # while no stream is open
        resumed = _read(client, {"after": after, "process": "web"}, until=None, last=cursor)
        texts = [
            line["text"]
            for f in resumed
            if f.get("event") == "lines"
            for line in json.loads(f["data"])["lines"]
        ]
        assert not any(first in text for text in texts)  # seen already
        assert sum(second in text for text in texts) >= 1
        assert len(texts) == len(set(texts)), texts
        third, other = marker(), marker()
        logged(web, other)
        logged(web, third)
        searched = _read(client, {"after": cursor, "q": third.upper()}, until=third)
        found = [
            line["text"]
            for f in searched
            if f.get("event") == "lines"
            for line in json.loads(f["data"])["lines"]
        ]
        assert found and all(third in text for text in found)  # the search, live too
    with http_client(web, "198.51.100.33") as stranger:
        ended = _read(stranger, {}, until=None)
        assert [f["event"] for f in ended] == ["signed-out"]


def test_the_analytics_tab_shows_the_requests_made_through_nginx(web: DevWeb) -> None:
    path = marker()
    before = _requests(web)
    for _ in range(3):
        logged(web, path)
    fetch(web.daemon, "hello", "/")
    wait_for(lambda: _requests(web) >= before + 4, 60)
    with viewer(web, "counter", "198.51.100.34") as client:
        page = client.get("/apps/hello/analytics", params={"since": "1h"})
        assert page.status_code == 200
        requests = re.search(r'data-figure="requests">([\d,]+)<', page.text)[1]  # type: ignore[index]
        assert int(requests.replace(",", "")) >= before + 4
        assert re.search(
            r'<svg viewBox="0 0 600 220" role="img" aria-labelledby="requests-chart-title">',
            page.text,
        )
        assert re.search(
            r'<title id="requests-chart-title">Requests per minute: [\d,]+ in all', page.text
        )
        assert '<rect class="req"' in page.text and '<rect class="s4xx"' in page.text
        assert f'<code>{path}</code></td><td class="num" data-label="requests">3<' in page.text
        assert re.search(
            r'<code>404</code></td><td class="num" data-label="requests">\d+<', page.text
        )
        assert 'aria-current="page" title="last hour">1h<' in page.text
        assert client.get("/apps/hello/analytics").status_code == 200  # 24h, by hour
        for since in ("7d", "30d"):
            assert "<svg" in client.get("/apps/hello/analytics", params={"since": since}).text
        refused = client.get(
            "/apps/hello/analytics", params={"since": "2h"}, headers={"Accept": "text/html"}
        )
        assert (
            refused.status_code == 400 and "since must be one of 1h, 24h, 7d, 30d" in refused.text
        )
        assert "Traceback" not in refused.text and "<!doctype html>" in refused.text
        overview = client.get("/apps/hello")
        assert (
            'href="/apps/hello/logs"' in overview.text
            and 'aria-current="page">Overview<' in overview.text
        )


def test_a_line_logged_after_the_page_loaded_appears_without_reloading(
    browser: Browser, web: DevWeb
) -> None:
    password = web.add_user("watcher", "viewer")
    with person(browser, "203.0.113.31") as context:
        page = context.new_page()
        log_in_page(page, web, "watcher", password)
        page.goto(f"{web.url}/apps/hello/logs")
        expect(page.locator("#log-live")).to_have_text("live")
        page.evaluate("window.sameDocument = true")
        first = marker()
        logged(web, first)
        line = page.locator("#log .ln", has_text=first)
        expect(line.first).to_be_visible()
        expect(line.first.locator(".src")).to_have_text(re.compile(r"^web\.1\[v\d+\]$"))
        # past a reconnect of the stream (every few seconds here): nothing twice
        expect(page.locator("#log-live")).to_have_text(
            "disconnected — reconnecting", timeout=STREAM_SECONDS * 1000 + 5000
        )
        expect(page.locator("#log-live")).to_have_text("live")
        second = marker() + "/<b>bold</b>"  # the app's text is text
        logged(web, second)
        expect(page.locator("#log .ln", has_text=second).first).to_be_visible()
        expect(page.locator("#log b")).to_have_count(0)
        expect(line).to_have_count(1)  # once, though the stream came back since
        # paused: new lines wait, counted, until "Jump to latest"
        page.get_by_role("button", name="Following").click()
        expect(page.get_by_role("button", name="Paused")).to_be_visible()
        third = marker()
        logged(web, third)
        expect(
            page.get_by_role("button", name=re.compile(r"Jump to latest \(\d+ new\)"))
        ).to_be_visible()
        expect(page.locator("#log .ln", has_text=third)).to_have_count(0)
        page.get_by_role("button", name=re.compile("Jump to latest")).click()
        expect(page.locator("#log .ln", has_text=third).first).to_be_visible()
        expect(page.get_by_role("button", name="Following")).to_be_visible()
        assert page.evaluate("window.sameDocument") is True


def test_the_live_log_carries_on_across_a_deploy_from_the_cli(
    browser: Browser, web: DevWeb
) -> None:
    password = web.add_user("shipwatch", "viewer")
    live_before = web.daemon.call("apps.show", {"name": "hello"}).live_release  # type: ignore[attr-defined]
    with person(browser, "203.0.113.32") as context:
        page = context.new_page()
        opened: list[str] = []
        page.on(
            "request",
            lambda r: (
                opened.append(f"{r.url} {r.all_headers().get('last-event-id')}")
                if "/logs/events" in r.url
                else None
            ),
        )
        log_in_page(page, web, "shipwatch", password)
        page.goto(f"{web.url}/apps/hello/logs?process=web")
        expect(page.locator("#log-live")).to_have_text("live")
        page.evaluate("window.sameDocument = true")
        deployed = web.daemon.deployctl("deploy", "hello")
        assert deployed.returncode == 0, deployed.stderr
        now = web.daemon.call("apps.show", {"name": "hello"}).live_release  # type: ignore[attr-defined]
        assert now > live_before
        started = page.locator("#log .ln", has_text=f"release {now} listening")
        expect(started.first).to_be_visible(timeout=60_000)  # the new release's own line
        expect(page.locator("#log-live")).to_have_text(
            "disconnected — reconnecting", timeout=STREAM_SECONDS * 1000 + 5000
        )  # and once more across a reconnect
        expect(page.locator("#log-live")).to_have_text("live")
        after = marker()
        logged(web, after)
        line = page.locator("#log .ln", has_text=after).first
        expect(line).to_be_visible(timeout=30_000)
        expect(line.locator(".src")).to_have_text(f"web.1[v{now}]")
        assert page.evaluate("window.sameDocument") is True
        expect(page.locator("#log .ln", has_text=after)).to_have_count(1)
        shown = page.locator("#log .ln").evaluate_all(AS_LOGGED)
        raw = web.daemon.call("logs.read", {"app": "hello", "process": "web", "lines": 1000}).lines  # type: ignore[attr-defined]
        start = raw.index(shown[0])
        assert shown == raw[start : start + len(shown)]  # in order, none twice, none lost
        assert len(opened) >= 2  # and the stream came back at least once meanwhile


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_tabs(
    browser: Browser, web: DevWeb, shots: Path, size: str, viewport: dict[str, int]
) -> None:
    password = web.add_user(f"shooter-{size}", "viewer")
    logged(web, "/a-rather-long-path/" + "segment-" * 40)  # a long line to wrap
    with person(browser, f"203.0.113.{40 + len(size)}", viewport) as context:
        page = context.new_page()
        log_in_page(page, web, f"shooter-{size}", password)
        for name, path in (
            ("overview", "/apps/hello"),
            ("logs", "/apps/hello/logs"),
            ("analytics", "/apps/hello/analytics?since=1h"),
        ):
            page.goto(f"{web.url}{path}")
            if name == "logs":
                expect(page.locator("#log-live")).to_have_text("live")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} scrolls sideways at {size}: {width}"
            page.screenshot(path=shots / f"tab-{name}-{size}.png")
            page.screenshot(path=shots / f"tab-{name}-{size}-full.png", full_page=True)


AS_LOGGED = """rows => rows.map(r => new Date(r.querySelector('time').dateTime).toISOString()
    + ' ' + r.querySelector('.src').textContent + ': ' + r.querySelector('.txt').textContent)"""
"""Each line shown, as the daemon's log has it (the page shows the time to the second)."""


def _requests(web: DevWeb) -> int:
    result = web.daemon.call("stats.show", {"app": "hello", "since": "1h"})
    return sum(a.totals.requests for a in result.apps)  # type: ignore[attr-defined]


def _read(
    client: httpx.Client, query: dict[str, str], *, until: str | None, last: str | None = None
) -> list[dict[str, str]]:
    """The frames of one log stream, up to a line with `until`, or to its end."""
    headers = {"Last-Event-ID": last} if last else {}
    seen = []
    started = time.monotonic()
    with client.stream("GET", "/apps/hello/logs/events", params=query, headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for frame in frames(stream.iter_lines()):
            seen.append(frame)
            if until is not None and until in frame.get("data", ""):
                break
    assert time.monotonic() - started < STREAM_SECONDS + 20  # the web process ends it
    return seen
