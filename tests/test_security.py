"""Bad input and abuse limits over real HTTP: every bad request gets a clear 4xx with a JSON body, never a 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.cli import do_index
from bot.config import Settings
from bot.engine import EngineHolder
from bot.ratelimit import AbuseLimits, RateLimiter, client_key
from tests.conftest import SEED_QUESTION

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
        ("How is calcinosis cutis treated?", []),  # an empty filter means no filter
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
    s = Settings()
    assert (s.rate_limit_per_minute, s.rate_limit_burst, s.request_timeout_s) == (12, 4, 2.5)
    assert s.rate_limit_paths == "/api/ask, /ask"
