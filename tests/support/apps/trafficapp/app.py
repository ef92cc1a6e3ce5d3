"""Answers as asked, so a test knows what nginx logged: /status/503, /bytes/4096,
/slow/250 (milliseconds), anything else 200 with a short body."""

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        status, body = 200, b"ok\n"
        if parts[0] == "status" and len(parts) == 2:
            status = int(parts[1])
        elif parts[0] == "bytes" and len(parts) == 2:
            body = b"x" * int(parts[1])
        elif parts[0] == "slow" and len(parts) == 2:
            time.sleep(int(parts[1]) / 1000)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()
