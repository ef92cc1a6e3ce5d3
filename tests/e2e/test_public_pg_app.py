"""A public sample app we did not write, which keeps its data in PostgreSQL through
DATABASE_URL, deploys unchanged and works with `deployctl db create NAME --app APP`
(issue 12): Heroku's "Python: Getting Started" (Django, dj-database-url, psycopg2 built
from PyPI's source), vendored as its authors committed it (see its PROVENANCE)."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, serve
from tests.support.repos import APPS, from_tree


def missing_build_tools() -> list[str]:
    """What pip needs to build psycopg2 from its source for the host's python3 (as Heroku's
    build image has it): the Debian packages that are not here."""
    headers = subprocess.run(
        ["/usr/bin/python3", "-c", "import sysconfig; print(sysconfig.get_path('include'))"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return [
        package
        for package, here in (
            ("gcc", shutil.which("gcc") is not None),
            ("python3-dev", Path(headers, "Python.h").exists()),
            ("libpq-dev", Path("/usr/include/postgresql/libpq-fe.h").exists()),
        )
        if not here
    ]


MISSING = missing_build_tools()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        bool(MISSING) and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
        reason=f"pip builds psycopg2 from source: apt-get install {' '.join(MISSING)}",
    ),
]

SAMPLE = APPS / "public" / "python-getting-started"
APP, DB = "getting-started", "greetings"
PSQL = "/usr/bin/psql"


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


@pytest.fixture(scope="module")
def platform(pg_cluster: PrivateCluster, apps_pg: PrivateCluster) -> Iterator[RunningDaemon]:
    """A daemon whose apps' databases live on their own server, as in production."""
    pg_cluster.ensure_database("e2e_public_pg_app")
    try:
        env = {"DEPLOYD_APPS_DATABASE_URL": apps_pg.conninfo("postgres")}
        with serve(pg_cluster.conninfo("e2e_public_pg_app"), env) as running:
            yield running
    finally:
        pg_cluster.drop_database("e2e_public_pg_app")


def fetch_bytes(platform: RunningDaemon, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": f"{APP}.localhost"})
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def greetings_listed(platform: RunningDaemon) -> list[str]:
    """The times the app's /db/ page lists: one Greeting row saved by each visit."""
    status, _, body = fetch(platform, APP, "/db/")
    assert status == 200, body
    report = body.partition("<h2>Page View Report</h2>")[2].partition("</ul>")[0]
    assert report, body
    return re.findall(r"<li>(.+?)</li>", report)


def test_herokus_getting_started_app_keeps_its_greetings_in_the_database_deployd_made(
    platform: RunningDaemon, workdir: Path
) -> None:
    # pushed as its authors committed it: LICENSE and PROVENANCE are ours to keep beside it
    url = from_tree(workdir, APP, SAMPLE, leave_out=("LICENSE", "PROVENANCE"))
    ok(platform.deployctl("apps", "create", APP, "--git", url))
    # what app.json asks Heroku to generate, a user sets (otherwise a random key per start)
    ok(platform.deployctl("env", "set", APP, f"DJANGO_SECRET_KEY={secrets.token_urlsafe(48)}"))
    created = as_json(platform.deployctl("db", "create", DB, "--app", APP, "--json"))
    assert created["links"] == [{"app": APP, "variable": "DATABASE_URL"}]

    deployed = ok(platform.deployctl("deploy", APP))
    assert "from runtime.txt" in deployed.stdout, deployed.stdout
    assert "manage.py: running collectstatic" in deployed.stdout
    status, _, body = fetch(platform, APP)
    assert status == 200 and "Getting Started with Python on Heroku" in body
    logo = re.search(r'src="(/static/lang-logo\.[0-9a-f]+\.png)"', body)
    assert logo is not None, body  # WhiteNoise's hashed name: collectstatic ran
    image = (SAMPLE / "hello" / "static" / "lang-logo.png").read_bytes()
    assert fetch_bytes(platform, logo.group(1)) == (200, image)

    status, _, body = fetch(platform, APP, "/db/")
    assert status == 500, body  # its database is there, empty: no table yet
    # no `release:` in its Procfile, so `db migrate` has nothing to run, and says so; Heroku's
    # guide of the time had `heroku run python manage.py migrate`, and so does its user here
    nothing = platform.deployctl("db", "migrate", APP)
    assert nothing.returncode == 1 and "no `release:` command" in nothing.stderr, nothing
    migrated = ok(platform.deployctl("run", APP, "--", "python", "manage.py", "migrate"))
    assert "Applying hello.0001_initial... OK" in migrated.stdout, migrated.stdout

    first = greetings_listed(platform)
    second = greetings_listed(platform)
    assert len(first) == 1 and len(second) == 2 and second[0] == first[0]

    # the rows are in PostgreSQL, in the database `db create` made, not in a sqlite file
    database = as_json(platform.deployctl("db", "show", DB, "--reveal", "--json"))["url"]
    counted = subprocess.run(
        [PSQL, database, "-X", "-At", "-c", "SELECT count(*) FROM hello_greeting"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert counted.stdout.strip() == "2", counted.stderr
    encrypted = subprocess.run(
        [PSQL, database, "-X", "-At", "-c", "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN "
         "pg_stat_activity USING (pid) WHERE usename = current_user AND pid <> pg_backend_pid()"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert encrypted.stdout.strip() == "t", encrypted  # the app's kept connection, over TLS
    ls = ok(platform.deployctl("run", APP, "--", "ls"))
    assert "db.sqlite3" not in ls.stdout and "manage.py" in ls.stdout
