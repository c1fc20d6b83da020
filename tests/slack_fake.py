"""A fake Slack for the Slack tests: a real HTTP server on a loopback port that records what the bot sends.

It answers the Web API (`/api/chat.postMessage`, as Slack does: `{"ok": true, "ts": ...}`, or an error
queued with `fail_next`) and `response_url` posts (any path under `/response/`).

`offline_slack()` is the cheap variant for tests that send many requests: the app in a `TestClient`, a
stub engine that answers at once, and slack_sdk's two HTTP clients replaced by recorders, so nothing
leaves the process whatever `response_url` a request carries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import create_app
from bot.config import Settings
from bot.documents import Answer, AnswerSection, Bullet, Reference, kind_heading
from bot.engine import EngineHolder
from tests.slack_http import signed_headers


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[str] = []
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                call = Call(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply: dict[str, Any] = {"ok": True}
                if self.path.startswith("/api/"):
                    with fake._cond:
                        error = fake.failures.pop(0) if fake.failures else None
                    reply = {"ok": False, "error": error} if error else {
                        "ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}  # fmt: skip
                with fake._cond:
                    fake.calls.append(call)
                    fake._cond.notify_all()
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, error: str) -> None:
        with self._cond:
            self.failures.append(error)

    def select(self, match: Callable[[Call], bool]) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if match(c)]

    def wait_for(self, match: Callable[[Call], bool], *, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """The calls matching `match`, once there are at least `count` (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if match(c)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Slack got {len(found)} matching calls, wanted {count}: {self.calls}")
                self._cond.wait(left)


class StubEngine:
    """Answers every question at once with one quote (so answers are stored and rendered as usual)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def ask(self, question: str, *, kinds: list[str] | None = None) -> Answer:
        with self._lock:
            self.asked.append(question)
        bullet = Bullet("Aspirin is not advised for children.", [1], "doc-1", 0, 36)
        section = AnswerSection("guideline", kind_heading("guideline"), [bullet])
        return Answer(question=question, answered=True, sections=[section],
                      references=[Reference(1, "doc-1", "A guideline", "guideline", None)])  # fmt: skip

    def info(self) -> dict[str, Any]:  # what /metrics and /healthz read
        return {"documents": 1, "chunks": 1, "built_at": "", "build": "stub", "model": "stub"}


class _Holder(EngineHolder):
    def __init__(self, settings: Settings, engine: Any) -> None:
        super().__init__(settings)
        self._engine = engine

    def maybe_reload(self, *, min_interval: float = 1.0) -> bool:
        return False


@dataclass
class Offline:
    """What `offline_slack()` hands a test: the client, the app, the stub engine and every outbound call."""

    client: TestClient
    app: FastAPI
    engine: StubEngine
    secret: str
    webhooks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (response_url, body)
    posts: list[dict[str, Any]] = field(default_factory=list)  # chat.postMessage arguments

    def post(self, path: str, body: bytes, *, timestamp: int | None = None,
             headers: dict[str, Any] | None = None, signed: bool = True) -> Any:  # fmt: skip
        """POST `body` as Slack does (JSON to /slack/events, a form elsewhere), signed unless `signed=False`."""
        content_type = "application/json" if path.endswith("/events") else "application/x-www-form-urlencoded"
        h: dict[str, Any] = {"Content-Type": content_type}
        if signed:
            h.update(signed_headers(body, self.secret, timestamp=timestamp))
        h.update(headers or {})
        return self.client.post(path, content=body, headers=h)

    def votes(self) -> list[dict[str, Any]]:
        return list(self.app.state.feedback.export())


@contextmanager
def offline_slack(tmp: Path, secret: str) -> Iterator[Offline]:
    """The app with Slack on, no index, no network: see the module's docstring."""
    import bot.slack as slack

    webhooks: list[tuple[str, dict[str, Any]]] = []
    posts: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Webhook:
        def __init__(self, url: str, **_: Any) -> None:
            self.url = url

        def send_dict(self, body: dict[str, Any]) -> Any:
            with lock:
                webhooks.append((self.url, body))
            return type("Response", (), {"status_code": 200, "body": "ok"})()

    class Web:
        def __init__(self, **_: Any) -> None:
            pass

        def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:  # noqa: N802 (slack_sdk's name)
            with lock:
                posts.append(kwargs)
            return {"ok": True}

    settings = Settings(index=tmp / "no-index", data_dir=tmp / "data", cache_dir=None,
                        slack_signing_secret=SecretStr(secret), slack_bot_token=SecretStr("xoxb-offline"),
                        slack_api_url="http://127.0.0.1:9/api/")  # fmt: skip
    engine = StubEngine()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(slack, "WebhookClient", Webhook)
        patch.setattr(slack, "WebClient", Web)
        app = create_app(settings, holder=_Holder(settings, engine))
        client = TestClient(app, raise_server_exceptions=False)
        try:
            yield Offline(client, app, engine, secret, webhooks, posts)
        finally:
            app.state.slack.pool.shutdown(wait=True)
