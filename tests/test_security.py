"""Bad input and abuse limits over real HTTP: every bad request gets a clear 4xx with a JSON body, never a 500."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import create_app
from bot.cli import do_index
from bot.config import Settings
from bot.engine import EngineHolder
from bot.ratelimit import AbuseLimits, RateLimiter, client_key
from tests.conftest import SEED_QUESTION
from tests.slack_fake import FakeSlack
from tests.slack_http import SlackSender, serve, signed_headers

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(built: Settings) -> Iterator[TestClient]:
    settings = built.model_copy(update={"rate_limit_per_minute": 0})  # this module sends many requests
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


# (name, keyword arguments for client.post, expected status, words expected in `detail`)
BAD_INPUT: list[tuple[str, dict[str, Any], int, str]] = [
    ("empty", {"json": {"question": ""}}, 422, "empty"),
    ("whitespace only", {"json": {"question": " \t\n  "}}, 422, "empty"),
    ("very long", {"json": {"question": "why " * 5000}}, 422, "too long"),
    ("control characters", {"json": {"question": "aspirin\x07\x1b[31m dose"}}, 422, "control characters"),
    ("NUL", {"json": {"question": "aspirin\x00"}}, 422, "control characters"),
    ("lone surrogate", {"content": b'{"question": "\\ud800 aspirin"}', "headers": JSON}, 422, "Unicode"),
    ("invalid UTF-8", {"content": b'{"question": "\xff\xfe aspirin"}', "headers": JSON}, 400, "body"),
    ("binary body", {"content": bytes(range(256)) * 4, "headers": JSON}, 400, "body"),
    ("truncated JSON", {"content": b'{"question": "asp', "headers": JSON}, 400, "body"),
    ("NaN", {"content": b'{"question": NaN}', "headers": JSON}, 422, "question"),
    ("number", {"json": {"question": 3}}, 422, "question"),
    ("null body", {"content": b"null", "headers": JSON}, 422, "body"),
    ("array body", {"json": ["aspirin"]}, 422, "body"),
    ("empty body", {"content": b"", "headers": JSON}, 422, "required"),
    ("unknown field", {"json": {"question": "aspirin", "model": "gpt"}}, 422, "model"),
    ("deeply nested", {"content": b"[" * 20_000 + b"]" * 20_000, "headers": JSON}, 400, "body"),
    ("oversized body", {"json": {"question": "why " * 20_000}}, 413, "larger than the limit"),
    (
        "oversized, undeclared size",
        {"content": iter([b'{"question": "', b"x" * 70_000, b'"}']), "headers": JSON},
        413,
        "larger than the limit",
    ),
    ("form post", {"data": {"question": "aspirin"}}, 415, "application/json"),
    ("text/plain", {"content": b'{"question": "aspirin"}', "headers": {"content-type": "text/plain"}}, 415, "JSON"),
    ("no content type", {"content": b'{"question": "aspirin"}'}, 415, "JSON"),
    ("multipart", {"files": {"question": ("q.txt", b"aspirin")}}, 415, "JSON"),
    ("unknown kind", {"json": {"question": SEED_QUESTION, "kinds": ["horoscope"]}}, 422, "guideline"),
    ("kind with NUL", {"json": {"question": SEED_QUESTION, "kinds": ["guide\x00line"]}}, 422, "Unknown source kind"),
    ("kinds not a list", {"json": {"question": SEED_QUESTION, "kinds": "guideline"}}, 422, "kinds"),
    ("kinds of numbers", {"json": {"question": SEED_QUESTION, "kinds": [1, 2]}}, 422, "kinds"),
]


@pytest.mark.parametrize(("name", "kwargs", "status", "words"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_clear_4xx(
    client: TestClient, name: str, kwargs: dict[str, Any], status: int, words: str
) -> None:
    r = client.post("/api/ask", **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words.lower() in detail.lower()
    assert "Traceback" not in r.text and len(r.text) < 2000  # the input is never echoed back whole


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("  How is  calcinosis\ncutis treated?  ", None),  # whitespace is collapsed, not an error
        ("\u202easpirin\u200b in children", None),  # bidi and zero-width characters: answered or declined
        ("¿Cómo se trata la calcinosis? 治疗", None),
        ("How is calcinosis cutis treated?", ["Guideline", "research", "research"]),  # case and duplicates
    ],
)
def test_odd_but_valid_questions_are_answered_or_declined(
    client: TestClient, question: str, kinds: list[str] | None
) -> None:
    r = client.post("/api/ask", json={"question": question, "kinds": kinds})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["question"] == " ".join(question.split())
    assert isinstance(body["answered"], bool)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/ask"), ("PUT", "/api/ask"), ("DELETE", "/api/ask"), ("POST", "/healthz")]
)
def test_wrong_methods_are_405(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path)
    assert r.status_code == 405 and "detail" in r.json()


def test_unknown_paths_are_json_404(client: TestClient) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and r.json()["detail"]


def test_an_internal_error_is_a_json_500_without_details(built: Settings, caplog: pytest.LogCaptureFixture) -> None:
    holder = EngineHolder(built)
    holder.load()
    assert holder.engine is not None

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail /etc/shadow")

    holder.engine.ask = broken  # type: ignore[method-assign]
    with TestClient(create_app(built, holder=holder), raise_server_exceptions=False) as c:
        r = c.post("/api/ask", json={"question": SEED_QUESTION})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
    assert "secret" not in r.text and "Traceback" not in r.text and r.json()["detail"]
    assert "secret internal detail" in caplog.text  # the server's log keeps it for the operator


# --- abuse limits -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_minute", "burst", "times", "allowed"),
    [
        (60, 3, [0, 0, 0, 0], [True, True, True, False]),  # burst spent at once
        (60, 1, [0, 0.5, 1.0, 1.1], [True, False, True, False]),  # one token a second
        (6, 2, [0, 0, 5, 10], [True, True, False, True]),  # one token every 10 s
        (600, 1, [0, 0.1, 0.2, 0.25], [True, True, True, False]),
    ],
)
def test_token_bucket(per_minute: float, burst: int, times: list[float], allowed: list[bool]) -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=per_minute, burst=burst, clock=lambda: now[0])
    got = []
    for t in times:
        now[0] = t
        got.append(limiter.take("a") == 0.0)
    assert got == allowed
    assert limiter.take("someone else") == 0.0  # buckets are per client


def test_limiter_forgets_old_clients_first() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_clients=2, clock=lambda: 0.0)
    assert limiter.take("a") == 0 and limiter.take("b") == 0 and limiter.take("c") == 0
    assert limiter.take("c") > 0 and len(limiter._buckets) == 2
    assert limiter.take("a") == 0  # forgotten, so a full bucket again


@pytest.mark.parametrize(
    ("headers", "trust", "key"),
    [
        ([], False, "10.1.2.3"),
        ([(b"x-forwarded-for", b"1.1.1.1")], False, "10.1.2.3"),  # not trusted: the peer address
        ([(b"x-forwarded-for", b"6.6.6.6, 2.2.2.2")], True, "2.2.2.2"),  # trusted: the nearest proxy's view
        ([(b"x-forwarded-for", b" , ")], True, "10.1.2.3"),
    ],
)
def test_client_key(headers: list[tuple[bytes, bytes]], trust: bool, key: str) -> None:
    scope = {"type": "http", "client": ("10.1.2.3", 5555), "headers": headers}
    assert client_key(scope, trust_proxy_headers=trust) == key


@pytest.fixture(scope="module")
def hash_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from tests.conftest import make_corpus, make_settings

    tmp = tmp_path_factory.mktemp("limits")
    settings = make_settings(tmp, model="hash:128", min_score=0.05)
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    return settings


def test_rate_limit_gives_429_with_retry_after(hash_index: Settings) -> None:
    settings = hash_index.model_copy(update={"rate_limit_per_minute": 6, "rate_limit_burst": 3})
    with TestClient(create_app(settings)) as c:
        codes = [c.post("/api/ask", json={"question": SEED_QUESTION}).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = c.post("/api/ask", json={"question": SEED_QUESTION})
        assert r.status_code == 429 and "try again" in r.json()["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= 10
        assert c.post("/api/ask", content=b"garbage", headers=JSON).status_code == 429  # counted before parsing
        assert c.get("/healthz").status_code == 200  # only the question endpoint is limited
    with TestClient(create_app(settings), client=("10.9.9.9", 1234)) as other:
        assert other.post("/api/ask", json={"question": SEED_QUESTION}).status_code == 200  # fresh app, fresh buckets


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "limited"),
    [
        ("POST", "/api/ask", {"json": {"question": "aspirin"}}, True),
        ("POST", "/", {"data": {"question": "aspirin"}}, True),  # the chat's no-JavaScript form
        ("GET", "/?q=aspirin", {}, True),  # the chat's question links
        ("GET", "/", {}, False),
        ("GET", "/?q=%20", {}, False),
        ("GET", "/healthz", {}, False),
        ("GET", "/openapi.json", {}, False),
        ("POST", "/slack/events", {"json": {"type": "event_callback"}}, False),  # all Slack traffic is one address
    ],
)
def test_which_requests_are_limited(
    hash_index: Settings, method: str, path: str, kwargs: dict[str, Any], limited: bool
) -> None:
    settings = hash_index.model_copy(update={"rate_limit_per_minute": 1, "rate_limit_burst": 1})
    with TestClient(create_app(settings)) as c:
        codes = [c.request(method, path, **kwargs).status_code for _ in range(3)]
    assert (429 in codes) is limited, codes
    assert 500 not in codes


def test_rate_limit_is_per_client_behind_a_trusted_proxy(hash_index: Settings) -> None:
    settings = hash_index.model_copy(
        update={"rate_limit_per_minute": 1, "rate_limit_burst": 1, "trust_proxy_headers": True}
    )
    with TestClient(create_app(settings)) as c:
        ask = {"json": {"question": SEED_QUESTION}}
        assert c.post("/api/ask", headers={"x-forwarded-for": "1.1.1.1"}, **ask).status_code == 200
        assert c.post("/api/ask", headers={"x-forwarded-for": "1.1.1.1"}, **ask).status_code == 429
        assert c.post("/api/ask", headers={"x-forwarded-for": "2.2.2.2"}, **ask).status_code == 200


def test_rate_limit_can_be_turned_off(hash_index: Settings) -> None:
    settings = hash_index.model_copy(update={"rate_limit_per_minute": 0, "rate_limit_burst": 1})
    with TestClient(create_app(settings)) as c:
        assert {c.post("/api/ask", json={"question": "aspirin"}).status_code for _ in range(5)} == {200}


def test_request_timeout_gives_504(hash_index: Settings) -> None:
    settings = hash_index.model_copy(update={"request_timeout_s": 0.3})
    holder = EngineHolder(settings)
    engine = holder.load()
    real_ask = engine.ask

    def slow_ask(question: str, **kwargs: Any) -> Any:
        if "slow" in question:
            time.sleep(1.5)
        return real_ask(question, **kwargs)

    engine.ask = slow_ask  # type: ignore[method-assign]
    with TestClient(create_app(settings, holder=holder)) as c:
        r = c.post("/api/ask", json={"question": "slow aspirin question"})
        assert r.status_code == 504 and "took longer" in r.json()["detail"]
        assert c.post("/api/ask", json={"question": "aspirin"}).status_code == 200  # the server is still fine


def test_timeout_after_the_response_started_lets_it_finish() -> None:
    async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"late"})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    mw = AbuseLimits(streaming_app, limiter=None, timeout_s=0.05)
    asyncio.run(mw({"type": "http", "method": "POST", "path": "/api/ask", "headers": []}, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start"]  # no second start: a 504 would be invalid here


def test_settings_document_the_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_RATE_LIMIT_PER_MINUTE", "12")
    monkeypatch.setenv("BOT_RATE_LIMIT_BURST", "4")
    monkeypatch.setenv("BOT_REQUEST_TIMEOUT_S", "2.5")
    monkeypatch.setenv("BOT_RATE_LIMIT_PATHS", "/api/ask, /ask")
    monkeypatch.setenv("BOT_RECEIVE_TIMEOUT_S", "7.5")
    monkeypatch.setenv("BOT_KEEP_ALIVE_S", "3")
    monkeypatch.setenv("BOT_MAX_CONNECTIONS", "300")
    monkeypatch.setenv("BOT_MAX_CONNECTIONS_PER_CLIENT", "20")
    monkeypatch.setenv("BOT_MAX_HEADER_BYTES", "8192")
    monkeypatch.setenv("BOT_FEEDBACK_PER_MINUTE", "6")
    monkeypatch.setenv("BOT_FEEDBACK_BURST", "2")
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "an-admin-token-of-32-characters!")
    s = Settings()
    assert (s.rate_limit_per_minute, s.rate_limit_burst, s.request_timeout_s) == (12, 4, 2.5)
    assert s.rate_limit_paths == "/api/ask, /ask"
    assert (s.receive_timeout_s, s.keep_alive_s, s.max_connections, s.max_connections_per_client) == (7.5, 3, 300, 20)
    assert (s.max_header_bytes, s.feedback_per_minute, s.feedback_burst) == (8192, 6, 2)
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "an-admin-token-of-32-characters!"
    assert "an-admin-token" not in repr(s)
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "")
    assert Settings().admin_token is None  # empty: the export is off
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "short")
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings()


# --- path traversal -------------------------------------------------------------------------------------------

SECRET = "f00dfacecafe1234567890abcdef5ec7"  # a Slack signing secret, for these tests only
TOKEN = "xoxb-111-222-securitytestnotreal"
ADMIN_TOKEN = "admin-9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # BOT_ADMIN_TOKEN, for these tests only

TRAVERSALS = [
    "/source/../../../../etc/passwd",
    "/source/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/source/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/source/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/source/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/source/..%5c..%5c..%5c..%5cetc%5cpasswd",
    "/source/....//....//....//etc/passwd",
    "/source//etc/passwd",
    "/source/%2fetc%2fpasswd",
    "/source/..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
    "/source/aspirin%00/../../../../etc/passwd",
    "/source/file:%2f%2f%2fetc%2fpasswd",
    "/source/aspirin?start=0&end=99999999",
    "/source/aspirin?start=../../etc/passwd&end=1",
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%2f..%2fbot%2fconfig.py",
    "/static/..%2ftemplates%2fbase.html",
    "/static//etc/passwd",
    "/static/%2e%2e%5c%2e%2e%5cpyproject.toml",
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/?q=../../../../etc/passwd",
    "/api/feedback/export?path=../../etc/passwd",
]
LEAKS = [b"root:x:0:0", b"[build-system]", b"class Settings(BaseSettings)", b"{% block", b"{{ ", b"import "]


def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """A GET with the request target sent byte for byte (HTTP clients normalise `..` away; attackers do not)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def live(hash_index: Settings) -> Iterator[str]:
    settings = hash_index.model_copy(
        update={"slack_signing_secret": SecretStr(SECRET), "slack_bot_token": SecretStr(TOKEN)}
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_path_traversal(live: str, target: str) -> None:
    status, body = raw_get(live, target)
    assert status in (200, 400, 401, 403, 404, 405, 422), (status, body[:300])
    for leak in LEAKS:
        assert leak not in body, (target, leak)
    if status == 200:
        assert not target.startswith("/static")  # nothing outside web/static is ever served from there


def test_source_serves_only_indexed_documents(live: str) -> None:
    assert raw_get(live, "/source/aspirin")[0] == 200
    assert raw_get(live, "/static/chat.css")[0] == 200
    assert raw_get(live, "/source/etc/passwd")[0] == 404


# --- security headers on every page ----------------------------------------------------------------------------

PAGES: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/", {}, 200),
    ("GET", "/?q=How+is+calcinosis+cutis+treated%3F", {}, 200),
    ("POST", "/", {"data": {"question": "aspirin in children"}}, 200),
    ("POST", "/", {"data": {"question": " "}}, 422),
    ("GET", "/source/aspirin?start=0&end=10", {}, 200),
    ("GET", "/source/no-such-document", {}, 404),
    ("GET", "/no/such/page", {}, 404),
    ("GET", "/static/chat.js", {}, 200),
    ("GET", "/static/chat.css", {}, 200),
    ("GET", "/static/missing.js", {}, 404),
    ("GET", "/healthz", {}, 200),
    ("GET", "/metrics", {}, 200),
    ("GET", "/openapi.json", {}, 200),
    ("POST", "/api/ask", {"json": {"question": "aspirin in children"}}, 200),
    ("POST", "/api/ask", {"json": {"question": ""}}, 422),
    ("POST", "/api/ask", {"content": b"{", "headers": JSON}, 400),
    ("POST", "/api/ask", {"content": b"question=x"}, 415),
    ("POST", "/api/ask", {"json": {"question": "x" * 70_000}}, 413),
    ("GET", "/api/ask", {}, 405),
    ("POST", "/slack/events", {"json": {"type": "url_verification"}}, 401),
    ("POST", "/slack/commands", {"content": b"x" * 70_000}, 413),
]


def check_headers(headers: Any, path: str) -> None:
    csp = headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == ["'none'"] and headers.get("x-frame-options") == "DENY", path
    assert headers.get("x-content-type-options") == "nosniff", path
    assert headers.get("referrer-policy") in {"no-referrer", "same-origin", "strict-origin-when-cross-origin"}
    if path.rstrip("/") not in {"/docs", "/redoc"}:  # FastAPI's API explorer needs its inline bootstrap script
        scripts = directives.get("script-src", directives.get("default-src"))
        assert scripts is not None and set(scripts) <= {"'self'", "'none'"}, (path, csp)
    for cookie in headers.get_list("set-cookie"):
        assert "httponly" in cookie.lower() and "samesite" in cookie.lower(), cookie


@pytest.fixture(scope="module")
def web(hash_index: Settings) -> Iterator[TestClient]:
    settings = hash_index.model_copy(
        update={"slack_signing_secret": SecretStr(SECRET), "slack_bot_token": SecretStr(TOKEN),
                "rate_limit_per_minute": 0}
    )  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), PAGES, ids=[f"{p[0]} {p[1]} {p[3]}" for p in PAGES])
def test_security_headers_on_every_page(
    web: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    r = web.request(method, path, **kwargs)
    assert r.status_code == status, r.text[:300]
    check_headers(r.headers, path)


def test_security_headers_on_429_503_504_and_500(hash_index: Settings, built: Settings) -> None:
    limited = hash_index.model_copy(update={"rate_limit_per_minute": 1, "rate_limit_burst": 1})
    with TestClient(create_app(limited)) as c:
        c.post("/api/ask", json={"question": "aspirin"})
        r = c.post("/api/ask", json={"question": "aspirin"})
        assert r.status_code == 429
        check_headers(r.headers, "/api/ask")
    missing = hash_index.model_copy(update={"index": hash_index.index / "nothing-here"})
    with TestClient(create_app(missing)) as c:
        for r in (c.get("/healthz"), c.post("/api/ask", json={"question": "aspirin"})):
            assert r.status_code == 503
            check_headers(r.headers, "/")
    holder = EngineHolder(hash_index)
    engine = holder.load()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    engine.ask = broken  # type: ignore[method-assign]
    with TestClient(create_app(hash_index, holder=holder), raise_server_exceptions=False) as c:
        r = c.post("/api/ask", json={"question": "aspirin"})
        assert r.status_code == 500
        check_headers(r.headers, "/api/ask")
    slow = hash_index.model_copy(update={"request_timeout_s": 0.2})
    holder = EngineHolder(slow)
    engine = holder.load()
    engine.ask = lambda *a, **k: time.sleep(1)  # type: ignore[method-assign, assignment, return-value]
    with TestClient(create_app(slow, holder=holder)) as c:
        r = c.post("/api/ask", json={"question": "aspirin"})
        assert r.status_code == 504
        check_headers(r.headers, "/api/ask")


# --- Slack: replays and body limits --------------------------------------------------------------------------


def test_slack_replayed_request_is_rejected(live: str) -> None:
    sender = SlackSender(live, SECRET)
    body = json.dumps({"type": "url_verification", "challenge": "replay-me", "token": "t"}).encode()
    assert sender.post("/slack/events", body).json() == {"challenge": "replay-me"}  # fresh: accepted
    captured = signed_headers(body, SECRET, timestamp=int(time.time()) - 6 * 60)  # as captured 6 minutes ago
    r = sender.post("/slack/events", body, signed=False, headers=captured)
    assert r.status_code == 401 and "detail" in r.json()
    # The captured signature with a fresh timestamp does not verify either: the timestamp is signed too.
    fresh = {**captured, "X-Slack-Request-Timestamp": str(int(time.time()))}
    assert sender.post("/slack/events", body, signed=False, headers=fresh).status_code == 401


@pytest.mark.parametrize("path", ["/slack/events", "/slack/commands", "/slack/interactions"])
@pytest.mark.parametrize("declared", [True, False])
def test_slack_body_limit(live: str, path: str, declared: bool) -> None:
    body = b"text=" + b"x" * 70_000
    sender = SlackSender(live, SECRET)
    if declared:
        r = sender.post(path, body)
    else:  # chunked, no Content-Length
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body, SECRET)}
        r = sender.http.post(path, content=iter([body[:30_000], body[30_000:]]), headers=headers)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


# --- secrets never leave the server ----------------------------------------------------------------------------


def test_secrets_never_in_logs_pages_or_healthz(hash_index: Settings, tmp_path: Path) -> None:
    """A real `bot --debug serve` (every logger at DEBUG) with Slack configured: exercise the pages, errors and
    Slack routes, including a reply through the bot token; the secrets appear in no response and no log line."""
    with FakeSlack() as fake, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update({"HF_HUB_OFFLINE": "1", "BOT_MODEL": "hash:128", "BOT_MIN_SCORE": "0.05",
                    "BOT_SLACK_SIGNING_SECRET": SECRET, "BOT_SLACK_BOT_TOKEN": TOKEN, "BOT_ADMIN_TOKEN": ADMIN_TOKEN,
                    "BOT_SLACK_API_URL": fake.url + "/api/", "BOT_DATA_DIR": str(tmp_path / "data"),
                    "BOT_CACHE_DIR": "off", "PYTHONPATH": str(Path(__file__).resolve().parents[1])})  # fmt: skip
        cmd = [sys.executable, "-m", "bot.cli", "--debug", "serve", "--index", str(hash_index.index), "--no-build",
               "--port", str(port)]  # fmt: skip
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        seen: list[bytes] = []
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            http = httpx.Client(base_url=url, timeout=30)
            responses = [
                http.get("/healthz"), http.get("/metrics"), http.get("/openapi.json"), http.get("/docs"),
                http.get("/nope"), http.get("/source/../../etc/passwd"), http.post("/api/ask", json={}),
                http.post("/api/ask", json={"question": SEED_QUESTION}), http.get("/?q=aspirin"),
                http.get("/api/feedback"), http.get("/api/feedback", headers={"Authorization": "Bearer wrong-012345"}),
            ]  # fmt: skip
            export = http.get("/api/feedback", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert export.status_code == 200  # the token reached the worker (bot serve does not re-export secrets)
            responses.append(export)
            sender = SlackSender(url, SECRET)
            channel = "CSECRETS01"
            ev = {"type": "app_mention", "user": "U0ASKER01", "text": f"<@UBOT00001> {SEED_QUESTION}",
                  "ts": "1700000000.000100", "channel": channel, "event_ts": "1700000000.000100"}  # fmt: skip
            mention = {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "EvSECRET1",
                       "event_time": int(time.time()), "authorizations": [{"user_id": "UBOT00001", "is_bot": True}],
                       "event": ev}  # fmt: skip
            responses += [sender.event(mention), sender.event(mention, secret="wrong-secret"),
                          sender.post("/slack/commands", b"x" * 70_000)]  # fmt: skip
            posted = fake.wait_for(lambda c: c.body.get("channel") == channel, timeout=60)
            assert TOKEN in posted[0].headers.get("authorization", "")  # the token was used, only towards Slack
            seen += [r.content + str(r.headers).encode() for r in responses]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                out, _ = server.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                out, _ = server.communicate()
    assert b"DEBUG" in out and b"/slack/events" in out  # it really logged at debug level, Slack traffic included
    for secret in (SECRET, TOKEN, TOKEN.split("-", 1)[1], ADMIN_TOKEN):
        assert secret.encode() not in out, secret
        for text in seen:
            assert secret.encode() not in text
