"""A test app that tells what environment it got, and prints its API_TOKEN to its log:
once whole, and once split across two writes (the launcher must mask both). With
CRASH_AT_START set it exits at once, saying the token once more."""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = os.environ.get("API_TOKEN", "")
print(f"starting with API_TOKEN={TOKEN}")
sys.stdout.write("split token: " + TOKEN[: len(TOKEN) // 2])
sys.stdout.flush()
time.sleep(0.05)
sys.stdout.write(TOKEN[len(TOKEN) // 2 :] + "\n")
sys.stdout.flush()
if os.environ.get("CRASH_AT_START"):
    sys.exit(f"giving up, API_TOKEN={TOKEN}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/env":
            body = json.dumps(dict(os.environ)).encode()
        else:
            body = json.dumps({"release": os.environ.get("DEPLOYD_RELEASE")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
