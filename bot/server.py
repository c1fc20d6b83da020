"""How `bot serve` runs uvicorn: a bounded time to send a request, and a bounded number of connections.

uvicorn's h11 protocol waits for a request's line and headers as long as the client likes: its keep-alive
timeout only starts once a response is complete. A client that opens a connection and sends its headers a byte
at a time, or nothing at all, holds a socket (a file descriptor) indefinitely, and a few hundred of them make a
worker unreachable. `BoundedH11Protocol` adds, per connection:

- a deadline for the request line and headers (`receive_timeout_s`), counted from the moment the connection
  opens, or on a kept-alive connection from the first byte of the next request (until then it is idle, and
  uvicorn's keep-alive timeout closes it); past it the connection is closed, after a 408 when part of a
  request had arrived (a connection that sent nothing is closed quietly, as browsers' spare connections are);
- a cap on open connections per worker (`max_connections`, kept below the process's open-file limit) and per
  client address (`max_connections_per_client`), checked when a connection is accepted: a connection over it
  gets a 503 and is closed at once, so its socket is freed at once. (uvicorn's own `limit_concurrency` only
  answers once a request's headers are complete, so slow connections still pile up, and it logs every 503);
- closing the connection when a response is complete while the client is still sending a body that was never
  read (a GET trickling a body after its answer).

The body's own deadline is `bot.security.Security` (408 with a JSON body). Refusals and drops are logged through
`ThrottledLog`: a line at once, then at most one a minute with a count.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr

from .config import Settings
from .security import HEADERS, ThrottledLog

log = logging.getLogger(__name__)
SLOW_HEADERS = ThrottledLog(log)
REFUSED = ThrottledLog(log)
FD_HEADROOM = 64  # descriptors kept for the index, the databases, logs and the listening sockets


def _raw_response(status: str, detail: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    body = ('{"detail": "' + detail + '"}').encode()
    head = [f"HTTP/1.1 {status}".encode(), b"content-type: application/json", b"connection: close",
            b"content-length: " + str(len(body)).encode()]  # fmt: skip
    head += [name + b": " + value for name, value in (*HEADERS, *extra)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


TOO_MANY = _raw_response("503 Service Unavailable", "Too many connections; try again shortly.",
                         ((b"retry-after", b"5"),))  # fmt: skip


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for request headers and caps on open connections."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        receive_timeout_s: float = 10.0,
        max_connections: int | None = None,
        max_connections_per_client: int = 0,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.receive_timeout_s = receive_timeout_s
        self.max_connections = max_connections
        self.max_connections_per_client = max_connections_per_client
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def _over_limit(self, host: str | None) -> str | None:
        open_now = self.server_state.connections
        if self.max_connections is not None and len(open_now) >= self.max_connections:
            return f"{len(open_now)} connections open (limit {self.max_connections})"
        if self.max_connections_per_client and host is not None:
            mine = sum(1 for c in open_now if (getattr(c, "client", None) or ("",))[0] == host)
            if mine >= self.max_connections_per_client:
                return f"{mine} connections open from it (limit {self.max_connections_per_client})"
        return None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = get_remote_addr(transport)
        host = peer[0] if peer else None
        reason = self._over_limit(host)
        if reason is not None:
            self.transport = transport
            self._refused = True
            transport.write(TOO_MANY)
            transport.close()
            REFUSED.note("refused a connection from %s: %s (503)", host, reason)
            return
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.receive_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of another request on a kept-alive connection: the deadline starts
        super().data_received(data)
        if self._head_timer is not None and self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request line and headers are in; the body has its deadline in bot.security

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:  # answered, but the client is still sending an unread body
            self.transport.close()
        # An idle kept-alive connection is uvicorn's keep-alive timeout's (BOT_KEEP_ALIVE_S); the next request's
        # deadline starts with its first byte (data_received).

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a request line or headers has arrived
            self.transport.write(_raw_response("408 Request Timeout", "The request headers did not arrive in time."))
            host = self.client[0] if self.client else "?"
            SLOW_HEADERS.note("dropped a slow client %s: its request headers did not arrive within %g s (408)",
                              host, self.receive_timeout_s)  # fmt: skip
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


ACCEPT_ERRORS = ThrottledLog(log)
OUT_OF_RESOURCES = "socket.accept() out of system resource"


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log "cannot accept: too many open files" as one line a minute instead of asyncio's traceback per attempt.

    When accept() fails with EMFILE, asyncio (3.11) logs a traceback and carries on with the rest of its accept
    loop, up to `backlog` (2,048) times per tick, and again every second: 300 slow connections under
    `ulimit -n 256` logged 681,844 tracebacks in 35 s. Any other error goes to the handler there was before."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == OUT_OF_RESOURCES:
            ACCEPT_ERRORS.note("cannot accept new connections for now (%s): they wait in the queue; raise the "
                               "open-file limit or lower BOT_MAX_CONNECTIONS", context.get("exception"))  # fmt: skip
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def connection_limit(wanted: int) -> int:
    """`wanted`, lowered to leave FD_HEADROOM descriptors under the process's open-file limit (at least 8)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft - FD_HEADROOM))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments `bot serve` gives `uvicorn.run` (or a test gives `uvicorn.Config`): the bounded h11
    protocol, keep-alive, header size limit and the proxy handling the settings ask for."""
    # With trust_proxy_headers every peer is the proxy: a per-address cap would cap everyone together.
    per_client = 0 if settings.trust_proxy_headers else settings.max_connections_per_client
    protocol = functools.partial(
        BoundedH11Protocol,
        receive_timeout_s=settings.receive_timeout_s,
        max_connections=connection_limit(settings.max_connections),
        max_connections_per_client=per_client,
    )
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default, so any local peer could pick its own
        # address (and rate-limit key): its proxy handling is on only when the settings ask for it.
        "proxy_headers": settings.trust_proxy_headers,
        "forwarded_allow_ips": settings.trusted_proxies,
    }
