"""HTTP hardening for every route: security headers and a request body limit (413), as one ASGI middleware.

The pages get a Content-Security-Policy that allows scripts, styles, images and fetches from this origin
only: no inline scripts, no remote sources, no framing. FastAPI's own API explorers (`/docs`, `/redoc`)
load Swagger UI / ReDoc from a CDN with an inline bootstrap script, so those three paths alone get a
policy that admits them; nothing else does.

Request bodies larger than `max_body_bytes` (BOT_MAX_BODY_BYTES) are refused with 413 and a JSON error,
whether the client declares the size (Content-Length) or streams it chunked. A body that does not arrive
within `body_timeout_s` (BOT_RECEIVE_TIMEOUT_S) is answered 408 and its connection closed: a client trickling
a byte every few seconds no longer holds a connection (and a worker's file descriptor) for as long as it
likes. JSON bodies on the API paths are refused with 400 when nested more than MAX_JSON_DEPTH levels deep,
before any parser sees them.

Dropped slow clients are logged through `ThrottledLog`: one line at once, then at most one line a minute
with a count, never a line per client or per chunk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; manifest-src 'self'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_DEPTH = 32  # an answer is 5 levels deep; Python's parser recurses once per level (RecursionError near 1,000)
JSON_PATHS = ("/api/",)  # paths whose bodies are JSON: their depth is checked before parsing
log = logging.getLogger(__name__)


class ThrottledLog:
    """A warning for a kind of event that may come in floods (slow clients, refused connections): the first is
    logged at once, later ones at most once per `every_s` with the count of those not logged."""

    def __init__(self, logger: logging.Logger, *, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.every_s = every_s
        self.clock = clock
        self._last: float | None = None
        self._skipped = 0
        self._lock = threading.Lock()

    def note(self, message: str, *args: object) -> bool:
        """Log `message % args` unless one was logged less than `every_s` ago; True when it was logged."""
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.every_s:
                self._skipped += 1
                return False
            skipped, self._skipped, self._last = self._skipped, 0, now
        if skipped:
            message += f" ({skipped} more like it not logged since the last such line)"
        self.logger.warning(message, *args)
        return True


SLOW_BODIES = ThrottledLog(log)
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than `limit` levels deep (brackets inside strings do not
    count). It never parses: it is the check that keeps deep input away from the recursive parsers."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def cross_site(headers: Mapping[str, str], *, host: str | None, public_url: str | None = None) -> str | None:
    """Why a request comes from a page of another site, or None when it comes from this one or not from a browser.

    Browsers send `Sec-Fetch-Site` (which no page can forge); older ones only `Origin`, which must then name
    this server (its Host, or the configured public URL). A request with neither is not from a browser's
    cross-site form or script (curl, the tests, other programs) and passes."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return None if site.strip().lower() in {"same-origin", "none"} else f"Sec-Fetch-Site: {site[:40]}"
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin.strip().lower())
    if public_url:
        public = urlsplit(public_url.strip().lower())
        if (parts.scheme, parts.netloc) == (public.scheme, public.netloc):
            return None
    if host and parts.scheme in {"http", "https"} and parts.netloc == host.strip().lower():
        return None
    return f"Origin: {origin[:80]}"


def csp_for(path: str) -> str:
    return DOCS_CSP if path.rstrip("/") in DOCS_PATHS else PAGE_CSP


async def send_json(send: Send, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Answer straight from ASGI middleware with a JSON `{"detail": ...}` body and the given extra headers."""
    body = json.dumps({"detail": detail}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


CLOSE = ((b"connection", b"close"),)  # a refused body may still be arriving: do not keep the connection


class Security:
    """ASGI middleware: add the security headers to every response; refuse request bodies that are too large
    (413), too slow to arrive (408) or, on the JSON API, nested too deeply (400)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s if body_timeout_s and body_timeout_s > 0 else None

    def headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        return [(b"content-security-policy", csp_for(path).encode()), *HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        extra = self.headers_for(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in extra if h[0] not in present)]}  # fmt: skip
            await send(message)

        if scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send_with_headers)
            return
        too_big = f"The request body is larger than the limit of {self.max_body_bytes} bytes."
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_json(send, 400, "The Content-Length header is not a number.", [*CLOSE, *extra])
                return
            if size > self.max_body_bytes:
                await send_json(send, 413, too_big, [*CLOSE, *extra])
                return
        # Read the body up front (at most the limit, within the deadline), then replay it: a chunked upload is
        # bounded too, and the deadline starts when the headers are in, before any route or time limit runs.
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.body_timeout_s):
                outcome = await self._read(receive, chunks)
        except TimeoutError:
            client = scope.get("client") or ("?", 0)
            SLOW_BODIES.note("dropped a slow client %s: the body of %s %s did not arrive within %g s (408)",
                             client[0], scope.get("method"), path[:100], self.body_timeout_s)  # fmt: skip
            await send_json(send, 408, f"The request body did not arrive within {self.body_timeout_s:g} s.",
                            [*CLOSE, *extra])  # fmt: skip
            return
        if outcome == "disconnected":
            return
        if outcome == "too big":
            await send_json(send, 413, too_big, [*CLOSE, *extra])
            return
        body = b"".join(chunks)
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = not media or media == b"application/json" or media.endswith(b"+json")
        if path.startswith(JSON_PATHS) and is_json and json_too_deep(body):
            await send_json(send, 400, f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", extra)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)

    async def _read(self, receive: Receive, chunks: list[bytes]) -> str:
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return "disconnected"
            part = message.get("body", b"")
            total += len(part)
            if total > self.max_body_bytes:
                return "too big"
            chunks.append(part)
            if not message.get("more_body", False):
                return "complete"


def install_security(app: Any, *, max_body_bytes: int, body_timeout_s: float | None = None) -> None:
    """Add the security headers, the body size limit and the body deadline to a FastAPI/Starlette app."""
    app.add_middleware(Security, max_body_bytes=max_body_bytes, body_timeout_s=body_timeout_s)
