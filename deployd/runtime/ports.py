"""Is a TCP port on loopback free for a slot? Asked of the kernel, by binding it."""

from __future__ import annotations

import socket


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
