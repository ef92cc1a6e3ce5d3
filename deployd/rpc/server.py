"""The asyncio Unix-socket server.

One task per connection reads lines and starts one task per request (at most
`MAX_IN_FLIGHT` at once, so a flooding client is slowed by backpressure, not by memory);
replies and notifications share one write lock. A connection is refused before any method
runs when its peer may not connect. A client that never writes is dropped after the
handshake timeout, an idle one after the idle timeout (unless it holds a stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
from pathlib import Path
from typing import Any

from deployd.protocol import framing
from deployd.protocol.common import Role
from deployd.protocol.errors import ErrorKind, RpcError, forbidden, unavailable
from deployd.protocol.events import STREAM_ENDED_NOTIFICATION, StreamEnded
from deployd.protocol.methods import METHODS
from deployd.services import users
from deployd.services.core import Caller, Core

from .dispatch import Dispatcher
from .peer import peer_credentials

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 16
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before the loop accepts them (asyncio's default, 100, lets
a burst of clients see EAGAIN on a busy machine)."""
SHUTDOWN_GRACE = 5.0


class Connection:
    def __init__(
        self,
        core: Core,
        dispatcher: Dispatcher,
        caller: Caller,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.core = core
        self.dispatcher = dispatcher
        self.caller = caller
        self.reader = reader
        self.writer = writer
        self.write_lock = asyncio.Lock()
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()
        self.streams = 0
        self.closing = False
        self.max_line = (
            framing.MAX_TRUSTED_LINE_BYTES
            if caller.identity.role is Role.ADMIN
            or caller.identity.unix_user == core.settings.web_user
            else framing.MAX_LINE_BYTES
        )
        # asyncio has no public way to set a reader's limit after the server made it; the
        # server's is the small one, raised here for the callers a webhook comes through
        reader._limit = self.max_line + 2  # type: ignore[attr-defined]

    async def send(self, message: dict[str, Any]) -> None:
        async with self.write_lock:
            self.writer.write(framing.encode(message))
            await self.writer.drain()

    async def run(self) -> None:
        settings = self.core.settings
        first = True
        try:
            while not self.closing:
                if first:
                    timeout: float | None = settings.handshake_timeout
                else:
                    timeout = None if self.streams else settings.idle_timeout
                try:
                    line = await asyncio.wait_for(self.reader.readline(), timeout)
                except TimeoutError:
                    if self.tasks and not first:  # a long call under way (a backup): not idle
                        continue
                    break
                except ValueError:  # the line outgrew the reader's limit
                    err = RpcError(
                        ErrorKind.INVALID_REQUEST,
                        f"request larger than {self.max_line} bytes",
                    )
                    await self.send(framing.error(None, err))
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                first = False
                await self.in_flight.acquire()
                task = asyncio.create_task(self._handle(line))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self._close()

    async def _handle(self, line: bytes) -> None:
        try:
            try:
                request = framing.decode_request(line, self.max_line)
            except framing.BadRequest as exc:
                await self.send(framing.error(exc.request_id, exc))
                return
            try:
                first, stream = await self.dispatcher.call(self.caller, request)
            except RpcError as exc:
                if not request.is_notification:
                    await self.send(framing.error(request.id, exc))
                return
            if not request.is_notification:
                await self.send(framing.result(request.id, first.model_dump(mode="json")))
            if stream is not None:
                await self._pump(METHODS[request.method].notification or request.method, stream)
        except ConnectionError:
            self.closing = True
        finally:
            self.in_flight.release()

    async def _pump(self, notification: str, stream: Any) -> None:
        self.streams += 1
        try:
            async for item in stream:
                await self.send(framing.notification(notification, item.model_dump(mode="json")))
        except RpcError as exc:  # the source ended the stream: shutdown, or a slow reader
            ended = StreamEnded(reason=exc.message, kind=exc.kind.value)
        else:
            ended = StreamEnded(reason="complete", kind="complete")
        finally:
            self.streams -= 1
        await self.send(framing.notification(STREAM_ENDED_NOTIFICATION, ended.model_dump()))
        self.stop()

    def stop(self) -> None:
        """Stop reading; requests under way still get their replies."""
        self.closing = True
        self.reader.feed_eof()

    async def _close(self) -> None:
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.close()
            await self.writer.wait_closed()


class RpcServer:
    def __init__(self, core: Core, path: Path) -> None:
        self.core = core
        self.path = path
        self.dispatcher = Dispatcher(core)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open: set[Connection] = set()

    async def start(self) -> None:
        """Bind with permissions set before listening: no moment where anyone may connect."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # stale: the caller holds the lock file, so no daemon owns it
        old_umask = os.umask(0o777 & ~self.core.settings.socket_mode)
        try:
            self._server = await asyncio.start_unix_server(
                self._on_connect,
                path=str(self.path),
                limit=framing.MAX_LINE_BYTES + 2,
                backlog=LISTEN_BACKLOG,
                start_serving=False,
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, self.core.settings.socket_mode)
        self._set_group()
        await self._server.start_serving()

    def _set_group(self) -> None:
        try:
            gid = grp.getgrnam(self.core.settings.group).gr_gid
        except KeyError:
            return
        with contextlib.suppress(PermissionError):
            os.chown(self.path, -1, gid)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self.core.bus.close()
        for connection in list(self._open):
            connection.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE + 1)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.core.connections += 1
        connection = None
        try:
            caller = await self._admit(writer)
            if caller is not None:
                connection = Connection(self.core, self.dispatcher, caller, reader, writer)
                self._open.add(connection)
                await connection.run()
        finally:
            self.core.connections -= 1
            self._tasks.discard(task)
            if connection is not None:
                self._open.discard(connection)

    async def _admit(self, writer: asyncio.StreamWriter) -> Caller | None:
        creds = peer_credentials(writer.get_extra_info("socket"))
        refusal: RpcError | None = None
        identity = None
        if self.core.connections > self.core.settings.max_connections:
            refusal = unavailable("too many connections; try again shortly")
        else:
            try:
                identity = await users.identify_peer(self.core, creds.uid, creds.gid)
            except Exception:
                log.exception("could not identify peer uid %d", creds.uid)
                refusal = unavailable("the daemon cannot check who you are right now")
            else:
                if identity is None:
                    log.warning("refused a connection from uid %d (pid %d)", creds.uid, creds.pid)
                    refusal = forbidden(
                        "you may not use deployd: ask an admin to map your Unix user "
                        f"(`deployctl users add NAME --unix-user ...`) or to add you to the "
                        f"{self.core.settings.group!r} group"
                    )
        if refusal is not None or identity is None:
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(framing.encode(framing.error(None, refusal or forbidden("refused"))))
                await writer.drain()
                writer.close()
            return None
        return Caller(identity=identity, peer_uid=creds.uid, peer_pid=creds.pid)
