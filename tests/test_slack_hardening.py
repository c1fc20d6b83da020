"""Slack hardening (issue #11): odd payloads are 400 not 500, odd signature headers 401 without a traceback,
replayed requests are not acted on twice. Offline: a stub engine, no index, no network (`offline_slack`)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack import REPLAYED, bot_users, ignore_reason
from bot.slack_blocks import ACTION_DOWN, ACTION_UP
from bot.slack_ledger import SlackLedger
from bot.slack_payloads import MAX_JSON_DEPTH, PayloadError, json_depth, loads
from tests.slack_fake import Offline, offline_slack
from tests.slack_http import form_body, interaction_body, signed_headers

SECRET = "hardening-signing-secret"
BOT_USER = "UBOT00001"
HOOK = "https://hooks.slack.com/actions/T1/2/abc"


@pytest.fixture
def off(tmp_path: Path) -> Iterator[Offline]:
    with offline_slack(tmp_path, SECRET) as o:
        yield o


def mention(**envelope: Any) -> dict[str, Any]:
    event = {"type": "app_mention", "user": "U0ASKER01", "text": f"<@{BOT_USER}> aspirin in children?",
             "ts": f"1700000000.{time.time_ns() % 10**6:06d}", "channel": "C0CHAN001"}  # fmt: skip
    event.update(envelope.pop("event", {}))
    return {"type": "event_callback", "event_id": f"Ev{time.time_ns()}", "event": event,
            "authorizations": [{"user_id": BOT_USER, "is_bot": True}], **envelope}  # fmt: skip


def click(**payload: Any) -> dict[str, Any]:
    base = {"type": "block_actions", "user": {"id": "U0ASKER01"}, "team": {"id": "T1"}, "channel": {"id": "C1"},
            "response_url": HOOK, "message": {"ts": "1.2", "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "aspirin?"}}]},
            "actions": [{"action_id": ACTION_UP, "value": "no-such-answer", "type": "button"}]}  # fmt: skip
    base.update(payload)
    return base


def raw_event(text: str) -> bytes:
    return text.encode()


def deep(n: int) -> str:
    return "[" * n + "]" * n


# --- 1. odd shapes: 400, never 500, nothing done --------------------------------------------------------

ODD: dict[str, tuple[str, bytes]] = {
    "event user is a list": ("/slack/events", json.dumps(mention(event={"user": ["U0ASKER01"]})).encode()),
    "event user is an object": ("/slack/events", json.dumps(mention(event={"user": {"id": "U1"}})).encode()),
    "authorizations: 5": ("/slack/events", json.dumps(mention(authorizations=5)).encode()),
    "authorizations: [5]": ("/slack/events", json.dumps(mention(authorizations=[5])).encode()),
    "authed_users: 7": ("/slack/events", json.dumps(mention(authed_users=7)).encode()),
    "authed_users: [[1]]": ("/slack/events", json.dumps(mention(authed_users=[[1]])).encode()),
    "event: 5": ("/slack/events", json.dumps(mention() | {"event": 5}).encode()),
    "event_id: 5": ("/slack/events", json.dumps(mention(event_id=5)).encode()),
    "thread_ts: []": ("/slack/events", json.dumps(mention(event={"thread_ts": []})).encode()),
    "channel: {}": ("/slack/events", json.dumps(mention(event={"channel": {}})).encode()),
    "challenge: []": ("/slack/events", b'{"type": "url_verification", "challenge": []}'),
    "50,000-deep array": ("/slack/events", raw_event("[" * 50_000)),
    "20,000-deep closed array": ("/slack/events", raw_event(deep(20_000))),
    "10,000-deep object": ("/slack/events", raw_event('{"a":' * 10_000 + "1" + "}" * 10_000)),
    "65-deep event field": ("/slack/events", json.dumps(mention(x=json.loads(deep(MAX_JSON_DEPTH)))).encode()),
    "NaN": ("/slack/events", b'{"type": "url_verification", "challenge": "c", "n": NaN}'),
    "Infinity": ("/slack/events", b'{"type": "url_verification", "challenge": "c", "n": -Infinity}'),
    "1e999": ("/slack/events", b'{"type": "url_verification", "challenge": "c", "n": 1e999}'),
    "5,000-digit integer": (
        "/slack/events",
        b'{"type": "url_verification", "challenge": "c", "n": ' + b"9" * 5000 + b"}",
    ),  # fmt: skip
    "lone surrogate in a mention": ("/slack/events", json.dumps(mention(event={"text": "hi \ud800"})).encode()),
    "lone surrogate in a key": ("/slack/events", b'{"type": "url_verification", "challenge": "c", "\\udfff": 1}'),
    "3,000-deep interaction": ("/slack/interactions", form_body({"payload": deep(3000)})),
    "message.blocks: 5": ("/slack/interactions", interaction_body(click(message={"blocks": 5}))),
    "message.blocks: [5]": ("/slack/interactions", interaction_body(click(message={"blocks": [5]}))),
    "message: []": ("/slack/interactions", interaction_body(click(message=[]))),
    "actions: [5]": ("/slack/interactions", interaction_body(click(actions=[5]))),
    "action value: list": (
        "/slack/interactions",
        interaction_body(click(actions=[{"action_id": ACTION_UP, "value": ["x"]}])),
    ),  # fmt: skip
    "action_id: {}": ("/slack/interactions", interaction_body(click(actions=[{"action_id": {}, "value": "x"}]))),
    "user: list": ("/slack/interactions", interaction_body(click(user=["U1"]))),
    "user.id: 5": ("/slack/interactions", interaction_body(click(user={"id": 5}))),
    "response_url: 5": ("/slack/interactions", interaction_body(click(response_url=5))),
    "interaction NaN": ("/slack/interactions", form_body({"payload": '{"type": "block_actions", "x": NaN}'})),
    "interaction lone surrogate": (
        "/slack/interactions",
        interaction_body(click(actions=[{"action_id": ACTION_DOWN, "value": "\udc00"}])),
    ),  # fmt: skip
    "second of two votes without value": (
        "/slack/interactions",
        interaction_body(click(actions=[{"action_id": ACTION_UP, "value": "a1"}, {"action_id": ACTION_DOWN}])),
    ),  # fmt: skip
    "command: empty response_url": ("/slack/commands", form_body({"text": "aspirin?", "response_url": ""})),
}


@pytest.mark.parametrize("case", list(ODD))
def test_odd_payloads_are_400_and_do_nothing(off: Offline, case: str, caplog: pytest.LogCaptureFixture) -> None:
    path, body = ODD[case]
    assert len(body) < 65536  # inside the body limit: the payload itself is what is refused
    r = off.post(path, body)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("The ") and "\n" not in detail and len(detail) < 200
    time.sleep(0.05)
    assert off.engine.asked == [] and off.votes() == [] and off.webhooks == [] and off.posts == []
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_just_within_the_depth_limit_is_accepted(off: Offline) -> None:
    nested = json.loads(deep(MAX_JSON_DEPTH - 2))  # the envelope object and `x` make it MAX_JSON_DEPTH deep
    r = off.post("/slack/events", json.dumps({"type": "url_verification", "challenge": "c", "x": nested}).encode())
    assert r.status_code == 200 and r.json() == {"challenge": "c"}


def test_well_formed_payloads_still_work(off: Offline) -> None:
    """The models are lenient: fields the bot does not read may hold anything; the rest still answers."""
    payload = mention(extra={"anything": [1, {"b": None}]}, event={"blocks": 5, "files": "x"}, authed_users=["U9"])
    assert off.post("/slack/events", json.dumps(payload).encode()).json() == {"ok": True}
    r = off.post("/slack/interactions", interaction_body(click(view=7, state=[1, 2])))
    assert r.status_code == 200
    (vote,) = off.votes()
    assert vote["question"] == "aspirin?" and vote["meta"]["user"] == "U0ASKER01"
    r = off.post("/slack/commands", form_body({"text": "aspirin?", "response_url": HOOK, "extra": "x"}))
    assert r.status_code == 200 and r.json()["response_type"] == "in_channel"
    deadline = time.monotonic() + 10
    while not off.posts and time.monotonic() < deadline:
        time.sleep(0.02)
    assert off.posts[0]["channel"] == "C0CHAN001"


def test_ignore_reason_and_bot_users_never_raise() -> None:
    assert ignore_reason({"type": "app_mention", "user": ["U1"]}, {"U1"}) is None  # a list is nobody's id
    assert ignore_reason({"type": ["app_mention"]}, set()) == "event type ['app_mention']"
    long_type = ignore_reason({"type": "x" * 500}, set())
    assert long_type is not None and len(long_type) < 100  # an odd type is named, briefly
    assert bot_users({"authorizations": 5, "authed_users": 7}) == set()
    assert bot_users({"authorizations": [5, {"user_id": ["U"]}, {"user_id": "U1"}], "authed_users": [[1], "U2"]}) == {
        "U1", "U2"}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0), ("1", 0), ("[]", 1), ("[[], {}]", 2), ('{"a": [{"b": [1]}]}', 4),
        ('["[[[[", "\\"[[[", {"}}}": "]]"}]', 2),  # brackets inside strings, escaped quotes
        ('["unterminated [[[[[[', 1), ("]]]][", 1), ('"\\\\"[[', 2),
    ],
)  # fmt: skip
def test_json_depth_skips_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_json_depth_is_linear_on_adversarial_input() -> None:
    worst = ['"' + '\\"' * 32_000, '"' * 64_000, "[" * 64_000, '["' + "\\\\" * 30_000 + '"' * 1000 + "]"]
    for text in worst:
        t0 = time.perf_counter()
        json_depth(text)
        assert time.perf_counter() - t0 < 1.0
    with pytest.raises(PayloadError, match="deeper than 64"):
        loads("[" * 65 + "]" * 65, "payload")
    assert loads("[" * 64 + "]" * 64, "payload") == json.loads("[" * 64 + "]" * 64)


# --- 2. odd signature headers: 401, no traceback --------------------------------------------------------

BAD_HEADERS: dict[str, dict[str, Any]] = {
    "309-digit timestamp": {"X-Slack-Request-Timestamp": "9" * 309},
    "5,000-digit timestamp": {"X-Slack-Request-Timestamp": "1" * 5000},
    "negative timestamp": {"X-Slack-Request-Timestamp": "-1700000000"},
    "float timestamp": {"X-Slack-Request-Timestamp": "1700000000.5"},
    "exponent timestamp": {"X-Slack-Request-Timestamp": "1.7e9"},
    "hex timestamp": {"X-Slack-Request-Timestamp": "0x6553f100"},
    "padded timestamp": {"X-Slack-Request-Timestamp": " 1700000000 "},
    "superscript digits": {"X-Slack-Request-Timestamp": "¹²³".encode("latin-1")},
    "Arabic-Indic digits (UTF-8 bytes)": {"X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠".encode()},
    "zero timestamp": {"X-Slack-Request-Timestamp": "0"},
    "non-ASCII signature": {"X-Slack-Signature": "v0=\xe9".encode("latin-1")},
    "signature of the wrong length": {"X-Slack-Signature": "v0=" + "a" * 63},
    "upper-case signature": {"X-Slack-Signature": "v0=" + "A" * 64},
    "v1 signature": {"X-Slack-Signature": "v1=" + "a" * 64},
    "empty signature": {"X-Slack-Signature": ""},
}


@pytest.mark.parametrize("path", ["/slack/events", "/slack/commands", "/slack/interactions"])
@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_odd_signature_headers_are_401_without_traceback(
    off: Offline, path: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = b'{"type": "url_verification", "challenge": "c"}' if path.endswith("events") else b"text=hi"
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
    headers.update(BAD_HEADERS[case])
    r = off.post(path, body, signed=False, headers=headers)
    assert r.status_code == 401 and r.json()["detail"]
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]


def test_well_signed_request_with_odd_headers_elsewhere_still_verifies(off: Offline) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    headers = {"X-Slack-Retry-Num": "9" * 400, "X-Slack-Retry-Reason": "\xe9".encode("latin-1")}
    assert off.post("/slack/events", body, headers=headers).json() == {"challenge": "c"}


# --- 3. replays: not acted on twice ---------------------------------------------------------------------


def replay(off: Offline, path: str, body: bytes) -> tuple[Any, Any]:
    headers = signed_headers(body, SECRET)
    return off.post(path, body, signed=False, headers=headers), off.post(path, body, signed=False, headers=headers)


def test_replayed_slash_command_is_409_and_not_answered(off: Offline) -> None:
    first, again = replay(off, "/slack/commands", form_body({"text": "aspirin in children?", "response_url": HOOK}))
    assert first.status_code == 200 and first.json()["response_type"] == "in_channel"
    assert again.status_code == 409 and again.json() == {"detail": REPLAYED}
    assert off.engine.asked == ["aspirin in children?"]


def test_replayed_vote_is_409_and_stored_once(off: Offline) -> None:
    first, again = replay(off, "/slack/interactions", interaction_body(click()))
    assert first.status_code == 200 and again.status_code == 409
    assert len(off.votes()) == 1
    time.sleep(0.2)
    assert len(off.webhooks) == 1  # one thank-you


def test_replayed_event_is_200_and_answered_once(off: Offline) -> None:
    body = json.dumps(mention()).encode()
    first, again = replay(off, "/slack/events", body)
    assert first.json() == {"ok": True}
    assert again.status_code == 200 and again.json() == {"ok": True, "ignored": "already handled"}
    url = b'{"type": "url_verification", "challenge": "c"}'
    first, again = replay(off, "/slack/events", url)
    assert first.json() == {"challenge": "c"} and again.json()["ignored"] == "already handled"
    time.sleep(0.3)
    assert len(off.engine.asked) == 1 and len(off.posts) == 1


def test_same_body_signed_again_is_a_new_request(off: Offline) -> None:
    """Slack signs each delivery afresh: the same command at another second is a new request (and the
    unsigned/garbled ones before it did not use up its signature)."""
    body = form_body({"text": "aspirin in children?", "response_url": HOOK})
    now = int(time.time())
    assert off.post("/slack/commands", body, signed=False, headers={
        "X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=" + "0" * 64}).status_code == 401  # fmt: skip
    assert off.post("/slack/commands", body, timestamp=now).status_code == 200
    assert off.post("/slack/commands", body, timestamp=now - 1).status_code == 200
    assert off.post("/slack/commands", body, timestamp=now).status_code == 409
    assert len(off.engine.asked) == 2


def test_replays_are_caught_across_workers(tmp_path: Path) -> None:
    """Two apps on one data folder (two `bot serve` workers): a replay to the other one is caught too."""
    with offline_slack(tmp_path, SECRET) as a, offline_slack(tmp_path, SECRET) as b:
        body = interaction_body(click())
        headers = signed_headers(body, SECRET)
        assert a.post("/slack/interactions", body, signed=False, headers=headers).status_code == 200
        assert b.post("/slack/interactions", body, signed=False, headers=headers).status_code == 409
        assert len(a.votes()) == 1


def test_signature_ledger_is_bounded_and_atomic(tmp_path: Path) -> None:
    ledger = SlackLedger(tmp_path / "s.sqlite3")
    now = time.time()
    assert ledger.first_signature("v0=a", now + 300) is True
    assert ledger.first_signature("v0=a", now + 300) is False
    assert ledger.first_signature("v0=old", now - 1) is True  # already expired: dropped at the next write
    assert ledger.first_signature("v0=b", now + 300) is True
    assert ledger.first_signature("v0=old", now + 300) is True  # its timestamp could no longer verify anyway
    for i in range(10):
        assert ledger.first_signature(f"v0=cap{i}", now + 100 + i, cap=5) is True
    [(count,)] = ledger._db.query("SELECT count(*) FROM signatures")
    assert count == 5  # the cap holds: the soonest to expire went first, the newest is kept
    assert ledger.first_signature("v0=cap9", now + 300, cap=5) is False

    results: list[bool] = []
    others = [SlackLedger(tmp_path / "s.sqlite3") for _ in range(4)]  # as other processes would
    barrier = threading.Barrier(8)

    def race(led: SlackLedger) -> None:
        barrier.wait()
        results.append(led.first_signature("v0=raced", now + 300))

    threads = [threading.Thread(target=race, args=(led,)) for led in [ledger, *others, ledger, others[0], others[1]]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
