"""Hardening (issue: integrity and hardening): no Host header reflected in redirects, metrics labels from a
fixed set whatever the request's method."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.config import Settings


@pytest.fixture
def client(hash_settings: Settings) -> TestClient:
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    with TestClient(create_app(hash_settings)) as c:
        yield c


@pytest.mark.parametrize("path", ["/healthz/", "/docs/", "/api/ask/"])
def test_no_redirect_names_the_requests_host(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (404, 405)
    assert "evil.example" not in response.headers.get("location", "")


def test_invented_methods_do_not_grow_the_metrics(client: TestClient) -> None:
    before = client.get("/metrics").text
    for i in range(50):
        client.request(f"M{i:03d}" + "X" * 100, "/healthz")
    after = client.get("/metrics").text
    assert "XXXX" not in after and 'method="OTHER"' in after
    assert len(after) < len(before) + 4000  # a fixed set of series, not one per invented method


@pytest.mark.parametrize(
    ("doc_id", "href"),
    [
        ("../../etc/passwd", "/source/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
        ("labels/humira", "/source/labels%2Fhumira"),
        ("a b?c#d", "/source/a%20b%3Fc%23d"),
    ],
)
def test_source_links_encode_the_whole_id(doc_id: str, href: str) -> None:
    from bot.documents import Answer, AnswerSection, Bullet, Reference
    from bot.render import render

    answer = Answer(
        question="q",
        answered=True,
        sections=[AnswerSection("research", "From the Research", [Bullet("quote text", [1], doc_id, 0, 10)])],
        references=[Reference(1, doc_id, "Title", "research", None)],
    )
    html = render(answer, "html")
    assert f'href="{href}?start=0&amp;end=10#quote"' in html and f'href="{href}"' in html
    assert "/source/../" not in html


def test_no_kind_chosen_is_one_rule_for_api_and_form(client: TestClient) -> None:
    api = client.post("/api/ask", json={"question": "aspirin and Reye syndrome", "kinds": []})
    assert api.status_code == 422 and "at least one kind" in api.json()["detail"]
    form = client.post("/", data={"question": "aspirin and Reye syndrome", "kinds_offered": "1"})
    assert form.status_code == 422 and "at least one kind" in form.text
    everything = client.post("/api/ask", json={"question": "aspirin and Reye syndrome"})  # no filter: all
    assert everything.status_code == 200


@pytest.mark.slow
def test_a_local_peer_cannot_choose_its_rate_limit_key_with_x_forwarded_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through a real `bot serve`: three questions from one loopback peer, each claiming another address in
    X-Forwarded-For, share one bucket (burst 2): the third is a 429."""
    import socket
    import subprocess
    import time

    import httpx

    from bot.cli import do_index
    from tests.conftest import make_corpus, make_settings
    from tests.test_faults import BOT, bot_env

    make_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path, model="hash:64", min_score=0.05)
    do_index(settings, progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = bot_env(tmp_path, BOT_MODEL="hash:64", BOT_MIN_SCORE="0.05", BOT_RATE_LIMIT_PER_MINUTE="1",
                  BOT_RATE_LIMIT_BURST="2", BOT_DATA_DIR=str(tmp_path / "data"))  # fmt: skip
    server = subprocess.Popen([*BOT, "serve", "--index", str(settings.index), "--no-build", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        codes = [
            httpx.post(
                url + "/api/ask",
                json={"question": "aspirin and Reye syndrome"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
                timeout=30,
            ).status_code  # fmt: skip
            for i in range(3)
        ]
        assert codes[:2] == [200, 200] and codes[2] == 429
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("http://x/<!here|pwn>", True),
        ("https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=1&x=2", True),
    ],
)
def test_slack_reference_links_are_http_only_and_escaped(url: str, linked: bool) -> None:
    from bot.documents import Answer, AnswerSection, Bullet, Reference
    from bot.slack_blocks import answer_message

    answer = Answer(
        question="q",
        answered=True,
        sections=[AnswerSection("research", "From the Research", [Bullet("quote text here", [1], "d", 0, 10)])],
        references=[Reference(1, "d", "Title", "research", url)],
    )
    text = "\n".join(str(b) for b in answer_message(answer, public_url="https://bot.example.org").blocks)
    assert "javascript:" not in text and "data:text" not in text
    assert "<!here" not in text and "|pwn>" not in text
    assert ("original>" in text) is linked


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/commands/T1/2/abc", True),
        ("https://hooks.slack.com:443/actions/T1/2/abc", True),
        ("http://127.0.0.1:7777/response/x", True),  # the configured Web API host (a proxy, a test fake)
        ("https://evil.example/hooks.slack.com", False),
        ("https://slack.com.evil.example/x", False),
        ("http://hooks.slack.com/commands/x", False),  # Slack's hooks are https
        ("http://127.0.0.1:9/x", False),  # another port of the same machine
        ("not a url", False),
    ],
)
def test_slack_response_urls_are_slacks(tmp_path, monkeypatch, url: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    import bot.slack as slack
    from bot.engine import EngineHolder
    from bot.slack_blocks import notice

    settings = Settings(data_dir=tmp_path, slack_signing_secret=SecretStr("s"),
                        slack_api_url="http://127.0.0.1:7777/api/")  # fmt: skip
    service = slack.SlackService(settings, EngineHolder(settings))
    posted: list[str] = []

    class Recorder:
        def __init__(self, target: str, **_: object) -> None:
            posted.append(target)

        def send_dict(self, body: dict[str, object]):  # type: ignore[no-untyped-def]
            return type("R", (), {"status_code": 200, "body": ""})()

    monkeypatch.setattr(slack, "WebhookClient", Recorder)
    assert service.response_url_allowed(url) is allowed
    service.respond(url, slack.Reply(notice("hi")), "rid")
    assert posted == ([url] if allowed else [])


def _vote_answer(took_ms: str = "1.5") -> str:
    return ('{"question": "q", "answered": false, "sections": [], "references": [], "took_ms": ' + took_ms
            + ', "message": "no"}')  # fmt: skip


@pytest.mark.parametrize("took_ms", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_numbers_are_refused_not_stored(client: TestClient, took_ms: str) -> None:
    body = '{"rating": 1, "question": "q", "answer": ' + _vote_answer(took_ms) + "}"
    r = client.post("/api/feedback", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/feedback", data={"rating": "1", "question": "q", "answer": _vote_answer(took_ms)})
    assert r.status_code == 422


def test_deeply_nested_form_vote_is_a_422_not_a_500(client: TestClient) -> None:
    r = client.post("/feedback", data={"rating": "1", "question": "q", "answer": "[" * 5000 + "]" * 5000})
    assert r.status_code == 422
