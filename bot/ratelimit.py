"""Abuse limits on the question endpoints: a per-client rate limit (429 + Retry-After) and a request timeout (504).

Plain ASGI middleware in front of the web routes that answer questions (the JSON API and the chat page).
Slack's routes are not limited by address: every Slack request comes from Slack's own servers.
Settings (each also a `BOT_*` variable):

    rate_limit_per_minute   questions per minute per client, refilled continuously (0 turns the limit off)
    rate_limit_burst        questions a client may send at once before the limit applies
    request_timeout_s       seconds a question may take before the client gets 504 (0 turns it off)
    rate_limit_paths        comma-separated paths the limits apply to: POSTs, and GETs with `?q=` (default:
                            /api/ask and the chat page /, whose form and links also ask questions)
    trust_proxy_headers     key clients by the last X-Forwarded-For address (only behind a trusted proxy)
    feedback_per_minute     👍/👎 votes per minute per client on /feedback and /api/feedback (0 turns it off)
    feedback_burst          votes a client may send at once (a bucket of its own, apart from the questions')

Buckets live in each worker process: with `bot serve --workers N` a client may get up to N times the burst.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .config import Settings
from .security import send_json

NO_STORE = ((b"cache-control", b"no-store"),)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FEEDBACK_PATHS = ("/feedback", "/api/feedback")  # the vote routes: POSTs to them spend a vote token
MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first (a full bucket again)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client: `burst` tokens, refilled at `per_minute / 60` tokens a second."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one token for `client`: 0.0 when allowed, else the seconds until a token is free."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(client, None) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate


def client_key(scope: Scope, *, trust_proxy_headers: bool = False) -> str:
    """Who is asking: the peer address, or the address the nearest trusted proxy saw."""
    if trust_proxy_headers:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                if hops:
                    return hops[-1]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AbuseLimits:
    """ASGI middleware: rate-limit and time-limit questions; pass everything else through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter | None,
        timeout_s: float | None,
        paths: Iterable[str] = ("/api/ask", "/"),
        trust_proxy_headers: bool = False,
        what: str = "questions",
    ) -> None:
        self.app = app
        self.what = what
        self.limiter = limiter
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else None
        self.paths = frozenset(p.rstrip("/") or "/" for p in paths)
        self.trust_proxy_headers = trust_proxy_headers

    def applies(self, scope: Scope) -> bool:
        """POSTs to the question paths, and GETs of them that carry a question (`?q=...`, the chat's links)."""
        if scope["type"] != "http" or (scope.get("path", "").rstrip("/") or "/") not in self.paths:
            return False
        method = scope.get("method")
        if method == "POST":
            return True
        return method == "GET" and any(
            v.strip() for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k == "q"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        if self.limiter is not None:
            wait = self.limiter.take(client_key(scope, trust_proxy_headers=self.trust_proxy_headers))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await send_json(
                    send,
                    429,
                    f"Too many {self.what} from this client; try again in {seconds} s.",
                    [*NO_STORE, (b"retry-after", str(seconds).encode())],
                )
                return
        if self.timeout_s is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if started:  # the answer was already on its way; nothing sensible left to send
                return
            await send_json(
                send, 504, f"The question took longer than {self.timeout_s:g} s to answer; please try again.", NO_STORE
            )


def install_limits(app: Any, settings: Settings) -> None:
    """Add the rate limits (questions; votes) and the request timeout configured in `settings` to an app."""
    per_minute = settings.rate_limit_per_minute
    limiter = RateLimiter(per_minute=per_minute, burst=settings.rate_limit_burst) if per_minute > 0 else None
    app.add_middleware(
        AbuseLimits,
        limiter=limiter,
        timeout_s=settings.request_timeout_s,
        paths=[p.strip() for p in settings.rate_limit_paths.split(",") if p.strip()],
        trust_proxy_headers=settings.trust_proxy_headers,
    )
    votes = settings.feedback_per_minute
    app.add_middleware(
        AbuseLimits,
        limiter=RateLimiter(per_minute=votes, burst=settings.feedback_burst) if votes > 0 else None,
        timeout_s=None,
        paths=FEEDBACK_PATHS,
        trust_proxy_headers=settings.trust_proxy_headers,
        what="votes",
    )
