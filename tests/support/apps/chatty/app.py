"""An app that floods its log on request: GET /flood?lines=N&long=BYTES prints N numbered
lines and then one line BYTES long (for the TUI's log viewer under load)."""

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/flood":
            asked = parse_qs(url.query)
            lines = int(asked.get("lines", ["0"])[0])
            long = int(asked.get("long", ["0"])[0])
            out = sys.stdout
            for number in range(lines):
                out.write(f"flood line {number}\n")
            if long:
                out.write("L" * long + " end-of-long-line\n")
            out.write("flood done\n")
            out.flush()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
