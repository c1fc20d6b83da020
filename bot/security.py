"""HTTP hardening for every route: security headers and a request body limit (413), as one ASGI middleware.

The pages get a Content-Security-Policy that allows scripts, styles, images and fetches from this origin
only: no inline scripts, no remote sources, no framing. FastAPI's own API explorers (`/docs`, `/redoc`)
load Swagger UI / ReDoc from a CDN with an inline bootstrap script, so those three paths alone get a
policy that admits them; nothing else does.

Request bodies larger than `max_body_bytes` (BOT_MAX_BODY_BYTES) are refused with 413 and a JSON error,
whether the client declares the size (Content-Length) or streams it chunked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

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
    """ASGI middleware: add the security headers to every response; refuse request bodies over the limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        return [(b"content-security-policy", csp_for(path).encode()), *HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope.get("path", ""))

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
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_json(send, 400, "The Content-Length header is not a number.", [*CLOSE, *extra])
                return
            if size > self.max_body_bytes:
                await send_json(send, 413, too_big, [*CLOSE, *extra])
                return
        # Read the body up front (at most the limit), then replay it: a chunked upload is bounded too.
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_body_bytes:
                await send_json(send, 413, too_big, [*CLOSE, *extra])
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)


def install_security(app: Any, *, max_body_bytes: int) -> None:
    """Add the security headers and the body limit to a FastAPI/Starlette app."""
    app.add_middleware(Security, max_body_bytes=max_body_bytes)
