"""Prometheus metrics at `GET /metrics`: requests and latency per route, answers vs declines, the live index.

Series (all prefixed `bot_`):

    http_requests_total{route,method,status}         requests, by route template (e.g. /source/{doc_id})
    http_request_duration_seconds{route,method}      latency histogram, until the last byte is sent
    http_requests_in_progress                         requests being served now
    answers_total{outcome,channel}                    outcome: answered | declined; channel: api, form, slack…
    feedback_total{rating}                            rating: up | down
    index_ready, index_documents, index_chunks        the index being served (read at scrape time)
    index_info{build,model}                           always 1; labels name the live build

Counts live in each worker process (`bot serve --workers N` gives N separate sets); unmatched paths are
counted under route="<unmatched>" so a scan of random URLs cannot blow up the number of series.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"
# JSON routes whose 200 body is the answer contract: their `answered` field is counted per channel.
ANSWER_ROUTES = {"/api/ask": "api"}
MAX_SNIFF_BYTES = 1 << 20

router = APIRouter()


class IndexCollector(Collector):
    """Facts about the live index, read from the engine holder at each scrape."""

    def __init__(self, holder: Any) -> None:
        self.holder = holder

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self.holder.engine
        info = engine.info() if engine is not None else None
        yield GaugeMetricFamily("bot_index_ready", "1 when an index is loaded and answering", value=int(bool(info)))
        if info is None:
            return
        yield GaugeMetricFamily("bot_index_documents", "Documents in the live index", value=info["documents"])
        yield GaugeMetricFamily("bot_index_chunks", "Chunks in the live index", value=info["chunks"])
        built = GaugeMetricFamily("bot_index_built_timestamp_seconds", "When the live index was built")
        try:
            built.add_metric([], datetime.fromisoformat(str(info["built_at"])).timestamp())
            yield built
        except ValueError:
            pass
        family = GaugeMetricFamily("bot_index_info", "The live index build and model", labels=["build", "model"])
        family.add_metric([str(info["build"]), str(info["model"])], 1)
        yield family


class Metrics:
    """One registry per app, so several apps in one process (tests) keep separate counts."""

    def __init__(self, holder: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("bot_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)  # fmt: skip
        self.latency = Histogram("bot_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method"], buckets=BUCKETS, registry=r)  # fmt: skip
        self.in_progress = Gauge("bot_http_requests_in_progress", "HTTP requests being served", registry=r)
        self.answers = Counter("bot_answers", "Questions answered or declined, by channel",
                               ["outcome", "channel"], registry=r)  # fmt: skip
        self.feedback = Counter("bot_feedback", "Feedback votes received", ["rating"], registry=r)
        for channel in ("api", "form"):
            for outcome in ("answered", "declined"):
                self.answers.labels(outcome, channel)
        for rating in ("up", "down"):
            self.feedback.labels(rating)
        r.register(IndexCollector(holder))

    def observe_answer(self, answered: bool, *, channel: str) -> None:
        self.answers.labels("answered" if answered else "declined", channel).inc()

    def observe_feedback(self, rating: int) -> None:
        self.feedback.labels("up" if rating > 0 else "down").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# Methods counted by name; any other (invented) method is counted as OTHER, so labels stay a fixed set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def method_of(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in METHODS else "OTHER"


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED


class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request; count answers vs declines on the JSON answer route."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        body: list[bytes] = []
        size = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status == 200 and route_of(scope) in ANSWER_ROUTES:
                size += len(message.get("body", b""))
                if size <= MAX_SNIFF_BYTES:
                    body.append(message.get("body", b""))
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            self.metrics.in_progress.dec()
            route, method = route_of(scope), method_of(scope)
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - t0)
            if body and size <= MAX_SNIFF_BYTES and route in ANSWER_ROUTES:
                self._count_answer(b"".join(body), ANSWER_ROUTES[route])

    def _count_answer(self, raw: bytes, channel: str) -> None:
        try:
            answered = json.loads(raw).get("answered")
        except (ValueError, AttributeError):
            return
        if isinstance(answered, bool):
            self.metrics.observe_answer(answered, channel=channel)


def metrics_of(app: Any) -> Metrics | None:
    return getattr(app.state, "metrics", None)


@router.get("/metrics", include_in_schema=True, tags=["service"], summary="Prometheus metrics (text format)",
            response_class=Response)  # fmt: skip
async def metrics_endpoint(request: Request) -> Response:
    metrics = metrics_of(request.app)
    data = metrics.exposition() if metrics is not None else b""
    return Response(data, media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"})


def install_metrics(app: Any) -> Metrics:
    """Create the app's metrics (`app.state.metrics`), add the middleware and the `/metrics` route."""
    disable_created_metrics()  # no `_created` twin for every series (process-wide, as Prometheus advises)
    metrics = Metrics(app.state.holder)
    app.state.metrics = metrics
    app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return metrics
