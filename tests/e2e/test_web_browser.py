"""The web GUI in a real browser: Debian's Chromium driven by Playwright against
`deployd dev --web-port`. Logging in, the dashboard, a deploy started from the CLI
appearing without a reload, the stream coming back after the web process drops it, a
viewer's page and a forged POST, and screenshots of the main pages at desktop and phone
widths (kept under the directory the session prints, to be looked at)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.e2e.conftest import fetch
from tests.support.browser import DESKTOP, PHONE, needs_chromium, person
from tests.support.daemon import world_readable_tempdir
from tests.support.waiting import wait_for
from tests.support.web import DevWeb, dev_web

STREAM_SECONDS = 4

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def web() -> Iterator[DevWeb]:
    env = {"DEPLOYD_WEB_STREAM_SECONDS": str(STREAM_SECONDS), "DEPLOYD_HOST_SAMPLE_SECONDS": "1"}
    with dev_web("deployd-webui-", env) as dev:
        yield dev


def log_in(page: Page, web: DevWeb, name: str, password: str) -> None:
    page.goto(f"{web.url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("User").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_log_in_and_see_the_dashboard(browser: Browser, web: DevWeb) -> None:
    password = web.add_user("ada", "deployer")
    with person(browser, "203.0.113.1") as context:
        page = context.new_page()
        log_in(page, web, "ada", "wrong-password")
        expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
        page.get_by_label("User").fill("ada")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator('[data-badge-of="hello"]')).to_have_text("live")
        expect(page.locator("#feed tbody tr").first).to_be_visible()
        cpu = page.locator('[data-host="cpu"]')
        expect(cpu).to_have_text(re.compile(r"^\d+ %$"))  # a sample, live (one a second here)
        expect(page.locator(".who")).to_contain_text("ada")
        page.get_by_role("link", name="hello", exact=True).click()
        expect(page.get_by_role("heading", name="hello")).to_be_visible()
        expect(page.locator("#deploy")).to_be_visible()


def test_five_wrong_passwords_slow_the_next_login_down(browser: Browser, web: DevWeb) -> None:
    password = web.add_user("bea", "viewer")
    with person(browser, "203.0.113.2") as context:
        page = context.new_page()
        for _ in range(5):
            log_in(page, web, "bea", "not-her-password")
            expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
        log_in(page, web, "bea", password)
        expect(page.get_by_role("alert")).to_contain_text("Too many wrong passwords: try again in")
        expect(page).to_have_url(re.compile(r"/login$"))


SLOWPOKE = {
    "Procfile": "web: exec python3 -m http.server $PORT\nrelease: sleep 3\n",
    "index.html": "slowpoke\n",
}
"""An app whose deploy takes a few seconds (its release phase sleeps): long enough that
its badge says `deploying` for a while, whatever the page coalesces."""


def test_a_deploy_started_from_the_cli_appears_without_reloading(
    browser: Browser, web: DevWeb
) -> None:
    password = web.add_user("cy", "deployer")
    source = world_readable_tempdir("deployd-slowpoke-") / "app"
    source.mkdir()
    for name, text in SLOWPOKE.items():
        (source / name).write_text(text)
    made = web.daemon.deployctl("apps", "create", "slowpoke", "--path", str(source))
    assert made.returncode == 0, made.stderr
    with person(browser, "203.0.113.3") as context:
        page = context.new_page()
        log_in(page, web, "cy", password)
        expect(page.locator("#live")).to_have_text("live")
        page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
        started = web.daemon.deployctl("deploy", "slowpoke", "--no-wait")
        assert started.returncode == 0, started.stderr
        feed = page.locator("#feed tbody tr")
        expect(feed.filter(has_text="deploy.started").first).to_be_visible()
        expect(page.locator('[data-badge-of="slowpoke"]')).to_have_text("deploying")
        expect(page.locator('[data-count="deploying"]')).to_have_text("1")
        expect(feed.filter(has_text="deploy.succeeded").first).to_be_visible(timeout=120_000)
        to_its_page = feed.filter(has_text="deploy.succeeded").first.locator("a")
        expect(to_its_page).to_have_attribute("href", re.compile(r"^/apps/slowpoke/deploys/\d+$"))
        expect(page.locator('[data-badge-of="slowpoke"]')).to_have_text("live")
        expect(page.locator('[data-release-of="slowpoke"]')).to_have_text("v1")
        assert page.evaluate("window.sameDocument") is True
        ids = page.locator("#feed tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert len(ids) == len(set(ids))  # nothing shown twice


def test_an_apps_page_redraws_its_processes_and_buttons_as_the_app_changes(
    browser: Browser, web: DevWeb
) -> None:
    """Stop (asked first), then Start from another place (the CLI): the page shows each
    state's processes and buttons without a reload, and keeps what someone is typing."""
    password = web.add_user("dot", "deployer")
    with person(browser, "203.0.113.7") as context:
        page = context.new_page()
        log_in(page, web, "dot", password)
        page.goto(f"{web.url}/apps/hello")
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator("#stop")).to_be_hidden()  # asked first
        page.locator("#stop-ask").click()
        page.locator("#stop").click()
        expect(page.locator("#start")).to_be_visible(timeout=60_000)
        expect(page.locator("#processes")).to_contain_text("No process runs (stopped)")
        page.evaluate("window.sameDocument = true")
        page.locator('#env-edit input[name="name"]').fill("HALF_TYPED")
        started = web.daemon.deployctl("start", "hello")
        assert started.returncode == 0, started.stderr
        expect(page.locator("#stop-ask")).to_be_visible(timeout=60_000)
        expect(page.locator("#processes")).to_contain_text("web.1")
        expect(page.locator('#env-edit input[name="name"]')).to_have_value("HALF_TYPED")
        assert page.evaluate("window.sameDocument") is True
    assert fetch(web.daemon, "hello")[0] == 200


def test_the_stream_comes_back_after_the_web_process_drops_it(
    browser: Browser, web: DevWeb
) -> None:
    """The web process ends every stream after DEPLOYD_WEB_STREAM_SECONDS; the browser
    says so, comes back with Last-Event-ID, and what happened meanwhile arrives once."""
    password = web.add_user("dee", "viewer")
    with person(browser, "203.0.113.4") as context:
        page = context.new_page()
        opened: list[Request] = []
        page.on("request", lambda r: opened.append(r) if "/events" in r.url else None)
        log_in(page, web, "dee", password)
        expect(page.locator("#live")).to_have_text("live")
        web.add_user("first-mark", "viewer")
        marked = page.locator("#feed tbody tr", has_text="added first-mark")
        expect(marked).to_have_count(1)
        seen = marked.get_attribute("data-id")
        expect(page.locator("#live")).to_have_text(
            "disconnected — reconnecting", timeout=STREAM_SECONDS * 1000 + 5000
        )
        expect(page.locator("#live")).to_have_text("live")
        web.add_user("second-mark", "viewer")
        expect(page.locator("#feed tbody tr", has_text="added second-mark")).to_have_count(1)
        expect(marked).to_have_count(1)
        resumed = wait_for(lambda: [r for r in opened[1:] if r.all_headers().get("last-event-id")])
        assert int(resumed[0].all_headers()["last-event-id"]) >= int(seen or 0)
        ids = page.locator("#feed tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert len(ids) == len(set(ids))


def test_a_viewer_sees_no_deploy_button_and_a_forged_post_is_refused(
    browser: Browser, web: DevWeb
) -> None:
    password = web.add_user("eve", "viewer")
    with person(browser, "203.0.113.5") as context:
        page = context.new_page()
        log_in(page, web, "eve", password)
        page.goto(f"{web.url}/apps/hello")
        expect(page.get_by_role("heading", name="hello")).to_be_visible()
        expect(page.locator("#deploy")).to_have_count(0)
        expect(page.locator("#rollback")).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("Roll back"))).to_have_count(0)
        forge = """async (withToken) => {
            const token = document.querySelector('input[name="csrf"]').value;
            const body = new URLSearchParams(withToken ? {csrf: token} : {});
            const answer = await fetch('/apps/hello/deploy', {method: 'POST', body});
            return [answer.status, await answer.text()];
        }"""
        status, text = page.evaluate(forge, True)
        assert status == 403 and "deploys.start needs the deployer role; eve is viewer" in text
        status, text = page.evaluate(forge, False)
        assert status == 403 and "security token is missing or wrong" in text
    assert [e.outcome for e in web.audit("deploys.start") if e.actor == "eve"] == ["forbidden"]


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_main_pages(
    browser: Browser, web: DevWeb, shots: Path, size: str, viewport: dict[str, int]
) -> None:
    password = web.add_user(f"fay-{size}", "deployer")
    for path in ("/", "/health", "/nothing-here") * 10:  # a chart with something on it
        fetch(web.daemon, "hello", path)
    wait_for(lambda: web.daemon.call("system.snapshot").traffic_series, 30)  # type: ignore[attr-defined]
    with person(browser, f"203.0.113.{10 + len(size)}", viewport) as context:
        page = context.new_page()
        page.goto(f"{web.url}/login")
        page.screenshot(path=shots / f"login-{size}.png", full_page=True)
        log_in(page, web, f"fay-{size}", password)
        expect(page.locator("#live")).to_have_text("live")
        for name, path in (("dashboard", "/"), ("app", "/apps/hello"), ("apps", "/apps")):
            page.goto(f"{web.url}{path}")
            expect(page.locator("#live")).to_have_text("live")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} scrolls sideways at {size}: {width}"
            page.screenshot(path=shots / f"{name}-{size}.png")  # the first screenful
            page.screenshot(path=shots / f"{name}-{size}-full.png", full_page=True)
        page.goto(f"{web.url}/login")  # logged in: straight on
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
