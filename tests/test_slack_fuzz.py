"""Signed-Slack fuzzing: requests signed exactly as Slack signs them (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`
with the signing secret), so every one gets past verification, over random payloads for the three routes:
slash commands (form), Events API (JSON) and interactions (a form field `payload` holding JSON). Most are
Slack-shaped with some fields replaced by random JSON values (or missing), the rest are random text, random
bytes and deep nesting. At least 1,000 requests; not one may be answered with a 5xx.

Offline (`offline_slack`): a stub engine, and slack_sdk's HTTP clients replaced by recorders, so no request
reaches the network whatever `response_url` it carries. Deterministic: Hypothesis derandomized, no database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack_blocks import ACTION_DOWN, ACTION_UP
from tests.slack_fake import Offline, offline_slack

SECRET = "fuzz-signing-secret"
BOT_USER = "UBOT00001"
EXAMPLES = 1200  # one request each
HOOKS = ["https://hooks.slack.com/commands/T1/2/abc", "https://hooks.slack.com/actions/T1/2/abc",
         "http://127.0.0.1:9/response/x", "https://evil.example/x", "", "not a url"]  # fmt: skip

leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()  # NaN and ±Infinity included: json.dumps writes them, the bot must refuse them
    | st.text(max_size=30)
)
any_json = st.recursive(
    leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)  # fmt: skip


def field(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: mostly (7 in 8) what Slack sends, else any JSON value."""
    return st.one_of(*[plausible] * 7, any_json)


def nested(depth: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    def build(n: int, kind: int) -> str:
        return ["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n, '[{"x":[' * (n // 3) + "0"][kind]

    return st.builds(build, depth, st.integers(0, 3))


ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=11)
ts = st.builds(lambda a, b: f"{a}.{b:06d}", st.integers(1_600_000_000, 1_800_000_000), st.integers(0, 999_999))
question = st.text(max_size=200) | st.sampled_from(["", "help", "aspirin in children?", f"<@{BOT_USER}> aspirin"])

event = st.fixed_dictionaries(
    {
        "type": field(st.sampled_from(["app_mention", "app_mention", "message", "reaction_added", "team_join"])),
        "user": field(st.sampled_from(["U0ASKER01", BOT_USER]) | ids),
        "text": field(question),
        "channel": field(ids),
        "ts": field(ts),
    },
    optional={
        "thread_ts": field(ts),
        "channel_type": field(st.sampled_from(["im", "channel", "group"])),
        "subtype": field(st.sampled_from(["bot_message", "message_changed", "file_share"])),
        "bot_id": field(ids),
        "bot_profile": field(st.fixed_dictionaries({"id": ids})),
        "blocks": any_json,
    },
)
envelope = st.fixed_dictionaries(
    {
        "type": field(st.sampled_from(["event_callback", "event_callback", "url_verification", "app_rate_limited"])),
        "event": field(event),
        "event_id": field(ids.map(lambda s: "Ev" + s)),
    },
    optional={
        "challenge": field(st.text(max_size=40)),
        "token": st.text(max_size=10),
        "authorizations": field(st.lists(st.fixed_dictionaries({}, optional={"user_id": field(ids)}), max_size=3)),
        "authed_users": field(st.lists(ids, max_size=3)),
        "event_time": any_json,
    },
)
action = st.fixed_dictionaries(
    {
        "action_id": field(st.sampled_from([ACTION_UP, ACTION_DOWN, "other"])),
        "value": field(ids | st.text(max_size=20)),
    },
    optional={
        "block_id": any_json,
        "type": st.just("button"),
    },
)
block = st.fixed_dictionaries(
    {"type": field(st.sampled_from(["header", "section", "actions"]))},
    optional={"text": field(st.fixed_dictionaries({"type": st.just("plain_text"), "text": field(question)}))},
)
click = st.fixed_dictionaries(
    {
        "type": field(st.sampled_from(["block_actions", "block_actions", "view_submission", "shortcut"])),
        "actions": field(st.lists(action, max_size=3)),
    },
    optional={
        "response_url": field(st.sampled_from(HOOKS)),
        "user": field(st.fixed_dictionaries({}, optional={"id": field(ids)})),
        "team": field(st.fixed_dictionaries({}, optional={"id": field(ids)})),
        "channel": field(st.fixed_dictionaries({}, optional={"id": field(ids)})),
        "message": field(st.fixed_dictionaries({}, optional={"blocks": field(st.lists(block, max_size=3))})),
        "container": any_json,
    },
)
command = st.fixed_dictionaries(
    {
        "command": st.sampled_from(["/ask", "/other", ""]) | st.text(max_size=10),
        "text": question,
        "response_url": st.sampled_from(HOOKS) | st.text(max_size=30),
    },
    optional={
        "user_id": ids,
        "channel_id": ids,
        "token": st.text(max_size=10),
        "trigger_id": st.text(max_size=10),
    },
)
junk = st.one_of(
    st.text(max_size=300).map(str.encode),
    st.binary(max_size=100),  # not UTF-8: cannot be verified (401), as documented
    nested(st.integers(1, 10_000)).map(str.encode),  # all within the 64 KiB body limit,
    any_json.map(lambda v: json.dumps(v).encode()),
)


def events_body() -> st.SearchStrategy[bytes]:
    return st.one_of(envelope.map(lambda d: json.dumps(d).encode()), envelope.map(
        lambda d: json.dumps(d).encode()), junk)  # fmt: skip


def interactions_body() -> st.SearchStrategy[bytes]:
    payload = st.one_of(click.map(json.dumps), click.map(json.dumps), nested(st.integers(1, 2000)),
                        any_json.map(json.dumps), st.text(max_size=100))  # fmt: skip
    form = st.one_of(payload.map(lambda p: {"payload": p}), st.dictionaries(st.text(max_size=8), st.text(max_size=30)))
    return st.one_of(form.map(lambda f: urlencode(f).encode()), form.map(lambda f: urlencode(f).encode()), junk)


def commands_body() -> st.SearchStrategy[bytes]:
    return st.one_of(command.map(lambda f: urlencode(f).encode()), command.map(lambda f: urlencode(f).encode()), junk)


requests = st.one_of(
    st.tuples(st.just("/slack/events"), events_body()),
    st.tuples(st.just("/slack/interactions"), interactions_body()),
    st.tuples(st.just("/slack/commands"), commands_body()),
)


@pytest.fixture
def off(tmp_path: Path) -> Iterator[Offline]:
    with offline_slack(tmp_path, SECRET) as o:
        yield o


def test_signed_fuzz_never_gets_a_5xx(off: Offline) -> None:
    seen: Counter[tuple[str, int]] = Counter()
    sent = iter(range(10**9))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(request=requests)
    def fuzz(request: tuple[str, bytes]) -> None:
        path, body = request
        # A fresh timestamp per request (within Slack's 5 minutes), so a body Hypothesis repeats is a new request
        # rather than a replay, unless it comes round again within 240 requests.
        r = off.post(path, body, timestamp=int(time.time()) - next(sent) % 240)
        seen[(path, r.status_code)] += 1
        assert r.status_code < 500, (path, body[:300], r.status_code, r.text[:300])
        assert r.status_code in (200, 400, 401, 409), (path, r.status_code, r.text[:300])
        if r.status_code != 200 or path == "/slack/events":
            assert isinstance(r.json(), dict)

    fuzz()
    total = sum(seen.values())
    print(f"signed Slack fuzz: {total} requests, {dict(sorted(seen.items()))}")
    assert total >= 1000
    for path in ("/slack/events", "/slack/interactions", "/slack/commands"):
        assert seen[(path, 200)] >= 20 and seen[(path, 400)] >= 20, seen  # both sides of each route were reached
    assert off.engine.asked and off.votes()  # questions answered and votes stored along the way
    assert all(url.startswith("https://hooks.slack.com/") or url.startswith("http://127.0.0.1:9/")
               for url, _ in off.webhooks)  # fmt: skip
