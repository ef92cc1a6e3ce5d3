"""Is a TCP port on loopback free for a slot? Asked of the kernel, by binding it."""

from __future__ import annotations

import socket


def is_free(port: int) -> bool:
    """No socket listens on it. With SO_REUSEADDR, as servers bind: connections of an
    earlier process still in TIME_WAIT do not make a port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
