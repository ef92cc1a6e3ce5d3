"""Serves which of its dependencies it could import (they come from uv.lock)."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import six


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"six": six.__version__, "release": os.environ["DEPLOYD_RELEASE"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
