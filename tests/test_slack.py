"""Slack over real HTTP: requests signed as Slack signs them, a real uvicorn, a fake Slack Web API on loopback.

The engine is the real one (MiniLM + FAISS on the tiny corpus); `Tunable` can slow it down or make it fail.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.app import create_app
from bot.config import Settings
from bot.documents import Answer, AnswerSection, Bullet, Reference, kind_heading
from bot.engine import Engine, EngineHolder
from bot.slack import FAILED, NOT_READY, SEARCHING, ignore_reason, plain_text
from bot.slack_blocks import (
    ACTION_DOWN,
    ACTION_UP,
    FULL_ANSWER,
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    answer_message,
    section_texts,
)
from bot.slack_ledger import SlackLedger
from tests.conftest import OFF_TOPIC_QUESTION, ROOT, SEED_QUESTION
from tests.slack_fake import FakeSlack
from tests.slack_http import SlackSender, interaction_body, serve

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-0000-not-a-real-token"
PUBLIC = "https://bot.example.org"
BOT_USER = "UBOT00001"


class Tunable:
    """The real engine, optionally slowed down or failing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.delay = 0.0
        self.error: Exception | None = None
        self.asked: list[str] = []

    def ask(self, question: str, *, kinds: list[str] | None = None) -> Answer:
        self.asked.append(question)
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.engine.ask(question, kinds=kinds)

    def info(self) -> dict[str, Any]:
        return self.engine.info()


class FixedHolder(EngineHolder):
    def __init__(self, settings: Settings, engine: Any) -> None:
        super().__init__(settings)
        self._engine = engine

    def maybe_reload(self, *, min_interval: float = 1.0) -> bool:
        return False


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture(scope="module")
def tunable(engine: Engine) -> Tunable:
    return Tunable(engine)


@pytest.fixture(scope="module")
def slack_app(built: Settings, fake: FakeSlack, tunable: Tunable, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = built.model_copy(
        update={
            "slack_signing_secret": SecretStr(SECRET),
            "slack_bot_token": SecretStr(TOKEN),
            "slack_api_url": fake.url + "/api/",
            "public_url": PUBLIC,
            "data_dir": tmp_path_factory.mktemp("slack-data"),
        }
    )
    holder = FixedHolder(settings, tunable)
    return create_app(settings, holder=holder)


@pytest.fixture(scope="module")
def slack(slack_app) -> Iterator[SlackSender]:  # type: ignore[no-untyped-def]
    with serve(slack_app) as url:
        yield SlackSender(url, SECRET)


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "tunable" in request.fixturenames:
        t = request.getfixturevalue("tunable")
        t.delay, t.error = 0.0, None


_counter = iter(range(1, 10**9))


def unique() -> str:
    return f"{time.time():.0f}{next(_counter):06d}"


def event(text: str, *, kind: str = "app_mention", channel: str | None = None, event_id: str | None = None,
          ts: str | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """An Events API `event_callback` as Slack sends it."""
    ev = {"type": kind, "user": "U0ASKER01", "text": text, "ts": ts or f"1700000000.{unique()}",
          "channel": channel or f"C{unique()}", "event_ts": "1700000000.000001", **extra}  # fmt: skip
    return {
        "token": "legacy-verification-token",
        "team_id": "T0TEAM001",
        "api_app_id": "A0APP0001",
        "event": ev,
        "type": "event_callback",
        "event_id": event_id or f"Ev{unique()}",
        "event_time": 1700000000,
        "authorizations": [{"team_id": "T0TEAM001", "user_id": BOT_USER, "is_bot": True}],
    }


def command(text: str, fake: FakeSlack) -> dict[str, str]:
    hook = unique()
    return {"token": "legacy", "team_id": "T0TEAM001", "channel_id": "C0CHAN001", "user_id": "U0ASKER01",
            "command": "/ask", "text": text, "response_url": f"{fake.url}/response/{hook}",
            "trigger_id": "1.2.3"}  # fmt: skip


def to_channel(channel: str) -> Any:
    return lambda c: c.path == "/api/chat.postMessage" and c.body.get("channel") == channel


def to_hook(url: str) -> Any:
    return lambda c: url.endswith(c.path)


def check_limits(blocks: list[dict[str, Any]]) -> None:
    assert 1 <= len(blocks) <= MAX_BLOCKS
    assert all(len(t) <= MAX_SECTION_TEXT for t in section_texts(blocks))
    for b in blocks:
        if b["type"] == "header":
            assert 0 < len(b["text"]["text"]) <= MAX_HEADER_TEXT
        if b["type"] == "context":
            assert len(b["elements"]) <= 10


def check_answer_blocks(blocks: list[dict[str, Any]], engine: Engine, question: str) -> None:
    """The seed answer in Block Kit: header, kind headings in order, exact quotes citing the source viewer."""
    check_limits(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": question}}
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    headings = [t for t in texts if t.startswith("*From ")]
    assert headings[0] == "*From the Guidelines*"
    quotes = [t for t in texts if t.startswith(">")]
    assert quotes
    for text in quotes:
        m = re.fullmatch(r">(.*?) ((?:<[^|>]+\|\[\d+\]> ?)+)(?:\n_([^\n]+)_)?", text, re.S)  # quote [n] _section_
        assert m, text
        quote = html.unescape(m.group(1).replace("\n>", "\n"))
        for url, _n in re.findall(r"<([^|>]+)\|\[(\d+)\]>", m.group(2)):
            url = html.unescape(url)  # `&` in a link's URL is escaped as Slack specifies
            doc_id, start, end = re.fullmatch(rf"{PUBLIC}/source/([^?]+)\?start=(\d+)&end=(\d+)", url).groups()  # type: ignore[union-attr]
            doc = engine.index.document(doc_id.replace("%2F", "/"))
            assert doc is not None and doc.text[int(start) : int(end)] == quote
    assert any(b["type"] == "context" and "/source/" in b["elements"][0]["text"] for b in blocks)
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [ACTION_UP, ACTION_DOWN]


# --- Block Kit rendering -------------------------------------------------------------------------------


def test_real_answer_renders_as_block_kit(engine: Engine) -> None:
    answer = engine.ask(SEED_QUESTION)
    msg = answer_message(answer, public_url=PUBLIC + "/", answer_id="a1")
    check_answer_blocks(msg.blocks, engine, SEED_QUESTION)
    assert [b["text"]["text"] for b in msg.blocks if b["type"] == "section" and b["text"]["text"].startswith("*F")] == [
        f"*{s.heading}*" for s in answer.sections
    ]
    assert not msg.trimmed and FULL_ANSWER not in json.dumps(msg.blocks)
    n, m = len(answer.quotes()), len(answer.references)
    assert msg.text == f"{SEED_QUESTION} ({n} quote{'s' * (n != 1)} from {m} source{'s' * (m != 1)})"
    assert {e["value"] for e in msg.blocks[-1]["elements"]} == {"a1"}


def test_decline_is_one_short_message(engine: Engine) -> None:
    msg = answer_message(engine.ask(OFF_TOPIC_QUESTION), public_url=PUBLIC, answer_id="a2")
    assert len(msg.blocks) == 1 and msg.blocks[0]["type"] == "section"
    assert "could not find" in msg.text and len(msg.text) < 300


def synthetic(question: str, quotes: list[str], *, kinds: int = 3, title: str = "A title", doc_id: str = "doc/1",
              url: str | None = "https://example.org/x?a=1&b=2") -> Answer:  # fmt: skip
    kind_names = ["guideline", "drug_label", "research", "other", "case_report"][:kinds]
    sections: dict[str, list[Bullet]] = {}
    for i, q in enumerate(quotes):
        kind = kind_names[i % len(kind_names)]
        sections.setdefault(kind, []).append(Bullet(q, [i + 1], f"{doc_id}-{i}", 10 * i, 10 * i + len(q)))
    refs = [Reference(i + 1, f"{doc_id}-{i}", f"{title} {i}", kind_names[i % len(kind_names)], url)
            for i in range(len(quotes))]  # fmt: skip
    secs = [AnswerSection(k, kind_heading(k), b) for k, b in sections.items()]
    return Answer(question=question, answered=True, sections=secs, references=refs)


def shown_quotes(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for b in blocks:
        if b["type"] == "section" and b["text"]["text"].startswith(">"):
            body = b["text"]["text"][1:].rsplit(" <", 1)[0]
            while body.endswith(">") and " <" in body:  # several citations
                body = body.rsplit(" <", 1)[0]
            out.append(html.unescape(body.replace("\n>", "\n")))
    return out


@pytest.mark.parametrize(
    ("question", "quotes", "trimmed"),
    [
        ("Short?", ["A plain quote of some length here."] * 3, False),
        ("Many quotes?", [f"Quote number {i} says something & <more>." for i in range(60)], True),
        ("A huge quote?", ["x&<>" * 2500], True),
        ("Newlines?", ["line one\nline two\n> not a quote marker | pipe"], False),
        ("q" * 1000, ["Fine quote, long question."], False),
        ("Long question and trimmed " + "é" * 990, [f"Quote {i}." * 20 for i in range(45)], True),
    ],
)
def test_limits_hold_and_trimming_links_the_full_answer(question: str, quotes: list[str], trimmed: bool) -> None:
    answer = synthetic(question, quotes)
    msg = answer_message(answer, public_url=PUBLIC, answer_id="z")
    check_limits(msg.blocks)
    assert msg.trimmed is trimmed
    assert (FULL_ANSWER in json.dumps(msg.blocks, ensure_ascii=False)) is trimmed
    if trimmed:
        note = next(b for b in msg.blocks if b["type"] == "context" and FULL_ANSWER in b["elements"][0]["text"])
        assert f"<{PUBLIC}/?" in note["elements"][0]["text"] or f"<{PUBLIC}/|" in note["elements"][0]["text"]
    assert msg.blocks[-1]["type"] == "actions"
    for shown, original in zip(shown_quotes(msg.blocks), [b.quote for b in answer.quotes()], strict=False):
        assert shown == original or (shown.endswith("…") and original.startswith(shown[:-1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=st.text(min_size=1, max_size=1000).filter(str.strip),
    quotes=st.lists(st.text(min_size=1, max_size=4000), min_size=1, max_size=70),
    title=st.text(min_size=1, max_size=400),
    kinds=st.integers(1, 5),
)
def test_any_answer_fits_slack(question: str, quotes: list[str], title: str, kinds: int) -> None:
    msg = answer_message(synthetic(question, quotes, title=title, kinds=kinds), public_url=PUBLIC, answer_id="h")
    check_limits(msg.blocks)
    assert msg.text and len(msg.text) <= 3000


@pytest.mark.parametrize(
    ("slack_text", "question"),
    [
        ("<@UBOT00001> how is calcinosis treated?", "how is calcinosis treated?"),
        ("<@UBOT00001|bot>   dose   &lt; 5 mg &amp; more?", "dose < 5 mg & more?"),
        ("see <https://example.org/a|this page> <#C123|general> <!here>", "see this page #general"),
        ("<https://example.org/a>", "https://example.org/a"),
        ("<@UBOT00001>", ""),
    ],
)
def test_plain_text_undoes_slack_formatting(slack_text: str, question: str) -> None:
    assert plain_text(slack_text) == question


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"bot_id": "B1"}, "a bot's message"),
        ({"user": BOT_USER}, "the bot's own message"),
        ({"subtype": "message_changed"}, "message subtype 'message_changed'"),
        ({"type": "message", "channel_type": "channel"}, "a channel message without a mention"),
        ({"type": "reaction_added"}, "event type 'reaction_added'"),
        ({"type": "message", "channel_type": "im"}, None),
        ({}, None),
    ],
)
def test_ignore_reason(extra: dict[str, Any], reason: str | None) -> None:
    ev = {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.2", "channel": "C1", **extra}
    assert ignore_reason(ev, {BOT_USER}) == reason


def test_ledger_dedups_across_processes(tmp_path: Path) -> None:
    a, b = SlackLedger(tmp_path / "s.sqlite3"), SlackLedger(tmp_path / "s.sqlite3")  # two workers, one file
    assert a.first_time("event:E1", "message:C:1") is True
    assert b.first_time("event:E1") is False and b.first_time("event:E2", "message:C:1") is False
    assert b.first_time("event:E3", "message:C:2") is True
    answer_id = a.remember("q?", {"answered": True})
    assert b.recall(answer_id) == ("q?", {"answered": True}) and b.recall("nope") is None


# --- HTTP: verification and malformed requests ---------------------------------------------------------


def test_url_verification_echoes_the_challenge(slack: SlackSender) -> None:
    r = slack.event({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                     "type": "url_verification"})  # fmt: skip
    assert r.status_code == 200
    assert r.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


REJECTIONS: dict[str, dict[str, Any]] = {
    "no signature headers": {"signed": False},
    "timestamp only": {"signed": False, "headers": {"X-Slack-Request-Timestamp": str(int(time.time()))}},
    "wrong secret": {"secret": "not-the-secret"},
    "stale timestamp": {"age": -6 * 60},  # relative to when the test runs, not when it was collected
    "future timestamp": {"age": 6 * 60},
    "garbage timestamp": {"headers": {"X-Slack-Request-Timestamp": "soon"}},
    "garbage signature": {"headers": {"X-Slack-Signature": "v0=zz"}},
}


@pytest.mark.parametrize("path", ["/slack/events", "/slack/commands", "/slack/interactions"])
@pytest.mark.parametrize("case", list(REJECTIONS))
def test_unverified_requests_are_401_and_do_nothing(
    slack: SlackSender, fake: FakeSlack, tunable: Tunable, slack_app: Any, path: str, case: str
) -> None:
    channel = f"CREJECT{unique()}"
    bodies = {
        "/slack/events": json.dumps(event(f"<@{BOT_USER}> {SEED_QUESTION} {channel}", channel=channel)).encode(),
        "/slack/commands": f"command=%2Fask&text=hi+{channel}&response_url={fake.url}/response/{channel}".encode(),
        "/slack/interactions": b"payload=" + json.dumps({"type": "block_actions", "actions": [
            {"action_id": ACTION_UP, "value": "x"}], "response_url": f"{fake.url}/response/{channel}"}).encode(),
    }  # fmt: skip
    options = dict(REJECTIONS[case])
    if "age" in options:
        options["timestamp"] = int(time.time()) + options.pop("age")
    r = slack.post(path, bodies[path], **options)
    assert r.status_code == 401 and "detail" in r.json()
    time.sleep(0.05)
    assert not any(channel in q for q in tunable.asked)
    assert not any(f["meta"].get("answer_id") == "x" for f in slack_app.state.feedback.export())
    assert not fake.select(lambda c: channel in c.path or c.body.get("channel") == channel)


def test_tampered_body_is_401(slack: SlackSender) -> None:
    body = json.dumps(event("hello")).encode()
    headers = slack.post("/slack/events", body).request.headers
    forged = body.replace(b"hello", b"HELLO")
    r = slack.post("/slack/events", forged, signed=False, headers={k: headers[k] for k in (
        "x-slack-request-timestamp", "x-slack-signature")})  # fmt: skip
    assert r.status_code == 401


MALFORMED = [
    ("/slack/events", b"not json"),
    ("/slack/events", b"[1, 2]"),
    ("/slack/events", b'{"type": "url_verification"}'),
    ("/slack/events", b'{"type": "event_callback", "event_id": "Ev1"}'),
    ("/slack/events", b'{"type": "event_callback", "event": {"type": "app_mention", "user": "U1"}, "event_id": "E"}'),
    (
        "/slack/events",
        b'{"type": "event_callback", "event": {"type": "app_mention", "user": "U1", "channel": "C",'
        b' "ts": "1.1", "text": 5}, "event_id": "E"}',
    ),  # fmt: skip
    ("/slack/events", b'{"type": "event_callback", "event": {"type": "app_mention", "user": "U1"}}'),
    ("/slack/commands", b"command=%2Fask&text=hello"),
    ("/slack/commands", b"command=%2Fask&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fx"),
    ("/slack/commands", b"\xff\xfe"),
    ("/slack/interactions", b"foo=bar"),
    ("/slack/interactions", b"payload=%7Bnot+json"),
    ("/slack/interactions", b"payload=%5B1%5D"),
    ("/slack/interactions", b'payload={"type": "block_actions", "actions": "up"}'),
    ("/slack/interactions", b'payload={"type": "block_actions", "actions": [{"action_id": "bot_feedback_up"}]}'),
]


@pytest.mark.parametrize(("path", "body"), MALFORMED)
def test_malformed_payloads_are_a_clear_4xx(slack: SlackSender, path: str, body: bytes) -> None:
    r = slack.post(path, body)
    assert r.status_code in (400, 401), r.text  # 401: bytes that are not UTF-8 cannot be verified
    assert r.json()["detail"]


def manifest_in(path: Path) -> Any:
    text = path.read_text(encoding="utf-8").split("## Connect to Slack")[-1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]


def test_manifest_in_the_docs_matches_the_routes(slack: SlackSender) -> None:
    manifest = manifest_in(ROOT / "docs" / "SLACK.md")
    assert manifest_in(ROOT / "README.md") == manifest
    conf = manifest["settings"]
    urls = [manifest["features"]["slash_commands"][0]["url"], conf["event_subscriptions"]["request_url"],
            conf["interactivity"]["request_url"]]  # fmt: skip
    paths = [u.replace("https://bot.example.org", "") for u in urls]
    assert paths == ["/slack/commands", "/slack/events", "/slack/interactions"]
    assert all(slack.post(p, b"{}", signed=False).status_code == 401 for p in paths)  # mounted, and guarded
    assert set(conf["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history"} <= scopes
    assert conf["interactivity"]["is_enabled"] is True


def test_slack_is_off_without_a_signing_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack")
    client = TestClient(create_app(Settings(index=tmp_path / "none", data_dir=tmp_path / "data")))
    for path in ("/slack/events", "/slack/commands", "/slack/interactions"):
        assert client.post(path, content=b"{}").status_code == 404
    assert any("Slack is off" in r.getMessage() for r in caplog.records)


# --- HTTP: answering -----------------------------------------------------------------------------------


def test_app_mention_is_answered_in_its_thread(slack: SlackSender, fake: FakeSlack, engine: Engine) -> None:
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    r = slack.event(payload)
    assert r.status_code == 200
    (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.body["thread_ts"] == payload["event"]["ts"]
    check_answer_blocks(call.body["blocks"], engine, SEED_QUESTION)


def test_mention_inside_a_thread_answers_in_that_thread(slack: SlackSender, fake: FakeSlack) -> None:
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}", thread_ts="1699999999.000100")
    slack.event(payload)
    (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    assert call.body["thread_ts"] == "1699999999.000100"


def test_direct_message_is_answered_in_thread(slack: SlackSender, fake: FakeSlack) -> None:
    payload = event(SEED_QUESTION, kind="message", channel=f"D{unique()}", channel_type="im")
    assert slack.event(payload).json() == {"ok": True}
    (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    assert call.body["thread_ts"] == payload["event"]["ts"]
    assert call.body["blocks"][0]["text"]["text"] == SEED_QUESTION


def test_off_topic_mention_gets_a_plain_decline(slack: SlackSender, fake: FakeSlack) -> None:
    payload = event(f"<@{BOT_USER}> {OFF_TOPIC_QUESTION}")
    slack.event(payload)
    (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    assert len(call.body["blocks"]) == 1 and "could not find" in call.body["text"]


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B0OTHER01"},
        {"user": BOT_USER},
        {"subtype": "message_changed"},
        {"type": "message", "channel_type": "channel"},
    ],  # fmt: skip
)
def test_bots_and_other_messages_are_ignored(slack: SlackSender, fake: FakeSlack, extra: dict[str, Any]) -> None:
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    payload["event"].update(extra)
    r = slack.event(payload)
    assert r.status_code == 200 and r.json()["ignored"]
    # A message that is answered, sent after the ignored one into the same channel: the only post there.
    follow = event(f"<@{BOT_USER}> {SEED_QUESTION}", channel=payload["event"]["channel"])
    slack.event(follow)
    fake.wait_for(to_channel(follow["event"]["channel"]))
    time.sleep(0.5)
    assert [c.body["thread_ts"] for c in fake.select(to_channel(follow["event"]["channel"]))] == [follow["event"]["ts"]]


def test_retried_event_is_answered_once(slack: SlackSender, fake: FakeSlack, tunable: Tunable) -> None:
    tunable.delay = 1.0  # the retries arrive while the first delivery is still being answered
    payload = event(SEED_QUESTION, kind="message", channel=f"D{unique()}", channel_type="im")
    assert slack.event(payload).json() == {"ok": True}
    for n in (1, 2, 3):
        headers = {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}
        assert slack.event(payload, headers=headers).json()["ignored"] == "already handled"
    # The same DM that also mentions the bot arrives as app_mention with its own event id: still once.
    twin = json.loads(json.dumps(payload))
    twin["event_id"], twin["event"]["type"] = f"Ev{unique()}", "app_mention"
    assert slack.event(twin).json()["ignored"] == "already handled"
    fake.wait_for(to_channel(payload["event"]["channel"]))
    time.sleep(1.5)
    assert len(fake.select(to_channel(payload["event"]["channel"]))) == 1


def test_event_ack_is_fast_even_when_answering_is_slow(slack: SlackSender, fake: FakeSlack, tunable: Tunable) -> None:
    tunable.delay = 4.0
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    t0 = time.monotonic()
    r = slack.event(payload)
    acked = time.monotonic() - t0
    assert r.status_code == 200 and acked < 3.0
    assert not fake.select(to_channel(payload["event"]["channel"]))
    (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    assert call.body["blocks"][0]["text"]["text"] == SEED_QUESTION


def test_slash_command_answers(slack: SlackSender, fake: FakeSlack, engine: Engine) -> None:
    fields = command(SEED_QUESTION, fake)
    r = slack.command(fields)
    assert r.status_code == 200
    body = r.json()
    if body["text"] == SEARCHING:  # the machine was busy: the answer follows on response_url
        assert body["response_type"] == "ephemeral"
        (call,) = fake.wait_for(to_hook(fields["response_url"]))
        body = call.body
        assert body["replace_original"] is False
    assert body["response_type"] == "in_channel"
    check_answer_blocks(body["blocks"], engine, SEED_QUESTION)


def test_slow_slash_command_acks_then_posts_to_response_url(
    slack: SlackSender, fake: FakeSlack, tunable: Tunable, engine: Engine
) -> None:
    tunable.delay = 2.5
    fields = command(SEED_QUESTION, fake)
    t0 = time.monotonic()
    r = slack.command(fields)
    acked = time.monotonic() - t0
    assert r.status_code == 200 and acked < 3.0
    assert r.json() == {"response_type": "ephemeral", "text": SEARCHING,
                        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": SEARCHING}}]}  # fmt: skip
    (call,) = fake.wait_for(to_hook(fields["response_url"]))
    assert call.body["response_type"] == "in_channel"
    check_answer_blocks(call.body["blocks"], engine, SEED_QUESTION)


@pytest.mark.parametrize("text", ["", "   ", "help"])
def test_empty_slash_command_shows_help(slack: SlackSender, fake: FakeSlack, tunable: Tunable, text: str) -> None:
    asked = len(tunable.asked)
    r = slack.command(command(text, fake))
    assert r.json()["response_type"] == "ephemeral" and "/ask" in r.json()["text"]
    assert len(tunable.asked) == asked


def test_answering_errors_reach_the_user_and_the_log(
    slack: SlackSender, fake: FakeSlack, tunable: Tunable, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack")
    tunable.error = RuntimeError("index file vanished")
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    slack.event(payload)
    (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    rid = re.search(r"reference (\w+)", call.body["text"]).group(1)  # type: ignore[union-attr]
    assert call.body["text"] == FAILED.format(rid=rid) and len(call.body["blocks"]) == 1
    failed = [r for r in caplog.records if rid in r.getMessage() and r.levelno == logging.ERROR]
    assert failed and failed[0].exc_info and "index file vanished" in str(failed[0].exc_info[1])

    fields = command(SEED_QUESTION, fake)  # the slash command says so too
    body = slack.command(fields).json()
    if body["text"] == SEARCHING:
        body = fake.wait_for(to_hook(fields["response_url"]))[0].body
    assert body["response_type"] == "ephemeral" and body["text"].startswith("Sorry, something went wrong")


def test_not_loaded_engine_is_reported(slack: SlackSender, fake: FakeSlack, slack_app: Any) -> None:
    holder = slack_app.state.holder
    engine, holder._engine = holder._engine, None
    try:
        payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
        slack.event(payload)
        (call,) = fake.wait_for(to_channel(payload["event"]["channel"]))
        assert call.body["text"] == NOT_READY
    finally:
        holder._engine = engine


def test_failed_post_is_logged_and_reported(
    slack: SlackSender, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack")
    fake.fail_next("invalid_blocks")
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    slack.event(payload)
    calls = fake.wait_for(to_channel(payload["event"]["channel"]), count=2)
    assert calls[1].body["text"].startswith("Sorry, something went wrong")
    assert any("invalid_blocks" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize(("action_id", "rating"), [(ACTION_UP, 1), (ACTION_DOWN, -1)])
def test_feedback_buttons_are_stored_with_the_answer(
    slack: SlackSender, fake: FakeSlack, slack_app: Any, action_id: str, rating: int
) -> None:
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    slack.event(payload)
    (post,) = fake.wait_for(to_channel(payload["event"]["channel"]))
    buttons = post.body["blocks"][-1]
    answer_id = buttons["elements"][0]["value"]
    hook = f"{fake.url}/response/{unique()}"
    click = {
        "type": "block_actions", "user": {"id": "U0ASKER01"}, "team": {"id": "T0TEAM001"},
        "channel": {"id": payload["event"]["channel"]}, "container": {"type": "message"},
        "message": {"ts": "1.2", "blocks": post.body["blocks"]}, "response_url": hook,
        "actions": [{"action_id": action_id, "block_id": buttons["block_id"], "value": answer_id,
                     "type": "button", "action_ts": "1.3"}],
    }  # fmt: skip
    assert len(interaction_body(click)) < Settings().max_body_bytes / 4  # far inside the body limit
    r = slack.interaction(click)
    assert r.status_code == 200
    stored = [f for f in slack_app.state.feedback.export() if f["meta"].get("answer_id") == answer_id]
    assert len(stored) == 1
    vote = stored[0]
    assert vote["channel"] == "slack" and vote["rating"] == rating and vote["question"] == SEED_QUESTION
    assert vote["answer"]["answered"] is True and vote["answer"]["sections"][0]["heading"] == "From the Guidelines"
    assert vote["meta"]["user"] == "U0ASKER01" and vote["meta"]["channel"] == payload["event"]["channel"]
    (thanks,) = fake.wait_for(to_hook(hook))
    assert thanks.body["response_type"] == "ephemeral" and thanks.body["replace_original"] is False


def test_other_interactions_are_acknowledged(slack: SlackSender, slack_app: Any) -> None:
    votes = len(list(slack_app.state.feedback.export()))
    assert slack.interaction({"type": "view_closed", "view": {}}).status_code == 200
    r = slack.interaction({"type": "block_actions", "actions": [{"action_id": "other", "value": "v"}]})
    assert r.status_code == 200 and len(list(slack_app.state.feedback.export())) == votes


def test_secrets_are_never_logged(slack: SlackSender, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    payload = event(f"<@{BOT_USER}> {SEED_QUESTION}")
    slack.event(payload)
    fake.wait_for(to_channel(payload["event"]["channel"]))
    fields = command(SEED_QUESTION, fake)
    if slack.command(fields).json()["text"] == SEARCHING:
        fake.wait_for(to_hook(fields["response_url"]))
    assert slack.event(payload, secret="wrong").status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "slack" in logged.lower()
    for secret in (SECRET, TOKEN, fields["response_url"]):
        assert secret not in logged
