"""The web GUI over HTTP against `deployd dev --web-port`: logging in, what a session may
do, forms from elsewhere, headers, and the live stream resuming where it stopped. The
browser's view of the same is in test_web_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployd.web.headers import CSP
from tests.e2e.conftest import fetch
from tests.support.daemon import world_readable_tempdir
from tests.support.unix_users import unix_user
from tests.support.waiting import wait_for
from tests.support.web import DevWeb, browser, csrf_of, dev_web, frames, log_in

STREAM_SECONDS = 3
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"


@pytest.fixture(scope="module")
def web() -> Iterator[DevWeb]:
    with dev_web("deployd-webgui-", {"DEPLOYD_WEB_STREAM_SECONDS": str(STREAM_SECONDS)}) as dev:
        yield dev


def test_pages_need_a_login_and_every_answer_carries_the_security_headers(web: DevWeb) -> None:
    with browser(web, "198.51.100.1") as client:
        for path in ("/", "/apps", "/apps/hello"):
            away = client.get(path)
            assert away.status_code == 303 and away.headers["location"] == f"/login?next={path}"
        form = client.get("/login")
        script = client.get("/static/live.js")
        for answer in (away, form, script, client.get("/nowhere")):
            assert answer.headers["content-security-policy"] == CSP
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["x-frame-options"] == "DENY"
        assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
        assert form.headers["cache-control"] == "no-store"
        assert script.headers["content-type"].startswith("text/javascript")
        assert re.findall(r"<script[^>]*>", form.text) == [
            f'<script src="/static/{name}.js?v={_version()}" defer>' for name in ("stream", "live")
        ]  # no inline script at all
        login_cookie = form.headers["set-cookie"]
        assert "HttpOnly" in login_cookie and "SameSite=strict" in login_cookie
        assert "Secure" not in login_cookie  # plain HTTP on loopback


def test_a_session_cookie_is_secure_when_the_proxy_says_https(web: DevWeb) -> None:
    password = web.add_user("tls", "viewer")
    proxied = {"X-Forwarded-For": "198.51.100.2", "X-Forwarded-Proto": "https"}
    form = httpx.get(f"{web.url}/login", headers=proxied)
    nonce = form.cookies["deployd_login"]  # Secure: a client would send it only over TLS
    assert "Secure" in form.headers["set-cookie"]
    fields = {"csrf": csrf_of(form.text), "name": "tls", "password": password}
    signed_in = httpx.post(
        f"{web.url}/login",
        data=fields,
        headers={**proxied, "Cookie": f"deployd_login={nonce}"},
    )
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.headers.get_list("set-cookie")[0]
    assert cookie.startswith("deployd_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_wrong_passwords_are_refused_and_the_sixth_attempt_waits(web: DevWeb) -> None:
    password = web.add_user("guessed", "deployer")
    with browser(web, "198.51.100.3") as client:
        for _ in range(5):
            refused = log_in(client, "guessed", "not-the-password")
            assert refused.status_code == 403
            assert "Wrong user name or password" in refused.text
            assert "deployd_session" not in refused.headers.get("set-cookie", "")
        slowed = log_in(client, "guessed", password)  # even the right one, for now
        assert slowed.status_code == 429 and 0 < int(slowed.headers["retry-after"]) <= 30
        assert "try again in" in slowed.text
    with browser(web, "198.51.100.4") as elsewhere:  # the name is slowed from anywhere
        assert log_in(elsewhere, "guessed", password).status_code == 429
    with browser(web, "198.51.100.3") as same_address:  # and the address for any name
        other = web.add_user("neighbour", "viewer")
        assert log_in(same_address, "neighbour", other).status_code == 429
    attempts = [e for e in web.audit("auth.login") if e.target == "guessed"]
    assert [e.outcome for e in attempts] == ["forbidden"] * 5  # the sixth never reached it


def test_forms_without_their_token_are_refused(web: DevWeb) -> None:
    password = web.add_user("forged", "deployer")
    with browser(web, "198.51.100.5") as client:
        client.get("/login")
        no_token = client.post("/login", data={"name": "forged", "password": password})
        assert no_token.status_code == 403
        with browser(web, "198.51.100.5") as stranger:  # a token, without its cookie
            token = csrf_of(stranger.get("/login").text)
        alien = httpx.post(
            f"{web.url}/login",
            data={"csrf": token, "name": "forged", "password": password},
            headers={"X-Forwarded-For": "198.51.100.5"},
        )
        assert alien.status_code == 403
        assert log_in(client, "forged", password).status_code == 303
        real = csrf_of(client.get("/apps/hello").text)
        for fields in ({}, {"csrf": ""}, {"csrf": real[:-2] + "xx"}):
            assert client.post("/apps/hello/deploy", data=fields).status_code == 403
            assert client.post("/logout", data=fields).status_code == 403
        assert client.get("/").status_code == 200  # still logged in
    assert not [e for e in web.audit("deploys.start") if e.actor == "forged"]


def test_a_viewer_is_offered_no_deploy_and_the_daemon_refuses_a_forged_one(web: DevWeb) -> None:
    password = web.add_user("watcher", "viewer")
    with browser(web, "198.51.100.6") as client:
        assert log_in(client, "watcher", password).status_code == 303
        page = client.get("/apps/hello")
        assert page.status_code == 200 and "hello" in page.text
        assert 'action="/apps/hello/deploy"' not in page.text and "/rollback" not in page.text
        forged = client.post("/apps/hello/deploy", data={"csrf": csrf_of(page.text)})
        assert forged.status_code == 403  # a script's POST: the daemon's words in JSON
        assert forged.json() == {
            "error": "deploys.start needs the deployer role; watcher is viewer"
        }
        as_a_page = client.post(
            "/apps/hello/deploy",
            data={"csrf": csrf_of(page.text)},
            headers={"Accept": "text/html"},
        )
        assert as_a_page.status_code == 403 and "<h1>Refused</h1>" in as_a_page.text
        assert "watcher is viewer" in as_a_page.text
    refused = [e for e in web.audit("deploys.start") if e.actor == "watcher"]
    assert [(e.outcome, e.target) for e in refused] == [("forbidden", "hello")] * 2


def test_a_deploy_from_the_page_is_made_as_its_person(web: DevWeb) -> None:
    password = web.add_user("shipper", "deployer")
    with browser(web, "198.51.100.7") as client:
        assert log_in(client, "shipper", password).status_code == 303
        page = client.get("/apps/hello")
        assert 'id="deploy"' in page.text
        started = client.post("/apps/hello/deploy", data={"csrf": csrf_of(page.text)})
        assert started.status_code == 303  # to the deploy's page, which says so
        assert re.fullmatch(r"/apps/hello/deploys/\d+", started.headers["location"])
        deploy_page = client.get(started.headers["location"]).text
        assert re.search(r"Deploy of hello started \(job \d+\)", deploy_page)
    assert [e.outcome for e in web.audit("deploys.start") if e.actor == "shipper"] == ["ok"]
    wait_for(lambda: web.daemon.call("apps.show", {"name": "hello"}).active_job is None, 120)  # type: ignore[attr-defined]


def test_the_stream_resumes_from_the_last_event_id_and_repeats_nothing(web: DevWeb) -> None:
    password = web.add_user("follower", "viewer")
    with browser(web, "198.51.100.8") as client:
        assert log_in(client, "follower", password).status_code == 303
        page = client.get("/")
        after = int(re.search(r'data-after="(\d+)"', page.text)[1])  # type: ignore[index]
        web.add_user("during-1", "viewer")  # between the page and its stream
        seen = _read_stream(client, {"after": str(after)}, until="during-1")
        assert seen[:2] == [{"retry": "2000"}, {"event": "live", "data": '{"user":"follower"}'}]
        last = int([f for f in seen if "id" in f][-1]["id"])
        web.add_user("during-2", "viewer")  # while no stream is open
        started = time.monotonic()
        resumed = _read_stream(client, {"after": "0"}, last_event_id=last, until=None)
        assert time.monotonic() - started < STREAM_SECONDS + 5  # the web process ended it
        added = [
            f["data"] for f in resumed if f.get("event") == "feed" and "user.added" in f["data"]
        ]
        assert len(added) == 1 and "during-2" in added[0]
        assert all(int(f["id"]) > last for f in resumed if "id" in f)


def test_logging_out_revokes_the_token_and_a_revoked_one_ends_the_session(web: DevWeb) -> None:
    password = web.add_user("leaver", "viewer")
    with browser(web, "198.51.100.9") as client:
        assert log_in(client, "leaver", password).status_code == 303
        tokens = web.daemon.call("tokens.list", {"name": "leaver"}).tokens  # type: ignore[attr-defined]
        assert [t.kind for t in tokens] == ["session"]
        out = client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert client.get("/").status_code == 303
        assert not web.daemon.call("tokens.list", {"name": "leaver"}).tokens  # type: ignore[attr-defined]
        assert log_in(client, "leaver", password).status_code == 303
        token = web.daemon.call("tokens.list", {"name": "leaver"}).tokens[0]  # type: ignore[attr-defined]
        web.daemon.call("tokens.revoke", {"id": token.id})  # an admin, elsewhere
        assert client.get("/").headers["location"] == "/login?next=/"
        ended = _read_stream(client, {}, until=None)
        assert [f["event"] for f in ended] == ["signed-out"]


SECRET = "sk_live_from_the_web_4f9a2c"


def _settled(web: DevWeb) -> None:
    wait_for(lambda: web.daemon.call("apps.show", {"name": "hello"}).active_job is None, 120)  # type: ignore[attr-defined]


def _env_json(web: DevWeb, *args: str) -> dict[str, str]:
    listed = web.daemon.deployctl("env", "list", "hello", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    return {v["name"]: v["value"] for v in json.loads(listed.stdout)["vars"]}


def _env_table(html: str) -> str:
    found = re.search(r'<table class="cards" id="env">.*?</table>', html, re.S)
    assert found, html
    return found[0]


def _audit_json(web: DevWeb, method: str) -> list[dict[str, str]]:
    listed = web.daemon.deployctl("audit", "--json", "--limit", "10000")
    assert listed.returncode == 0, listed.stderr
    return [e for e in json.loads(listed.stdout)["entries"] if e["method"] == method]


def test_config_set_from_the_page_is_masked_everywhere_and_revealed_on_purpose(
    web: DevWeb,
) -> None:
    _settled(web)
    web.daemon.call("env.set", {"app": "hello", "set": {"OLD_FLAG": "x"}, "restart": False})
    password = web.add_user("configurer", "deployer")
    with browser(web, "198.51.100.10") as client:
        assert log_in(client, "configurer", password).status_code == 303
        page = client.get("/apps/hello")
        assert 'id="env-edit"' in page.text and 'id="env-reveal"' in page.text
        fields = {
            "csrf": csrf_of(page.text),
            "name": "API_KEY",
            "value": SECRET,
            "unset": "OLD_FLAG",
        }
        changed = client.post("/apps/hello/env", data=fields)
        assert changed.status_code == 303, changed.text
        after = client.get("/apps/hello").text
        notice = re.search(
            r"Config version (\d+) of hello \(\+API_KEY, -OLD_FLAG\); restarting \(job (\d+)\)\.",
            after,
        )
        assert notice, after
        assert SECRET not in after and SECRET[:4] + "…****" in after
        assert "OLD_FLAG" not in _env_table(after)  # set and unset as one change: one version
        history = web.daemon.call("env.history", {"app": "hello"}).versions  # type: ignore[attr-defined]
        assert (history[0].version, history[0].set, history[0].unset, history[0].created_by) == (
            int(notice[1]),
            ["API_KEY"],
            ["OLD_FLAG"],
            "configurer",
        )
        assert _env_json(web) == {"API_KEY": SECRET[:4] + "…****"}
        listed = web.daemon.deployctl("env", "list", "hello")
        assert SECRET not in listed.stdout and "API_KEY" in listed.stdout

        revealed = client.post("/apps/hello/env/reveal", data={"csrf": csrf_of(after)})
        assert revealed.status_code == 200 and SECRET in revealed.text
        assert revealed.headers["cache-control"] == "no-store"
        assert SECRET not in client.get("/apps/hello").text  # masked again
        bad = {"csrf": csrf_of(after), "name": "api-key", "value": SECRET}
        refused = client.post("/apps/hello/env", data=bad, headers={"Accept": "text/html"})
        assert refused.status_code == 400 and "the name is not a variable" in refused.text
        assert "api-key" not in refused.text  # what was typed there may be a misplaced secret
        assert SECRET not in refused.text  # a value is never echoed back
        no_token = client.post("/apps/hello/env/reveal", data={})
        assert no_token.status_code == 403 and SECRET not in no_token.text
        no_token = client.post("/apps/hello/env", data={"name": "API_KEY", "value": "other"})
        assert no_token.status_code == 403
    reveals = [e for e in _audit_json(web, "env.reveal") if e["actor"] == "configurer"]
    assert [(e["target"], e["outcome"]) for e in reveals] == [("hello", "ok")]
    sets = [e for e in _audit_json(web, "env.set") if e["actor"] == "configurer"]
    assert [(e["target"], e["outcome"]) for e in sets] == [("hello", "ok")]
    assert _env_json(web, "--reveal") == {"API_KEY": SECRET}
    _settled(web)


def test_a_dotenv_text_is_imported_staged_and_the_changes_are_listed_without_values(
    web: DevWeb,
) -> None:
    _settled(web)
    web.daemon.call("env.set", {"app": "hello", "set": {"STALE": "old"}, "restart": False})
    password = web.add_user("importer", "deployer")
    dotenv = f'# from the laptop\nexport IMPORTED_KEY="{SECRET}"\nPOOL=5\n'
    with browser(web, "198.51.100.13") as client:
        assert log_in(client, "importer", password).status_code == 303
        page = client.get("/apps/hello")
        token = csrf_of(page.text)
        fields = {"csrf": token, "dotenv": dotenv, "replace": "1", "stage": "1"}
        imported = client.post("/apps/hello/env/import", data=fields)
        assert imported.status_code == 303, imported.text
        after = client.get("/apps/hello").text
        notice = re.search(r"Config version (\d+) of hello \(([^)]*)\) staged", after)
        assert notice, after
        assert set(notice[2].split(", ")) >= {"+IMPORTED_KEY", "+POOL", "-STALE"}
        assert SECRET not in after  # masked in the table, the notice and the history
        history = re.search(r'<table class="cards" id="config-history">.*?</table>', after, re.S)
        assert history and "+IMPORTED_KEY" in history[0] and "importer" in history[0], after
        listed = web.daemon.call("env.list", {"app": "hello"})
        assert listed.version == int(notice[1]) and listed.live_version != listed.version  # type: ignore[attr-defined]
        assert "STALE" not in _env_json(web) and "POOL" in _env_json(web)

        missing = client.post(
            "/apps/hello/env/import",
            data={"csrf": token, "dotenv": f"LONE\nOTHER={SECRET}\n"},
            headers={"Accept": "text/html"},
        )
        assert missing.status_code == 400 and "line 1 is not NAME=value" in missing.text
        assert SECRET not in missing.text
        bad = client.post(
            "/apps/hello/env/import",
            data={"csrf": token, "dotenv": f"lower-case={SECRET}\n"},
            headers={"Accept": "text/html"},
        )
        assert bad.status_code == 400 and "line 1 is not NAME=value" in bad.text
        assert "lower-case" not in bad.text and SECRET not in bad.text
    assert _env_json(web, "--reveal")["IMPORTED_KEY"] == SECRET
    web.daemon.call("env.set", {"app": "hello", "unset": ["IMPORTED_KEY", "POOL"]})
    _settled(web)


def test_a_viewer_sees_config_masked_with_no_forms_and_forged_posts_are_refused(
    web: DevWeb,
) -> None:
    _settled(web)
    web.daemon.call("env.set", {"app": "hello", "set": {"VIEWED": SECRET}, "restart": False})
    web.daemon.call(
        "domains.attach", {"app": "hello", "domain": "seen.example.test", "verify_dns": False}
    )
    password = web.add_user("peeker", "viewer")
    with browser(web, "198.51.100.11") as client:
        assert log_in(client, "peeker", password).status_code == 303
        page = client.get("/apps/hello")
        assert page.status_code == 200 and "VIEWED" in page.text and SECRET not in page.text
        assert "seen.example.test" in page.text
        assert "/domains/verify" in page.text  # a viewer may check DNS, not change anything
        for form in (
            "/env/reveal",
            '/apps/hello/env"',
            "/env/import",
            '/domains"',
            "/domains/detach",
        ):
            assert form not in page.text, form
        token = csrf_of(page.text)
        forged = [
            client.post("/apps/hello/env/reveal", data={"csrf": token}),
            client.post("/apps/hello/env", data={"csrf": token, "name": "X", "value": "1"}),
            client.post("/apps/hello/domains", data={"csrf": token, "domain": "p.example.test"}),
            client.post(
                "/apps/hello/domains/detach", data={"csrf": token, "domain": "seen.example.test"}
            ),
        ]
        assert [f.status_code for f in forged] == [403] * 4
        assert forged[0].json() == {"error": "env.reveal needs the deployer role; peeker is viewer"}
        assert all(SECRET not in f.text for f in forged)
    for method in ("env.reveal", "env.set", "domains.attach", "domains.detach"):
        refused = [e for e in _audit_json(web, method) if e["actor"] == "peeker"]
        assert [(e["outcome"], e["target"]) for e in refused] == [("forbidden", "hello")], method
    assert "X" not in _env_json(web)
    domains = web.daemon.call("domains.list", {"app": "hello"}).domains  # type: ignore[attr-defined]
    assert [d.domain for d in domains] == ["seen.example.test"]
    web.daemon.call("domains.detach", {"app": "hello", "domain": "seen.example.test"})


def test_a_domain_is_attached_and_detached_from_the_page(web: DevWeb) -> None:
    password = web.add_user("namer", "deployer")
    with browser(web, "198.51.100.12") as client:
        assert log_in(client, "namer", password).status_code == 303
        page = client.get("/apps/hello")
        assert 'id="domain-attach"' in page.text and "No domain attached" in page.text
        token = csrf_of(page.text)
        no_token = client.post("/apps/hello/domains", data={"domain": "www.hello.test"})
        assert no_token.status_code == 403
        attached = client.post(
            "/apps/hello/domains", data={"csrf": token, "domain": "www.hello.test"}
        )  # TLS and the DNS check unticked
        assert attached.status_code == 303, attached.text
        shown = client.get("/apps/hello").text
        assert "www.hello.test attached to hello" in shown
        row = re.search(
            r"<tr>\s*<td class=\"name url\"><a [^>]*>www.hello.test</a></td>.*?</tr>", shown, re.S
        )
        assert row and 'data-label="TLS">no<' in row[0] and "not checked" in row[0], shown
        checked = client.post(
            "/apps/hello/domains/verify", data={"csrf": token, "domain": "www.hello.test"}
        )
        assert checked.status_code == 303, checked.text
        shown = client.get("/apps/hello").text
        assert re.search(r"www.hello.test: DNS not ready: .+ \(points at ", shown), shown
        row = re.search(
            r"<tr>\s*<td class=\"name url\"><a [^>]*>www.hello.test</a></td>.*?</tr>", shown, re.S
        )
        assert row and "not checked" not in row[0], shown  # the check is kept
        domains = web.daemon.call("domains.list", {"app": "hello"}).domains  # type: ignore[attr-defined]
        assert [(d.domain, d.tls) for d in domains] == [("www.hello.test", False)]
        detached = client.post(
            "/apps/hello/domains/detach", data={"csrf": token, "domain": "www.hello.test"}
        )
        assert detached.status_code == 303, detached.text
        shown = client.get("/apps/hello").text
        assert "www.hello.test detached from hello" in shown and "No domain attached" in shown
    assert not web.daemon.call("domains.list", {"app": "hello"}).domains  # type: ignore[attr-defined]
    for method in ("domains.attach", "domains.detach"):
        made = [e for e in _audit_json(web, method) if e["actor"] == "namer"]
        assert [(e["outcome"], e["target"]) for e in made] == [("ok", "hello")], method


def _read_stream(
    client: httpx.Client,
    query: dict[str, str],
    *,
    until: str | None,
    last_event_id: int | None = None,
) -> list[dict[str, str]]:
    """The frames of one /events stream, up to the user.added of `until`, or to its end."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    seen = []
    with client.stream("GET", "/events", params=query, headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for frame in frames(stream.iter_lines()):
            seen.append(frame)
            if until is not None and f"added {until} (" in frame.get("data", ""):
                break
    return seen


def _version() -> str:
    from deployd import __version__

    return __version__


def _web_processes(web: DevWeb) -> list[str]:
    ps: Any = web.daemon.call("apps.ps", {"name": "hello"})
    return sorted(p.name for p in ps.processes if p.release == ps.live_release and p.state == "up")


def test_processes_are_scaled_restarted_stopped_and_started_from_the_page(web: DevWeb) -> None:
    _settled(web)
    password = web.add_user("operator", "deployer")
    with browser(web, "198.51.100.14") as client:
        assert log_in(client, "operator", password).status_code == 303
        page = client.get("/apps/hello").text
        assert (
            'id="scale"' in page
            and 'name="scale.web" type="number" min="0" max="100" value="1"' in page
        )
        token = csrf_of(page)
        scaled = client.post("/apps/hello/scale", data={"csrf": token, "scale.web": "2"})
        assert scaled.status_code == 303, scaled.text
        assert "Scaling (web=2) of hello started" in client.get("/apps/hello").text
        wait_for(lambda: _web_processes(web) == ["web.1", "web.2"], 120)
        _settled(web)  # the scaling job may still be finishing: a restart now would be refused
        before = {p.name: p.pid for p in web.daemon.call("apps.ps", {"name": "hello"}).processes}  # type: ignore[attr-defined]

        restarted = client.post("/apps/hello/restart", data={"csrf": token})
        assert restarted.status_code == 303
        _settled(web)
        after = {p.name: p.pid for p in web.daemon.call("apps.ps", {"name": "hello"}).processes}  # type: ignore[attr-defined]
        assert set(after) >= {"web.1", "web.2"} and after["web.1"] != before["web.1"]

        bad = client.post(
            "/apps/hello/scale",
            data={"csrf": token, "scale.web": "many"},
            headers={"Accept": "text/html"},
        )
        assert bad.status_code == 400 and "web=many" in bad.text and "Traceback" not in bad.text

        assert client.post("/apps/hello/stop", data={"csrf": token}).status_code == 303
        _settled(web)
        stopped = client.get("/apps/hello").text
        assert 'id="start"' in stopped and 'id="restart"' not in stopped and "(stopped)" in stopped
        stop_job = re.search(r"Stop of hello started \(job (\d+)\)", stopped)
        assert stop_job, stopped
        its_page = client.get(f"/apps/hello/deploys/{stop_job[1]}").text
        assert (
            "hello is stopped: its address answers 503" in its_page and "is live." not in its_page
        )
        assert fetch(web.daemon, "hello")[0] == 503
        assert client.post("/apps/hello/start", data={"csrf": token}).status_code == 303
        _settled(web)
        client.post("/apps/hello/scale", data={"csrf": token, "scale.web": "1"})
        _settled(web)
    assert _web_processes(web) == ["web.1"]
    assert fetch(web.daemon, "hello")[0] == 200
    for method in ("apps.scale", "apps.restart", "apps.stop", "apps.start"):
        made = [e for e in _audit_json(web, method) if e["actor"] == "operator"]
        assert made and all(e["target"] == "hello" for e in made), method


def test_a_directory_on_the_server_is_read_with_the_rights_of_the_person_not_the_web_process(
    web: DevWeb,
) -> None:
    """The web process is root in dev (deployd_web in production): a local source named
    through it is read as the person's own Unix account, or refused when they have none."""
    source = world_readable_tempdir("deployd-webgui-src-") / "app"
    shutil.copytree(EXAMPLE, source)
    private = world_readable_tempdir("deployd-webgui-private-") / "app"
    shutil.copytree(EXAMPLE, private)
    private.chmod(0o700)  # root's alone
    fields = {"runtime": "auto", "deploy": "1"}
    unmapped = web.add_user("stranger", "deployer")
    with browser(web, "198.51.100.15") as client:
        assert log_in(client, "stranger", unmapped).status_code == 303
        token = csrf_of(client.get("/new/app").text)
        refused = client.post(
            "/new/app",
            data={**fields, "csrf": token, "name": "loot", "path": str(private)},
            headers={"Accept": "text/html"},
        )
        assert refused.status_code == 403, refused.text
        assert "stranger has no Unix account here" in refused.text
    with unix_user("dwg") as account:
        password = web.add_user("local", "deployer", account.pw_name)
        with browser(web, "198.51.100.16") as client:
            assert log_in(client, "local", password).status_code == 303
            token = csrf_of(client.get("/new/app").text)
            hidden = client.post(
                "/new/app",
                data={**fields, "csrf": token, "name": "loot", "path": str(private)},
                headers={"Accept": "text/html"},
            )
            assert hidden.status_code == 400 and "cannot read" in hidden.text, hidden.text
            made = client.post(
                "/new/app", data={**fields, "csrf": token, "name": "mine", "path": str(source)}
            )
            assert made.status_code == 303, made.text
            wait_for(lambda: web.daemon.call("apps.show", {"name": "mine"}).live_release, 120)  # type: ignore[attr-defined]
        events = web.daemon.call("events.list", {"app": "mine", "limit": 100}).events  # type: ignore[attr-defined]
        assert any(f"copying {source} as {account.pw_name}" in e.message for e in events)
        web.daemon.call("apps.delete", {"name": "mine"})
    assert not [a for a in web.daemon.call("apps.list", {}).apps if a.name == "loot"]  # type: ignore[attr-defined]


def test_a_rollback_is_asked_first_and_says_which_config_changes_it_would_undo(
    web: DevWeb,
) -> None:
    _settled(web)
    live = web.daemon.call("apps.show", {"name": "hello"}).live_release  # type: ignore[attr-defined]
    web.daemon.call("env.set", {"app": "hello", "set": {"ROLLBACK_FLAG": "on"}})
    _settled(web)
    password = web.add_user("roller", "deployer")
    with browser(web, "198.51.100.17") as client:
        assert log_in(client, "roller", password).status_code == 303
        asked = client.get("/apps/hello/rollback")
        assert asked.status_code == 200, asked.text
        assert f"Roll hello back to v{live}?" in asked.text
        changes = re.search(r'<ul id="config-changes">.*?</ul>', asked.text, re.S)
        assert changes and re.search(r"go: <code>[^<]*\bROLLBACK_FLAG\b", changes[0]), asked.text
        assert 'id="rollback-today"' in asked.text and 'id="rollback-its"' in asked.text
        missing = client.get("/apps/hello/rollback?to=999", headers={"Accept": "text/html"})
        assert missing.status_code == 404 and "no kept release v999" in missing.text
        fields = {"csrf": csrf_of(asked.text), "to": str(live), "config": "today"}
        rolled = client.post("/apps/hello/rollback", data=fields)
        assert rolled.status_code == 303 and "/apps/hello/deploys/" in rolled.headers["location"]
        _settled(web)
    env = web.daemon.call("env.list", {"app": "hello"})
    assert "ROLLBACK_FLAG" in [v.name for v in env.vars]  # type: ignore[attr-defined]
    assert env.live_version == env.version  # type: ignore[attr-defined]
    releases = web.daemon.call("releases.list", {"app": "hello", "limit": 1}).releases  # type: ignore[attr-defined]
    assert releases[0].live and releases[0].env_version == env.version  # type: ignore[attr-defined]
    viewer = web.add_user("rollwatcher", "viewer")
    with browser(web, "198.51.100.18") as client:
        assert log_in(client, "rollwatcher", viewer).status_code == 303
        refused = client.get("/apps/hello/rollback", headers={"Accept": "text/html"})
        assert refused.status_code == 403 and "needs the deployer role" in refused.text
    web.daemon.call("env.set", {"app": "hello", "unset": ["ROLLBACK_FLAG"]})
    _settled(web)
