"""An app that keeps its data in the database deployd links to it (DATABASE_URL), through
psql, so it needs no driver: /add?item=X stores a row, / lists the rows."""

import json
import os
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def sql(statement: str, *values: str) -> list[str]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no DATABASE_URL")
    argv = ["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1"]
    for index, value in enumerate(values, start=1):
        argv += ["-v", f"v{index}={value}"]
    done = subprocess.run(  # read from stdin: psql interpolates :'v1' there, not in -c
        argv, input=statement, capture_output=True, text=True, timeout=10, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return [line for line in done.stdout.splitlines() if line]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        try:
            if url.path == "/health":
                body: object = "ok"
            elif url.path == "/add":
                item = parse_qs(url.query)["item"][0]
                sql("CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text)")
                sql("INSERT INTO items (name) VALUES (:'v1')", item)
                body = {"added": item}
            else:
                body = {"items": sql("SELECT name FROM items ORDER BY id")}
            status = 200
        except Exception as exc:
            status, body = 500, {"error": str(exc)}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
