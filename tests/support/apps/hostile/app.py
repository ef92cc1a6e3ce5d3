"""A hostile app: on request it tries what one app must never manage against another (or
against deployd), and reports what happened. POST /attack with a JSON list of operations:

    {"op": "read", "path": P}        read up to 200 bytes of a file
    {"op": "list", "path": P}        list a directory
    {"op": "write", "path": P}       create or truncate a file
    {"op": "signal", "pid": N}       send signal 0 (permission is checked as for any signal)
    {"op": "fifo", "path": P}        replace P with a FIFO
    {"op": "symlink", "path": P, "to": T}   replace P with a symlink to T

Each answer is {"ok": true, "data": ...} or {"ok": false, "error": "EACCES"}. It also
prints terminal escape sequences to its log at start (a screen clear, a clipboard write).
"""

import contextlib
import errno
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.stdout.write("hostile: \x1b[2J\x1b]52;c;cHduZWQ=\x07 started\n")
sys.stdout.flush()


def attempt(op):
    try:
        kind = op["op"]
        if kind == "read":
            with open(op["path"], "rb") as fh:
                return {"ok": True, "data": fh.read(200).decode(errors="replace")}
        if kind == "list":
            return {"ok": True, "data": sorted(os.listdir(op["path"]))}
        if kind == "write":
            with open(op["path"], "w") as fh:
                fh.write("pwned\n")
            return {"ok": True}
        if kind == "signal":
            os.kill(int(op["pid"]), 0)
            return {"ok": True}
        if kind in ("fifo", "symlink"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(op["path"])
            if kind == "fifo":
                os.mkfifo(op["path"])
            else:
                os.symlink(op["to"], op["path"])
            return {"ok": True}
        return {"ok": False, "error": "unknown op"}
    except OSError as exc:
        return {"ok": False, "error": errno.errorcode.get(exc.errno, str(exc.errno))}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps(
            {
                "uid": os.getuid(),
                "gid": os.getgid(),
                "groups": os.getgroups(),
                "pid": os.getpid(),
                "cwd": os.getcwd(),
                "release": os.environ.get("DEPLOYD_RELEASE"),
            }
        ).encode()
        self.reply(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        ops = json.loads(self.rfile.read(length))
        self.reply(json.dumps([attempt(op) for op in ops]).encode())

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
