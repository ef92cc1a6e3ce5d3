"""Push to deploy's figures (issue 16), this machine, on loopback.

A throwaway `deployd dev --web-port` (deployd web beside it), the GitHub stand-in (GitHub's
wire protocol: device flow, REST, webhooks, git over smart HTTP) holding a private
repository with a small app (a Procfile, the standard library only: its build is a copy),
connected with `deployctl github connect`. Then `--pushes` pushes, one at a time:

1. webhook received → deploy started: the delivery's `received_at` (the daemon recorded
   it) to the job's `started_at` (the job runner took it: the fetch begins), and to its
   build step. Target ≤ 1 s.
2. push → live: from the push (the stand-in commits and sends the webhook) until the app
   answers with the pushed version through nginx. Target ≤ 5 s.

    .venv/bin/python bench/github_hooks.py [--pushes 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import BIN, ctl, dev_daemon, free_port  # noqa: E402

from deployctl.client import Client  # noqa: E402
from tests.e2e.test_github_hooks import FILES, REPO  # noqa: E402
from tests.support.github_standin import GitHubStandIn  # noqa: E402

CLIENT_ID = "Ov23liBenchDeployd01"


def login(socket: Path, gh: GitHubStandIn) -> None:
    process = subprocess.Popen(
        [str(BIN / "deployctl"), "--socket", str(socket), "github", "login", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    gh.approve(json.loads(process.stdout.readline())["user_code"])
    if process.wait(60) != 0:
        raise SystemExit("the login failed")


def version(http_port: int) -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)
    try:
        connection.request("GET", "/", headers={"Host": "shop.localhost"})
        found: str = json.loads(connection.getresponse().read())["version"]
        return found
    except (OSError, ValueError, KeyError):
        return None
    finally:
        connection.close()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def main(pushes: int) -> None:
    web_port, http_port = free_port(), free_port()
    with GitHubStandIn(Path(tempfile.mkdtemp(prefix="bench-gh-")), device_interval=1) as gh:
        gh.add_user("octocat")
        gh.add_oauth_app(CLIENT_ID)
        gh.add_repo(REPO, private=True, files=FILES)
        settings = {
            "DEPLOYD_HTTP_PORT": str(http_port),
            "DEPLOYD_GITHUB_CLIENT_ID": CLIENT_ID,
            "DEPLOYD_GITHUB_API_URL": gh.api_url,
            "DEPLOYD_GITHUB_URL": gh.web_url,
            "DEPLOYD_GITHUB_HOOK_URL": f"http://127.0.0.1:{web_port}/hooks/github",
        }
        extra = ["--no-example", "--web-port", str(web_port)]
        with dev_daemon(extra, settings) as (socket, _):
            login(socket, gh)
            started = time.monotonic()
            ctl(socket, "github", "connect", "shop", REPO)
            took = time.monotonic() - started
            print(f"connect (webhook, app, first deploy followed): {took:.2f} s")
            to_start, to_build, to_live = [], [], []
            for number in range(pushes):
                wanted = f"push-{number}"
                pushed = time.monotonic()
                gh.push(REPO, "main", {"version.txt": wanted + "\n"})
                while version(http_port) != wanted:
                    if time.monotonic() - pushed > 60:
                        raise SystemExit(f"{wanted} never went live")
                    time.sleep(0.02)
                to_live.append(time.monotonic() - pushed)
                delivery = json.loads(ctl(socket, "github", "deliveries", "shop", "--json"))[
                    "deliveries"
                ][0]
                with Client(socket) as client:
                    job = client.call("deploys.show", {"job": delivery["job"]})
                received = at(delivery["received_at"])
                to_start.append((job.started_at - received).total_seconds())
                events = json.loads(
                    ctl(socket, "events", "--kind", "deploy", "--json", "--limit", "200")
                )
                built = [
                    at(e["at"])
                    for e in events["events"]
                    if e["kind"] == "deploy.step"
                    and e["data"].get("job") == job.id
                    and e["data"].get("step") == "build"
                ]
                if built:
                    to_build.append((min(built) - received).total_seconds())
            for label, values, target in (
                ("webhook received -> deploy started (fetch)", to_start, "<= 1 s"),
                ("webhook received -> build step", to_build, "<= 1 s"),
                ("push -> live (through nginx)", to_live, "<= 5 s"),
            ):
                if not values:
                    print(f"{label}: not measured")
                    continue
                print(
                    f"{label}: median {statistics.median(values):.3f} s, "
                    f"min {min(values):.3f}, max {max(values):.3f} ({len(values)} pushes; "
                    f"target {target})"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=10)
    main(parser.parse_args().pushes)
