"""A fake Slack for the Slack tests: a real HTTP server on a loopback port that records what the bot sends.

It answers the Web API (`/api/chat.postMessage`, as Slack does: `{"ok": true, "ts": ...}`, or an error
queued with `fail_next`) and `response_url` posts (any path under `/response/`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


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
