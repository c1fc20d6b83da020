"""Slack-signed requests over real HTTP, and a real uvicorn serving the app on a free loopback port."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI
from slack_sdk.signature import SignatureVerifier


def signed_headers(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    try:
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    except UnicodeDecodeError:  # slack_sdk only signs UTF-8; the documented algorithm works on bytes
        signature = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    return form_body({"payload": json.dumps(payload)})


class SlackSender:
    """Posts to the bot as Slack does: form bodies for commands and interactions, JSON for events."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.secret = secret
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def post(self, path: str, body: bytes, *, secret: str | None = None, timestamp: int | None = None,
             headers: dict[str, str] | None = None, signed: bool = True) -> httpx.Response:  # fmt: skip
        content_type = "application/json" if path.endswith("/events") else "application/x-www-form-urlencoded"
        h = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if signed:
            h.update(signed_headers(body, secret or self.secret, timestamp=timestamp))
        h.update(headers or {})
        return self.http.post(path, content=body, headers=h)

    def event(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.post("/slack/events", json.dumps(payload).encode(), **kw)

    def command(self, fields: dict[str, str], **kw: Any) -> httpx.Response:
        return self.post("/slack/commands", form_body(fields), **kw)

    def interaction(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.post("/slack/interactions", interaction_body(payload), **kw)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` under a real uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
