"""Accepting connections for the server: out of descriptors is waited out, and one client
address may hold only so many connections.

uvicorn is given no listening socket: `Acceptor` accepts connections itself, so that running
out of file descriptors is logged and retried the same way on uvloop and asyncio, and so that a
client over its connection cap is closed before it costs a protocol.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from contextlib import suppress

# Accepting stops this long when the process is out of descriptors (asyncio waits 1 s).
ACCEPT_RETRY_S = 0.5
# A process at its descriptor limit may stop and start accepting many times a minute: the
# error is logged at most this often.
ACCEPT_LOG_EVERY_S = 60.0
ACCEPT_BATCH = 128
# The client went away while queued, or a firewall said no: the next one may be fine.
CLIENT_GONE = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ECONNRESET}
TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 25\r\nconnection: close\r\nretry-after: 60\r\n\r\n"
    b"Too many connections open\n"
)
log = logging.getLogger("feedsvc.serve")


class Acceptor:
    """Accepts connections on a listening socket and hands them to new protocols.

    Out of descriptors (EMFILE and the like), it says so once, stops accepting for
    ACCEPT_RETRY_S and tries again, and says when it accepts again; queued clients wait in the
    backlog meanwhile. A client address holding ``per_client`` connections has further ones
    closed (with a 503) until one of its own closes, and is named once in the log per episode.
    """

    def __init__(
        self,
        sock: socket.socket,
        new_protocol: Callable[[Callable[[], None]], asyncio.Protocol],
        per_client: int,
    ) -> None:
        self._sock = sock
        self._new_protocol = new_protocol
        self._per_client = per_client
        self._loop = asyncio.get_running_loop()
        self._open: dict[str, int] = {}
        self._over: set[str] = set()  # addresses named in the log, until all theirs close
        self._failing: OSError | None = None
        self._failure_logged = False  # this episode's failure was logged
        self._logged_at = -ACCEPT_LOG_EVERY_S
        self._retry: asyncio.TimerHandle | None = None
        self._opening: set[asyncio.Task[None]] = set()
        self._loop.add_reader(sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting (the socket stays open: its owner closes it)."""
        if self._retry is not None:
            self._retry.cancel()
        self._loop.remove_reader(self._sock.fileno())

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in CLIENT_GONE:
                    continue
                self._pause(exc)
                return
            if self._failing is not None:
                if self._failure_logged:
                    log.warning("accepting connections again (%d open)", sum(self._open.values()))
                self._failing = None
            self._admit(conn, address[0] if isinstance(address, tuple) else "")

    def _pause(self, exc: OSError) -> None:
        now = self._loop.time()
        if self._failing is None:  # a new episode: said, unless one was said a moment ago
            self._failure_logged = now - self._logged_at >= ACCEPT_LOG_EVERY_S
            if self._failure_logged:
                self._logged_at = now
                what = "out of file descriptors" if exc.errno == errno.EMFILE else "failing"
                log.error(
                    "cannot accept connections (%s: %s, %d open): retrying every %g s",
                    what,
                    exc.strerror,
                    sum(self._open.values()),
                    ACCEPT_RETRY_S,
                )
        self._failing = exc
        self._loop.remove_reader(self._sock.fileno())
        self._retry = self._loop.call_later(ACCEPT_RETRY_S, self._resume)

    def _resume(self) -> None:
        self._retry = None
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def _admit(self, conn: socket.socket, client: str) -> None:
        held = self._open.get(client, 0)
        if self._per_client and held >= self._per_client:
            if client not in self._over:
                self._over.add(client)
                log.warning(
                    "client %s holds %d connections: closing its further ones", client, held
                )
            with suppress(OSError):
                conn.setblocking(False)
                conn.send(TOO_MANY)
            conn.close()
            return
        self._open[client] = held + 1
        conn.setblocking(False)
        with suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        release = self._releaser(client)
        task = self._loop.create_task(self._open_connection(conn, release))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    def _releaser(self, client: str) -> Callable[[], None]:
        """A callable that gives back one of ``client``'s connections, however often called."""
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open[client] - 1
            if left:
                self._open[client] = left
            else:
                del self._open[client]
                self._over.discard(client)

        return release

    async def _open_connection(self, conn: socket.socket, release: Callable[[], None]) -> None:
        try:
            await self._loop.connect_accepted_socket(lambda: self._new_protocol(release), conn)
        except OSError as exc:
            log.info("lost a connection as it opened: %s", exc)
            release()
            conn.close()
