"""The example app deployd deploys on first `deployd dev`: standard library only."""

import contextlib
import json
import os
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
RELEASE = os.environ.get("DEPLOYD_RELEASE", "?")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle's algorithm the second waits for
    # the client's delayed ACK, adding 40 ms to every response.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path not in ("/", "/health"):
            self.send_error(404)
            return
        if self.path == "/health":
            body = b"ok\n"
        else:
            body = (
                json.dumps(
                    {
                        "hello": "from deployd",
                        "app": os.environ.get("DEPLOYD_APP"),
                        "release": RELEASE,
                        "slot": os.environ.get("DEPLOYD_SLOT"),
                        "host": socket.gethostname(),
                        "uptime_seconds": round(time.time() - STARTED, 1),
                    }
                )
                + "\n"
            ).encode()
        self.send_response(200)
        self.send_header(
            "Content-Type", "text/plain" if self.path == "/health" else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        with contextlib.suppress(OSError):  # a full log disk must not take the app down
            print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"release {RELEASE} listening on 127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
