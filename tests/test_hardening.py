"""Hardening (issue: integrity and hardening): no Host header reflected in redirects, metrics labels from a
fixed set whatever the request's method."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import create_app
from bot.config import Settings

ADMIN_TOKEN = "hardening-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(hash_settings: Settings) -> TestClient:
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    settings = hash_settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    with TestClient(create_app(settings)) as c:
        yield c


def exported(client: TestClient) -> list[dict[str, Any]]:
    r = client.get("/api/feedback", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines()]


def signed(client: TestClient, question: str, answer: str) -> dict[str, str]:
    """The fields of a no-JavaScript vote form as the server would render them for this question and answer."""
    from bot.web import vote_token

    app: Any = client.app
    return {"question": question, "answer": answer, "token": vote_token(app.state.vote_key, question, answer)}


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
    before = exported(client)
    body = '{"rating": 1, "question": "q", "answer": ' + _vote_answer(took_ms) + "}"
    r = client.post("/api/feedback", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/feedback", data={"rating": "1", **signed(client, "q", _vote_answer(took_ms))})
    assert r.status_code == 422
    assert exported(client) == before  # nothing stored, and the export is still valid JSON lines


@pytest.mark.parametrize("depth", [33, 1_000, 5_000])
def test_deeply_nested_form_vote_is_a_422_not_a_500(client: TestClient, depth: int) -> None:
    before = exported(client)
    r = client.post("/feedback", data={"rating": "1", **signed(client, "q", "[" * depth + "]" * depth)})
    assert r.status_code == 422 and "could not be read" in r.text
    assert exported(client) == before


def _deep(depth: int, *, inside: str = "question") -> str:
    if inside == "question":
        return '{"question": ' + "[" * depth + "]" * depth + "}"
    answer = _vote_answer().replace('"message": "no"', '"message": ' + '{"a": ' * depth + "1" + "}" * depth)
    return '{"rating": 1, "question": "q", "answer": ' + answer + "}"


@pytest.mark.parametrize("depth", [33, 100, 990, 5_000])
@pytest.mark.parametrize(("path", "inside"), [("/api/ask", "question"), ("/api/feedback", "answer")])
def test_deep_json_is_refused_before_it_is_parsed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str, inside: str, depth: int
) -> None:
    """JSON nested deeper than 32 levels is a 400 that says so, and no JSON parser ever sees it (before this
    work: 422 or 400 "There was an error parsing the body" after the parser ran into the recursion limit)."""
    body = _deep(depth, inside=inside)
    parsed: list[int] = []
    real_loads = json.loads

    def spying_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", spying_loads)
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    monkeypatch.undo()
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "The JSON body is nested more than 32 levels deep."}
    assert len(body) not in parsed


def test_brackets_inside_strings_are_not_nesting(client: TestClient) -> None:
    from bot.security import json_too_deep

    assert not json_too_deep('{"question": "' + "[{" * 500 + '\\"]"}')
    assert json_too_deep("[" * 33 + "]" * 33) and not json_too_deep("[" * 32 + "]" * 32)
    assert json_too_deep('["\\"", ' * 40 + "1" + "]" * 40)  # an escaped quote does not end a string
    r = client.post("/api/ask", json={"question": "aspirin [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ Reye"})
    assert r.status_code == 200


# --- feedback: same-site votes, signed forms, limits, and an export for admins only ------------------------------


def _page_form(client: TestClient) -> dict[str, str]:
    from bs4 import BeautifulSoup

    page = BeautifulSoup(client.post("/", data={"question": "aspirin and Reye syndrome"}).text, "html.parser")
    form = page.select_one("form.feedback")
    assert form is not None
    return {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # not a browser (curl, scripts): no Origin, no Sec-Fetch-Site
        ({"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, True),
        ({"Origin": "http://testserver"}, True),  # an older browser: only Origin, naming this server
        ({"Origin": "http://bot.example.org"}, True),  # the configured public URL (behind a proxy)
        ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),  # another subdomain of the same site is another origin
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),  # a sandboxed frame or a data: page
        ({"Origin": "http://testserver.evil.example"}, False),
    ],
)
def test_cross_site_votes_are_refused(hash_settings: Settings, headers: dict[str, str], allowed: bool) -> None:
    """A form or script on another site cannot store a vote (before this work a cross-origin form POST to
    /feedback stored the attacker's text)."""
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    settings = hash_settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN),
                                                "public_url": "http://bot.example.org/"})  # fmt: skip
    with TestClient(create_app(settings)) as client:
        fields = _page_form(client)
        form = client.post("/feedback", data={**fields, "rating": "1"}, headers=headers)
        vote = {"rating": -1, "question": fields["question"], "answer": json.loads(fields["answer"])}
        api = client.post("/api/feedback", headers=headers, json=vote)
        if allowed:
            assert (form.status_code, api.status_code) == (200, 201)
            assert len(exported(client)) == 2
        else:
            assert (form.status_code, api.status_code) == (403, 403)
            assert "another site" in form.text and api.json()["detail"]
            assert exported(client) == []


def test_the_no_javascript_form_needs_its_token(client: TestClient) -> None:
    fields = _page_form(client)
    assert fields["token"]
    answer = json.loads(fields["answer"])
    other = json.dumps({**answer, "message": "attacker's text"})
    old = f"{int(time.time()) - 2 * 86400}.{fields['token'].split('.')[1]}"
    from bot.web import vote_token, vote_token_ok

    app: Any = client.app
    expired = vote_token(app.state.vote_key, fields["question"], fields["answer"], now=time.time() - 2 * 86400)
    for bad in [
        {**fields, "token": ""},  # no token: a form made elsewhere
        {**fields, "token": "1.abc"},
        {**fields, "token": old},  # the time changed: the MAC no longer matches
        {**fields, "token": expired},  # a real token, two days old
        {**fields, "answer": other},  # the page's token, other text
        {**fields, "question": "Buy cheap pills"},
    ]:
        r = client.post("/feedback", data={**bad, "rating": "1"})
        assert r.status_code == 403 and "could not be verified" in r.text
    assert exported(client) == []
    # A browser sends the line breaks of form values as CRLF: a token made for LF still matches.
    lf = vote_token(app.state.vote_key, "line one\nline two", fields["answer"])
    assert vote_token_ok(app.state.vote_key, lf, "line one\r\nline two", fields["answer"])
    assert client.post("/feedback", data={**fields, "rating": "1"}).status_code == 200
    assert len(exported(client)) == 1


def test_a_form_from_one_worker_is_accepted_by_another(hash_settings: Settings) -> None:
    """The form key lives in the feedback database, so every worker (and a restarted server) shares it."""
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    with TestClient(create_app(hash_settings)) as one, TestClient(create_app(hash_settings)) as two:
        fields = _page_form(one)
        assert two.post("/feedback", data={**fields, "rating": "-1"}).status_code == 200


def test_votes_are_rate_limited_per_client(hash_settings: Settings) -> None:
    """Before this work 1,000 posts of 62 KB to /api/feedback in 4.9 s added 63 MB to the database."""
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    settings = hash_settings.model_copy(
        update={"feedback_per_minute": 1, "feedback_burst": 3, "rate_limit_per_minute": 0}
    )
    with TestClient(create_app(settings)) as client:
        fields = _page_form(client)
        vote = {"rating": 1, "question": fields["question"], "answer": json.loads(fields["answer"])}
        codes = [client.post("/api/feedback", json=vote).status_code for _ in range(2)]
        codes.append(client.post("/feedback", data={**fields, "rating": "1"}).status_code)
        limited = client.post("/api/feedback", json=vote)
        assert codes == [201, 201, 200] and limited.status_code == 429
        assert limited.json()["detail"].startswith("Too many votes from this client")
        assert int(limited.headers["retry-after"]) >= 1
        assert client.post("/feedback", data={**fields, "rating": "1"}).status_code == 429
        assert client.post("/api/ask", json={"question": "aspirin and Reye syndrome"}).status_code == 200  # apart


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"question": "q" * 10_001}, 422, "question: String should have at most 10000 characters"),
        ({"comment": "c" * 2_001}, 422, "comment: String should have at most 2000 characters"),
        ({"quote": "x" * 40_000}, 413, "The vote is too large to store ("),
    ],
)
def test_oversized_votes_are_refused_clearly(
    client: TestClient, change: dict[str, str], status: int, detail: str
) -> None:
    fields = _page_form(client)
    answer = json.loads(fields["answer"])
    if "quote" in change:
        answer["sections"][0]["bullets"][0]["quote"] = change.pop("quote")
    vote = {"rating": 1, "question": fields["question"], "answer": answer, **change}
    r = client.post("/api/feedback", json=vote)
    assert r.status_code == status and r.json()["detail"].startswith(detail), r.text
    if status == 413:
        assert "the limit is 32,768" in r.json()["detail"]
        form = {**fields, **signed(client, fields["question"], json.dumps(answer)), "rating": "1"}
        r = client.post("/feedback", data=form)
        assert r.status_code == 413 and "too large to store" in r.text
    assert exported(client) == []


def test_the_feedback_export_is_for_the_admin_only(hash_settings: Settings) -> None:
    """Before this work anyone could read every question, Slack user, team and channel id, user agent and
    comment from GET /api/feedback."""
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    with TestClient(create_app(hash_settings)) as off:
        r = off.get("/api/feedback", headers=ADMIN)
        assert r.status_code == 404 and "BOT_ADMIN_TOKEN" in r.json()["detail"] and "off" in r.json()["detail"]
    settings = hash_settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    with TestClient(create_app(settings)) as client:
        fields = _page_form(client)
        assert client.post("/feedback", data={**fields, "rating": "1"}).status_code == 200
        wrong: list[dict[str, Any]] = [
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": f"Basic {ADMIN_TOKEN}"},
            {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
            {"Authorization": "Bearer ünïcode".encode()},
        ]
        for headers in wrong:
            r = client.get("/api/feedback", headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in r.json()["detail"] and fields["question"] not in r.text
        rows = exported(client)
        assert [row["question"] for row in rows] == [fields["question"]]


def test_the_openapi_page_documents_the_admin_token(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["adminToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and "BOT_ADMIN_TOKEN" in scheme["description"]
    export = schema["paths"]["/api/feedback"]["get"]
    assert export["security"] == [{"adminToken": []}]
    assert {"200", "401", "404"} <= set(export["responses"]) and "BOT_ADMIN_TOKEN" in export["description"]
    assert {"403", "413", "429"} <= set(schema["paths"]["/api/feedback"]["post"]["responses"])


def test_the_export_is_read_a_page_at_a_time(tmp_path: Any) -> None:
    """GET /api/feedback streams rows from SQLite a page at a time: reading the start of a 20 MB table takes
    about a page of memory (before this work the whole table was loaded into a list first)."""
    import tracemalloc

    from bot.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    row = ("2026-11-30T00:00:00+00:00", "web", 1, "q" * 10_000, "{}", "{}")
    with store._db.transaction() as tx:
        for _ in range(2_000):
            tx.execute("INSERT INTO feedback (ts, channel, rating, question, answer, meta) VALUES (?,?,?,?,?,?)", row)
    tracemalloc.start()
    try:
        rows = store.export(page=100)
        first = [next(rows) for _ in range(10)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r["id"] for r in first] == list(range(1, 11))
    assert peak < 3_000_000, peak  # the table is 20 MB
    store.add(rating=-1, question="added while exporting", answer={})
    rest = list(rows)
    assert len(rest) == 2_000 - 10 + 1 and rest[-1]["question"] == "added while exporting"
    assert [r["id"] for r in rest] == list(range(11, 2_002))
