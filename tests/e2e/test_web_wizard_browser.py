"""The web GUI's new-app wizard and a deploy's page, in Debian's Chromium driven by
Playwright against `deployd dev --web-port`: a deployer creates and deploys an app from
a git repository through the wizard, watches its steps change on the deploy page and its
URL come live, edits its config (masked afterwards), deploys again and rolls back from
the app's page; a viewer sees no "New app" and the daemon refuses their forged form; bad
forms are refused with a clear 400 that echoes no secret. Screenshots of the wizard and
the deploy page at desktop and phone widths go where test_web_browser.py puts its own.

The tests follow one app through its life, in order (one `deployd dev` for the module)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    expect,
)

from tests.e2e.conftest import fetch
from tests.support.browser import DESKTOP, PHONE, needs_chromium
from tests.support.browser import person as support_person
from tests.support.daemon import world_readable_tempdir
from tests.support.repos import Repo
from tests.support.waiting import wait_for
from tests.support.web import DevWeb, csrf_of, dev_web, log_in
from tests.support.web import browser as http_browser

STREAM_SECONDS = 3
"""Shorter than a deploy of SLOWPOKE: its page's stream ends mid-deploy and comes back."""
LONG = 120_000
"""A deploy builds and starts a real app: generous under a loaded CI machine."""
SECRET = "s3cret-wizard-value"
SLOWPOKE = {
    "Procfile": "web: exec python3 -m http.server $PORT\nrelease: sleep 6\n",
    "index.html": "slowpoke one\n",
}
"""An app whose release phase sleeps: its `release` step is seen running, then done."""

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def web() -> Iterator[DevWeb]:
    env = {"DEPLOYD_WEB_STREAM_SECONDS": str(STREAM_SECONDS)}
    with dev_web("deployd-webwiz-", env) as dev:
        yield dev


@pytest.fixture(scope="module")
def repo() -> Repo:
    """The app's git repository (the example app's files replaced by SLOWPOKE's)."""
    base = world_readable_tempdir("deployd-webwiz-repo-")
    made = Repo(base, "slowpoke")
    for name in os.listdir(made.work):
        if name != ".git":
            path = made.work / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for name, text in SLOWPOKE.items():
        made.write(name, text)
    made.commit("slowpoke")
    return made


@pytest.fixture(scope="module")
def deployer(web: DevWeb) -> str:
    """A deployer mapped to the Unix account that made the test's repositories (root):
    the wizard's local sources are read with its rights (git refuses a repository another
    account owns; test_web_gui has a deployer of their own account)."""
    return web.add_user("wiz", "deployer", "root")


def person(browser: Browser, address: str, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
    return support_person(browser, address, viewport, timeout_ms=30_000)


def logged_in(context: BrowserContext, web: DevWeb, name: str, password: str) -> Page:
    page = context.new_page()
    page.goto(f"{web.url}/")
    page.get_by_label("User").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def answer(web: DevWeb, app: str) -> str:
    status, _, body = fetch(web.daemon, app)
    return body if status == 200 else f"status {status}"


def live_release(web: DevWeb, app: str) -> int | None:
    found: int | None = web.daemon.call("apps.show", {"name": app}).live_release  # type: ignore[attr-defined]
    return found


def test_create_and_deploy_an_app_through_the_wizard(
    browser: Browser, web: DevWeb, repo: Repo, deployer: str, shots: Path
) -> None:
    with person(browser, "198.51.100.1") as context:
        page = logged_in(context, web, "wiz", deployer)
        opened: list[Request] = []
        page.on("request", lambda r: opened.append(r) if r.url.endswith("/events") else None)
        page.get_by_role("link", name="New app").click()
        expect(page.get_by_role("heading", name="New app")).to_be_visible()
        page.screenshot(path=shots / "new-app-desktop.png", full_page=True)
        page.get_by_label("App name").fill("slowpoke")
        page.get_by_label("Repository URL").fill(repo.url)
        page.get_by_label("Branch").fill("main")
        page.get_by_label("variable 1", exact=True).fill("GREETING")
        page.get_by_label("value 1", exact=True).fill(SECRET)
        expect(page.get_by_label("deploy it now")).to_be_checked()
        page.get_by_role("button", name="Create app").click()

        expect(page).to_have_url(re.compile(r"/apps/slowpoke/deploys/\d+$"))
        expect(page.locator(".notice")).to_contain_text(
            "Created slowpoke with config version 1 (1 variable)"
        )
        page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
        release = page.locator('#steps tr[data-step="release"] td.state')
        expect(release).to_have_text("running", timeout=LONG)  # its release phase sleeps
        expect(page.locator("#deploy-live")).to_have_text("live")
        page.screenshot(path=shots / "deploy-running-desktop.png", full_page=True)
        expect(release).to_have_text("done", timeout=LONG)  # changed while on the page
        outcome = page.locator("#outcome")
        expect(outcome).to_contain_text("v1 is live.", timeout=LONG)
        expect(page.locator("#job-state")).to_have_text("succeeded")
        url = page.locator("#outcome-url")
        expect(url).to_have_text(re.compile(r"^https?://slowpoke\."))
        assert page.evaluate("window.sameDocument") is True
        assert page.locator('#steps tr[data-step="fetch"] td.state').text_content() == "done"
        assert SECRET not in page.content()
        assert page.locator('#steps tr[data-step="release"]').count() == 1  # resumed, not doubled
        assert len([r for r in opened if "/deploys/" in r.url]) >= 2  # it came back mid-deploy
        page.screenshot(path=shots / "deploy-done-desktop.png", full_page=True)
    assert answer(web, "slowpoke") == "slowpoke one\n"
    env = web.daemon.call("env.list", {"app": "slowpoke"})
    assert [v.name for v in env.vars] == ["GREETING"]  # type: ignore[attr-defined]


def test_edit_config_from_the_app_page_and_the_value_stays_masked(
    browser: Browser, web: DevWeb, deployer: str
) -> None:
    value = "another-secret-42"
    with person(browser, "198.51.100.2") as context:
        page = logged_in(context, web, "wiz", deployer)
        page.goto(f"{web.url}/apps/slowpoke")
        form = page.locator("#env-edit")
        form.get_by_placeholder("NAME").first.fill("TOKEN")
        form.get_by_placeholder("value").fill(value)
        form.get_by_role("button", name="Apply").click()
        expect(page.locator(".notice")).to_contain_text("Config version 2 of slowpoke")
        expect(page.locator("#env")).to_contain_text("TOKEN")
        assert value not in page.content()
        assert SECRET not in page.content()


def test_deploy_again_then_roll_back_in_the_browser(
    browser: Browser, web: DevWeb, repo: Repo, deployer: str
) -> None:
    repo.write("index.html", "slowpoke two\n").commit("a second version")
    wait_for(lambda: web.daemon.call("apps.show", {"name": "slowpoke"}).active_job is None, 120)  # type: ignore[attr-defined]
    before = live_release(web, "slowpoke")
    with person(browser, "198.51.100.3") as context:
        page = logged_in(context, web, "wiz", deployer)
        page.goto(f"{web.url}/apps/slowpoke")
        page.locator("#deploy").click()
        expect(page).to_have_url(re.compile(r"/apps/slowpoke/deploys/\d+$"))
        expect(page.locator("#outcome")).to_contain_text("is live.", timeout=LONG)
        assert answer(web, "slowpoke") == "slowpoke two\n"
        deployed = live_release(web, "slowpoke")
        assert deployed is not None and before is not None and deployed > before

        page.goto(f"{web.url}/apps/slowpoke")
        page.locator("#rollback").click()
        expect(page).to_have_url(re.compile(r"/apps/slowpoke/rollback$"))
        expect(page.get_by_role("heading")).to_have_text(f"Roll slowpoke back to v{before}?")
        page.locator("#rollback-its").click()
        expect(page).to_have_url(re.compile(r"/apps/slowpoke/deploys/\d+$"))
        expect(page.get_by_role("heading", name=re.compile("^Rollback of"))).to_be_visible()
        expect(page.locator("#outcome")).to_contain_text(f"v{before} is live.", timeout=LONG)
    assert live_release(web, "slowpoke") == before
    assert answer(web, "slowpoke") == "slowpoke one\n"


BROKEN = {
    "Procfile": "web: exec python3 -m http.server $PORT\n"
    "release: echo the-migration-broke; exit 3\n",
    "index.html": "broken\n",
}


def test_a_failed_deploy_says_where_and_why_without_a_reload(
    browser: Browser, web: DevWeb, deployer: str, shots: Path
) -> None:
    """An app from a directory on the server (the wizard's other source), whose release
    phase fails: the page says at which step, and the output that says why."""
    source = world_readable_tempdir("deployd-webwiz-broken-") / "app"
    source.mkdir()
    for name, text in BROKEN.items():
        (source / name).write_text(text)
    with person(browser, "198.51.100.6") as context:
        page = logged_in(context, web, "wiz", deployer)
        page.goto(f"{web.url}/new/app")
        page.get_by_label("App name").fill("broken")
        page.get_by_label("Directory", exact=True).fill(str(source))
        page.get_by_role("button", name="Create app").click()
        expect(page).to_have_url(re.compile(r"/apps/broken/deploys/\d+$"))
        page.evaluate("window.sameDocument = true")
        outcome = page.locator("#outcome")
        expect(outcome).to_contain_text("Deploy failed at release.", timeout=LONG)
        expect(page.locator("#outcome-error")).to_contain_text("the-migration-broke")
        expect(page.locator('#steps tr[data-step="release"] td.state')).to_have_text("failed")
        expect(page.locator("#outcome-url")).to_be_hidden()
        assert page.evaluate("window.sameDocument") is True
        page.screenshot(path=shots / "deploy-failed-desktop.png", full_page=True)
        page.reload()  # drawn by the server alike
        expect(outcome).to_contain_text("Deploy failed at release.")
        expect(page.locator('#steps tr[data-step="release"] td.state')).to_have_text("failed")


def test_a_viewer_sees_no_new_app_and_the_daemon_refuses_a_forged_form(
    browser: Browser, web: DevWeb
) -> None:
    password = web.add_user("vic", "viewer")
    with person(browser, "198.51.100.4") as context:
        page = logged_in(context, web, "vic", password)
        expect(page.get_by_role("link", name="New app")).to_have_count(0)
        page.goto(f"{web.url}/apps")
        expect(page.get_by_role("heading", name="Apps")).to_be_visible()
        expect(page.get_by_role("link", name="New app")).to_have_count(0)
        page.goto(f"{web.url}/new/app")
        expect(page.get_by_role("heading", name="Refused")).to_be_visible()
        page.goto(f"{web.url}/apps")
        forge = """async () => {
            const token = document.querySelector('input[name="csrf"]').value;
            const body = new URLSearchParams({csrf: token, name: 'forged',
                git: 'https://example.com/x.git', runtime: 'auto', deploy: '1'});
            const answer = await fetch('/new/app', {method: 'POST', body,
                headers: {Accept: 'text/html'}});
            return [answer.status, await answer.text()];
        }"""
        status, text = page.evaluate(forge)
        assert status == 403 and "apps.create needs the deployer role; vic is viewer" in text
    refused = [e.outcome for e in web.audit("apps.create") if e.actor == "vic"]
    assert refused == ["forbidden"]


def test_bad_forms_are_refused_plainly_and_echo_no_secret(web: DevWeb, deployer: str) -> None:
    with http_browser(web, "198.51.100.5") as client:
        assert log_in(client, "wiz", deployer).status_code == 303
        form = client.get("/new/app", headers={"Accept": "text/html"})
        assert form.status_code == 200
        token = csrf_of(form.text)
        fields = {
            "csrf": token,
            "name": "Bad_Name",
            "git": "https://example.com/x.git",
            "runtime": "auto",
            "var0": "API_KEY",
            "value0": SECRET,
            "deploy": "1",
        }
        bad = client.post("/new/app", data=fields, headers={"Accept": "text/html"})
        assert bad.status_code == 400
        assert "name: must be lowercase letters" in bad.text
        assert SECRET not in bad.text and "Traceback" not in bad.text
        assert 'value="API_KEY"' in bad.text  # the name is kept; its value is not
        bad_var = client.post(
            "/new/app",
            data={**fields, "name": "fine", "var0": "lower-case"},
            headers={"Accept": "text/html"},
        )
        assert bad_var.status_code == 400 and "variable is not a name" in bad_var.text
        assert SECRET not in bad_var.text
        no_token = {k: v for k, v in fields.items() if k != "csrf"} | {"name": "fine"}
        refused = client.post("/new/app", data=no_token, headers={"Accept": "text/html"})
        assert refused.status_code == 403 and "security token" in refused.text
        taken = client.post(
            "/new/app", data={**fields, "name": "hello"}, headers={"Accept": "text/html"}
        )
        assert taken.status_code == 409 and SECRET not in taken.text
        for gone in ("/apps/hello/deploys/999999", "/apps/hello/deploys/x"):
            assert client.get(gone, headers={"Accept": "text/html"}).status_code == 404
    assert web.daemon.call("apps.list").apps  # type: ignore[attr-defined]
    names = [a.name for a in web.daemon.call("apps.list").apps]  # type: ignore[attr-defined]
    assert "fine" not in names and "Bad_Name" not in names


def test_a_deploys_stream_without_a_session_says_signed_out(web: DevWeb) -> None:
    answer = httpx.get(f"{web.url}/apps/hello/deploys/1/events", timeout=10)
    assert answer.status_code == 200 and "event: signed-out" in answer.text


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_wizard_and_a_deploy(
    browser: Browser, web: DevWeb, deployer: str, shots: Path, size: str, viewport: dict[str, int]
) -> None:
    job = web.daemon.call("deploys.start", {"app": "hello"}).id  # type: ignore[attr-defined]
    with person(browser, f"198.51.100.{20 + len(size)}", viewport) as context:
        page = logged_in(context, web, "wiz", deployer)
        pages = (
            ("new-app", "/new/app"),
            ("deploy", f"/apps/hello/deploys/{job}"),
            ("dashboard-new-app", "/"),
        )
        for name, path in pages:
            page.goto(f"{web.url}{path}")
            if name == "deploy":
                expect(page.locator("#outcome")).to_contain_text("is live.", timeout=LONG)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} scrolls sideways at {size}: {width}"
            whole = name != "dashboard-new-app"  # the dashboard: its first screenful
            page.screenshot(path=shots / f"{name}-{size}.png", full_page=whole)
        page.goto(f"{web.url}/new/app")
        page.get_by_label("App name").fill("Nope")
        page.get_by_label("value 1", exact=True).fill(SECRET)
        page.locator("#app-name").evaluate("e => e.removeAttribute('pattern')")
        page.get_by_label("Repository URL").fill("https://example.com/x.git")
        page.get_by_role("button", name="Create app").click()
        expect(page.get_by_role("alert")).to_contain_text("name: must be")
        expect(page.get_by_label("value 1", exact=True)).to_have_value("")
        page.screenshot(path=shots / f"new-app-refused-{size}.png", full_page=True)
