"""Reports which of its app.json scripts have run (each leaves a file behind)."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

FILES = ("predeployed", "postdeployed", "first-deploy")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ran = {name: os.path.exists(name) for name in FILES}
        body = json.dumps({"status": "alive", "ran": ran}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
