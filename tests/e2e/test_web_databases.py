"""The web GUI's databases against `deployd dev --web-port` and its real PostgreSQL: the
wizard creates one linked to `hello`, the manager lists it, a backup made from the page
is restored from the page (the data comes back), credentials are revealed only on
purpose (audited as the web user), a viewer gets no controls and forged POSTs are
refused by the daemon; then the wizard once more in Chromium, with screenshots."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect

from deployd.store.cluster import PrivateCluster
from deployd.web import db_pages
from deployd.web.app import create_app
from deployd.web.link import DaemonLink
from tests.e2e.test_web_browser import log_in
from tests.support.browser import DESKTOP, PHONE, needs_chromium, person
from tests.support.waiting import wait_for
from tests.support.web import DevWeb, browser, csrf_of, dev_web
from tests.support.web import log_in as sign_in

PSQL = "/usr/bin/psql"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def web() -> Iterator[DevWeb]:
    with dev_web("deployd-webdb-", {"DEPLOYD_WEB_STREAM_SECONDS": "30"}) as dev:
        yield dev


def _settled(web: DevWeb) -> None:
    wait_for(lambda: web.daemon.call("apps.show", {"name": "hello"}).active_job is None, 120)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _as(web: DevWeb, name: str, role: str, address: str) -> Iterator[httpx.Client]:
    """A new user of `role`, logged in from `address`."""
    password = web.add_user(name, role)
    with browser(web, address) as client:
        assert sign_in(client, name, password).status_code == 303
        yield client


def psql(url: str, statement: str) -> str:
    done = subprocess.run(
        [PSQL, url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _notice(page: str) -> str:
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S)
    assert found, page
    return html.unescape(found[1])


def test_the_wizard_creates_a_database_linked_to_an_app(web: DevWeb) -> None:
    _settled(web)
    with _as(web, "maker", "deployer", "198.51.100.40") as client:
        wizard = client.get("/new/database?app=hello")
        assert wizard.status_code == 200
        assert '<option value="hello" selected>' in wizard.text
        fields = {"csrf": csrf_of(wizard.text), "name": "webdb", "app": "hello", "variable": ""}
        made = client.post("/databases", data=fields)
        assert made.status_code == 303 and made.headers["location"] == "/databases/webdb"
        page = client.get("/databases/webdb").text
        assert re.search(
            r"Database webdb created; hello gets DATABASE_URL and restarts "
            r"\(job \d+\)\.",
            _notice(page),
        ), page
        url = web.daemon.call("databases.reveal", {"name": "webdb"}).url  # type: ignore[attr-defined]
        password = url.split("@")[0].rsplit(":", 1)[1]
        assert password not in page and "••••" in page
        assert "/apps/hello" in page and "DATABASE_URL" in page
        _settled(web)
        app = client.get("/apps/hello").text
        assert "DATABASE_URL" in app and password not in app  # masked in the app's config
        assert psql(url, "SELECT current_database()") == "webdb"

        listed = client.get("/databases").text
        row = re.search(r'<tr data-db="webdb".*?</tr>', listed, re.S)
        assert row, listed
        assert re.search(r'data-label="size">\d+\.\d (KiB|MiB)<', row[0]), row[0]
        assert '<a href="/apps/hello">hello</a>' in row[0]
        tab = client.get("/apps/hello/database").text
        assert 'href="/databases/webdb"' in tab and "/new/database?app=hello" in tab
    created = [e for e in web.audit("databases.create") if e.actor == "maker"]
    assert [(e.target, e.outcome) for e in created] == [("webdb", "ok")]


def test_bad_input_gives_a_clear_page_and_a_form_without_its_token_is_refused(
    web: DevWeb,
) -> None:
    with _as(web, "typo", "deployer", "198.51.100.41") as client:
        token = csrf_of(client.get("/new/database").text)
        for fields, said in (
            ({"name": "Bad_Name"}, "the name 'Bad_Name' is not valid: lowercase letters"),
            ({"name": "ok-name", "app": "hello", "variable": "db-url"}, "the variable 'db-url'"),
            ({"name": "ok-name", "app": "No App"}, "the app 'No App' is not valid"),
            ({"name": ""}, "the name is missing"),
        ):
            refused = client.post("/databases", data={"csrf": token, **fields}, headers=HTML)
            assert refused.status_code == 400, refused.text
            assert said in html.unescape(refused.text) and "Traceback" not in refused.text
        assert client.get("/databases/Not_A_Name", headers=HTML).status_code == 404
        assert client.get("/databases/nothere", headers=HTML).status_code == 404
        no_token = client.post("/databases", data={"name": "sneaky"})
        assert no_token.status_code == 403
        for path in ("reveal", "backup", "drop", "restore"):
            assert client.post(f"/databases/webdb/{path}", data={}).status_code == 403
        bad_schedule = client.post(
            "/databases/webdb/schedule",
            data={"csrf": token, "schedule": "every tuesday"},
            headers=HTML,
        )
        assert bad_schedule.status_code == 400 and "daily HH:MM" in bad_schedule.text
    names = [d.name for d in web.daemon.call("databases.list").databases]  # type: ignore[attr-defined]
    assert "sneaky" not in names and "ok-name" not in names


def test_a_backup_made_on_the_page_restores_the_data_after_the_name_is_typed(
    web: DevWeb,
) -> None:
    with _as(web, "keeper", "deployer", "198.51.100.42") as client:
        page = client.get("/databases/webdb").text
        token = csrf_of(page)
        revealed = client.post("/databases/webdb/reveal", data={"csrf": token})
        assert revealed.status_code == 200 and revealed.headers["cache-control"] == "no-store"
        found = re.search(r'<pre id="db-url">(.*?)</pre>', revealed.text, re.S)
        assert found, revealed.text
        url = html.unescape(found[1])
        assert "as keeper" in revealed.text
        password = url.split("@")[0].rsplit(":", 1)[1]
        assert password not in client.get("/databases/webdb").text  # masked again

        psql(url, "CREATE TABLE notes (t text); INSERT INTO notes VALUES ('kept-row')")
        made = client.post("/databases/webdb/backup", data={"csrf": token})
        assert made.status_code == 303
        page = client.get("/databases/webdb").text
        notice = re.search(
            r"Backup (\d+) of webdb verified: [\d.]+ KiB, 1 tables, 1 rows\.", _notice(page)
        )
        assert notice, page
        backup = notice[1]
        assert f'<tr data-backup="{backup}">' in page
        assert f"/databases/webdb/restore?backup={backup}" in page

        scheduled = client.post(
            "/databases/webdb/schedule",
            data={"csrf": token, "schedule": "daily 03:00", "keep": "7"},
        )
        assert scheduled.status_code == 303
        said = _notice(client.get("/databases/webdb").text)
        assert said.startswith("webdb is backed up daily at 03:00 UTC, keeping 7; next at "), said

        psql(url, "DELETE FROM notes")
        confirm = client.get(f"/databases/webdb/restore?backup={backup}")
        assert confirm.status_code == 200 and "Type <code>webdb</code> to confirm" in confirm.text
        wrong = client.post(
            "/databases/webdb/restore",
            data={"csrf": token, "backup": backup, "confirm": "hello"},
            headers=HTML,
        )
        assert wrong.status_code == 400 and "type the database&#39;s name, webdb" in wrong.text
        assert psql(url, "SELECT count(*) FROM notes") == "0"  # nothing was touched
        done = client.post(
            "/databases/webdb/restore",
            data={"csrf": token, "backup": backup, "confirm": "webdb"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/databases/webdb"
        said = _notice(client.get("/databases/webdb").text)
        assert re.match(
            rf"webdb restored from backup {backup}: 1 tables, 1 rows, checked; "
            r"the database it replaced is kept as webdb-before-restore-\d+\.",
            said,
        )
        assert psql(url, "SELECT t FROM notes") == "kept-row"
    reveals = [e for e in web.audit("databases.reveal") if e.actor == "keeper"]
    assert [(e.target, e.outcome) for e in reveals] == [("webdb", "ok")]
    restores = [e for e in web.audit("databases.restore") if e.actor == "keeper"]
    assert [(e.target, e.outcome) for e in restores] == [
        ("webdb", "ok")
    ]  # the wrong one never went


def test_a_viewer_sees_no_controls_and_forged_posts_are_refused_by_the_daemon(
    web: DevWeb,
) -> None:
    with _as(web, "onlooker", "viewer", "198.51.100.43") as client:
        page = client.get("/databases/webdb")
        assert page.status_code == 200 and "webdb" in page.text and "Restore…" not in page.text
        for control in ("/reveal", "/backup", "/restore", "/drop", "/link", "/unlink", "/schedule"):
            assert f'action="/databases/webdb{control}"' not in page.text, control
        assert "/new/database" not in client.get("/databases").text
        assert "/new/database" not in client.get("/apps/hello/database").text
        assert client.get("/new/database", headers=HTML).status_code == 403
        token = csrf_of(page.text)
        backup = str(web.daemon.call("databases.backups", {"name": "webdb"}).backups[0].id)  # type: ignore[attr-defined]
        confirm = client.get(f"/databases/webdb/restore?backup={backup}", headers=HTML)
        assert confirm.status_code == 403 and "onlooker is viewer" in confirm.text
        forged = {
            "databases.reveal": ("/databases/webdb/reveal", {}),
            "databases.backup": ("/databases/webdb/backup", {}),
            "databases.restore": (
                "/databases/webdb/restore",
                {"backup": backup, "confirm": "webdb"},
            ),
            "databases.drop": ("/databases/webdb/drop", {"confirm": "webdb"}),
            "databases.unlink": ("/databases/webdb/unlink", {"app": "hello"}),
            "databases.schedule": ("/databases/webdb/schedule", {"schedule": "off"}),
            "databases.create": ("/databases", {"name": "forged-db"}),
        }
        for method, (path, fields) in forged.items():
            answer = client.post(path, data={"csrf": token, **fields})
            assert answer.status_code == 403, (method, answer.text)
            assert answer.json() == {
                "error": f"{method} needs the deployer role; onlooker is viewer"
            }
    for method in forged:
        refused = [e for e in web.audit(method) if e.actor == "onlooker"]
        assert [e.outcome for e in refused] == ["forbidden"], method
    assert [link.app for link in web.daemon.call("databases.show", {"name": "webdb"}).links] == [  # type: ignore[attr-defined]
        "hello"
    ]


def test_unlink_then_drop_after_the_name_is_typed_keeps_a_final_backup(web: DevWeb) -> None:
    with _as(web, "dropper", "deployer", "198.51.100.44") as client:
        page = client.get("/databases/webdb").text
        token = csrf_of(page)
        assert 'id="db-drop"' not in page and "unlink them first" in page
        gone = client.post("/databases/webdb/unlink", data={"csrf": token, "app": "hello"})
        assert gone.status_code == 303
        page = client.get("/databases/webdb").text
        assert re.match(r"webdb unlinked from hello: DATABASE_URL unset", _notice(page))
        assert 'id="db-drop"' in page and "a final backup is taken and verified first" in page
        bad_link = {"csrf": token, "app": "hello", "variable": "database_url"}
        refused = client.post("/databases/webdb/link", data=bad_link, headers=HTML)
        assert refused.status_code == 400 and "the variable &#39;database_url&#39;" in refused.text
        _settled(web)
        kept = web.daemon.call("databases.show", {"name": "webdb"}).kept  # type: ignore[attr-defined]
        assert len(kept) == 1 and 'id="db-drop-kept"' in page
        copies = {"csrf": token, "confirm": "webdb", "kept_only": "1"}
        assert client.post("/databases/webdb/drop", data=copies).status_code == 303
        page = client.get("/databases/webdb").text
        assert _notice(page) == f"Dropped {kept[0]}." and 'id="db-drop-kept"' not in page
        wrong = client.post(
            "/databases/webdb/drop", data={"csrf": token, "confirm": "web"}, headers=HTML
        )
        assert wrong.status_code == 400
        assert client.get("/databases/webdb").status_code == 200
        dropped = client.post("/databases/webdb/drop", data={"csrf": token, "confirm": "webdb"})
        assert dropped.status_code == 303 and dropped.headers["location"] == "/databases"
        listed = client.get("/databases").text
        assert re.search(r"Dropped webdb; its final backup is \d+\.", _notice(listed)), listed
        assert 'data-db="webdb"' not in listed
        assert client.get("/databases/webdb", headers=HTML).status_code == 404


@pytest.mark.asyncio
async def test_a_backup_longer_than_the_page_waits_goes_on_and_the_page_says_it_started(
    web: DevWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web app in this process (the page waits no time at all for the answer) against
    the dev daemon: the backup goes on after the redirect, as the person, and is listed."""
    monkeypatch.setattr(db_pages, "ANSWER_WAIT", 0.0)
    password = await asyncio.to_thread(web.add_user, "patient", "deployer")
    await asyncio.to_thread(web.daemon.call, "databases.create", {"name": "slowdb"})
    app = create_app(DaemonLink(web.daemon.socket))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        form = await client.get("/login")
        fields = {"csrf": csrf_of(form.text), "name": "patient", "password": password}
        assert (await client.post("/login", data=fields)).status_code == 303
        token = csrf_of((await client.get("/databases/slowdb")).text)
        started = await client.post("/databases/slowdb/backup", data={"csrf": token})
        assert started.status_code == 303
        page = (await client.get("/databases/slowdb")).text
        assert _notice(page) == (
            "Backup of slowdb started: the activity below says when it is verified."
        )

        async def listed() -> str:
            for _ in range(600):
                page = (await client.get("/databases/slowdb")).text
                if 'data-label="status">verified<' in page:  # recorded `running` first
                    return page
                await asyncio.sleep(0.1)
            raise AssertionError("the backup never showed")

        assert "Back up now" in await listed()
    made = [e for e in web.audit("databases.backup") if e.target == "slowdb"]
    assert [(e.actor, e.outcome) for e in made] == [("patient", "ok")]


@needs_chromium
def test_the_wizard_in_a_browser_and_the_pages_at_desktop_and_phone_widths(
    browser: Browser, web: DevWeb, shots: Path
) -> None:
    password = web.add_user("wiz", "deployer")
    with person(browser, "203.0.113.40") as context:
        page = context.new_page()
        log_in(page, web, "wiz", password)
        page.get_by_role("link", name="hello", exact=True).click()
        page.get_by_role("link", name="Database", exact=True).click()
        expect(page.get_by_text("No database is linked to hello.")).to_be_visible()
        page.get_by_role("link", name="Create and link a database").click()
        expect(page.get_by_role("heading", name="New database")).to_be_visible()
        expect(page.get_by_label("Link it to an app")).to_have_value("hello")
        page.get_by_label("Name").fill("shopdb")
        page.get_by_label("as the variable").fill("SHOP_DB_URL")
        page.get_by_role("button", name="Create database").click()
        expect(page.get_by_role("heading", name="shopdb")).to_be_visible(timeout=60_000)
        expect(page.locator(".notice")).to_contain_text("hello gets SHOP_DB_URL and restarts")
        expect(page.locator("#db-links")).to_contain_text("SHOP_DB_URL")
        expect(page.locator("#live")).to_have_text("live")
        made = web.daemon.deployctl("db", "backup", "shopdb")  # elsewhere: the page follows
        assert made.returncode == 0, made.stderr
        expect(page.locator("#feed tbody tr", has_text="db.backup_verified").first).to_be_visible()
        page.get_by_role("link", name="Databases", exact=True).click()  # the top nav
        expect(page.locator("#databases")).to_contain_text("shopdb")
    _settled(web)
    _a_week_of_sizes(web, "shopdb")
    backup = web.daemon.call("databases.backups", {"name": "shopdb"}).backups[0].id  # type: ignore[attr-defined]
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        with person(browser, f"203.0.113.{41 + len(size)}", viewport) as context:
            page = context.new_page()
            log_in(page, web, "wiz", password)
            for name, path in (
                ("databases", "/databases"),
                ("database", "/databases/shopdb"),
                ("database-new", "/new/database?app=hello"),
                ("app-database", "/apps/hello/database"),
                ("database-restore", f"/databases/shopdb/restore?backup={backup}"),
            ):
                page.goto(f"{web.url}{path}")
                expect(page.locator("h1")).to_be_visible()
                if name == "database":  # the week the daemon recorded, drawn by the server
                    expect(page.locator("#db-size-caption")).to_contain_text("since")
                    expect(page.locator("svg.size-chart polyline")).to_have_count(1)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{name} scrolls sideways at {size}: {width}"
                page.screenshot(path=shots / f"{name}-{size}.png", full_page=True)


def _a_week_of_sizes(web: DevWeb, name: str) -> None:
    """The samples the daemon would have taken over a week (every 5 minutes, growing by
    day), put where it keeps them, as test_databases.py does: a chart with a history."""
    now = datetime.now(UTC)
    week = [(now - timedelta(minutes=5 * n), (7000 - n * 2) * 2**10) for n in range(1, 2016)]
    store = PrivateCluster(web.daemon.root / "pg").conninfo()
    with psycopg.connect(store, autocommit=True) as conn:
        conn.execute("UPDATE databases SET created_at = %s WHERE name = %s", (week[-1][0], name))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO database_sizes (database, at, size_bytes, connections) "
                "VALUES (%s, %s, %s, 0)",
                [(name, at, size) for at, size in week],
            )
