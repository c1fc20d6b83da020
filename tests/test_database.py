"""BOT_DATABASE_URL: the feedback store and the Slack ledger on a REAL PostgreSQL server, started by this module
(tests/pg_server.py: initdb + pg_ctl in a temporary folder; `make test` installs Debian's `postgresql` when
missing). Skipped only where no PostgreSQL binaries are installed.

Two replicas are two apps (`create_app`, the Slack routes as in the offline Slack tests: a stub engine, Slack's
Web API recorded) that share nothing but the database URL: each has its own data folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.database import POOL_MAX, DatabaseError, Postgres, connect, describe
from bot.feedback import FeedbackStore
from bot.slack_blocks import ACTION_UP
from bot.slack_ledger import SlackLedger
from tests.conftest import ROOT
from tests.pg_server import Server, find_bin, free_port, temporary_postgres
from tests.slack_fake import Offline, StubEngine, offline_slack
from tests.slack_http import interaction_body, signed_headers

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed: pip install -e '.[postgres]'")
if find_bin() is None:
    pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql", allow_module_level=True)

SECRET = "replicas-signing-secret"
ADMIN_TOKEN = "replicas-admin-token-0123456789"
BOT_USER = "UBOT00001"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_postgres() as s:
        yield s


@pytest.fixture
def url(server: Server) -> str:
    """A fresh database on the shared server for each test."""
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def replicas(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Offline, Offline]]:
    """Two apps on one database, each with its own data folder (nothing else shared)."""
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    monkeypatch.setenv("BOT_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("BOT_FEEDBACK_PER_MINUTE", "0")
    with offline_slack(tmp_path / "a", SECRET) as a, offline_slack(tmp_path / "b", SECRET) as b:
        assert a.app.state.feedback.where == b.app.state.feedback.where == describe(url)
        yield a, b
    assert not (tmp_path / "a" / "data" / "slack.sqlite3").exists()  # the URL replaced the SQLite files
    assert not (tmp_path / "a" / "data" / "feedback.sqlite3").exists()


def mention(event_id: str, ts: str) -> bytes:
    event = {"type": "app_mention", "user": "U0ASKER01", "text": f"<@{BOT_USER}> aspirin in children?", "ts": ts,
             "channel": "C0CHAN001"}  # fmt: skip
    return json.dumps({"type": "event_callback", "event_id": event_id, "event": event,
                       "authorizations": [{"user_id": BOT_USER, "is_bot": True}]}).encode()  # fmt: skip


def post_event(replica: Offline, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    r = replica.post("/slack/events", body, signed=False, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_retried_event_is_answered_once_by_two_replicas(replicas: tuple[Offline, Offline]) -> None:
    a, b = replicas
    body = mention("Ev0001", "1700000000.000100")
    first = signed_headers(body, SECRET)
    assert post_event(a, body, first) == {"ok": True}
    # The same request again, to the other replica (a replay: same signature): not acted on.
    assert post_event(b, body, first) == {"ok": True, "ignored": "already handled"}
    # Slack's retry: the same event, signed anew a second later, with its retry headers: not answered again.
    retry = signed_headers(body, SECRET, timestamp=int(time.time()) + 1)
    assert retry["X-Slack-Signature"] != first["X-Slack-Signature"]
    retry |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post_event(b, body, retry) == {"ok": True, "ignored": "already handled"}
    assert post_event(a, body, retry) == {"ok": True, "ignored": "already handled"}

    # Many events, each delivered to both replicas at the same moment (as a retry racing the original would be,
    # each copy signed at its own second): every one is answered exactly once.
    events = [(f"EvRace{i:03d}", f"1700000001.{i:06d}") for i in range(24)]
    now = int(time.time())

    def deliver(job: tuple[int, Offline, bytes, int]) -> dict[str, Any]:
        _, replica, raw, ts = job
        return post_event(replica, raw, signed_headers(raw, SECRET, timestamp=ts))

    jobs = [(i, r, mention(e, ts), now - k) for i, (e, ts) in enumerate(events) for k, r in enumerate((a, b))]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(deliver, jobs))
    for i in range(len(events)):
        pair = [reply for (n, *_), reply in zip(jobs, replies, strict=True) if n == i]
        assert sorted(pair, key=len) == [{"ok": True}, {"ok": True, "ignored": "already handled"}], pair
    for replica in (a, b):
        replica.app.state.slack.pool.shutdown(wait=True)  # the answers are posted from the replicas' threads
    assert len(a.engine.asked) + len(b.engine.asked) == 1 + len(events)
    assert len(a.posts) + len(b.posts) == 1 + len(events)


def test_feedback_from_one_replica_is_in_the_others_export(replicas: tuple[Offline, Offline]) -> None:
    a, b = replicas
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = StubEngine().ask("aspirin in children?").to_dict()
    r = a.client.post("/api/feedback", json={"rating": 1, "question": "aspirin in children?", "answer": answer,
                                             "comment": "from replica a"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = b.client.get("/api/feedback", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    [row] = [json.loads(line) for line in r.text.splitlines()]
    assert (row["rating"], row["question"], row["channel"], row["answer"]) == (1, "aspirin in children?", "web",
                                                                                answer)  # fmt: skip
    assert row["meta"]["comment"] == "from replica a"
    # The no-JavaScript vote forms are signed with a key kept in the database: one replica's page posts to the other.
    assert a.app.state.vote_key == b.app.state.vote_key and len(a.app.state.vote_key) == 32

    # A Slack answer given by replica a, rated with its 👍 button on replica b: b finds the answer a stored.
    body = mention("EvVote1", "1700000002.000001")
    assert post_event(a, body, signed_headers(body, SECRET)) == {"ok": True}
    a.app.state.slack.pool.shutdown(wait=True)
    [post] = a.posts
    [answer_id] = [e["value"] for block in post["blocks"] for e in block.get("elements", [])
                   if e.get("action_id") == ACTION_UP]  # fmt: skip
    click = {"type": "block_actions", "user": {"id": "U0ASKER01"}, "team": {"id": "T1"}, "channel": {"id": "C1"},
             "actions": [{"action_id": ACTION_UP, "value": answer_id, "type": "button"}]}  # fmt: skip
    raw = interaction_body(click)
    assert b.post("/slack/interactions", raw, signed=False, headers=signed_headers(raw, SECRET)).status_code == 200
    votes = [json.loads(line) for line in a.client.get("/api/feedback", headers=admin).text.splitlines()]
    assert [(v["channel"], v["meta"].get("known_answer"), v["question"]) for v in votes] == [
        ("web", None, "aspirin in children?"),
        ("slack", True, "aspirin in children?"),  # b found the answer a stored
    ]
    assert votes[1]["answer"]["question"] == "aspirin in children?" and votes[1]["id"] > votes[0]["id"]


def test_the_ledger_semantics_hold_on_postgresql(url: str) -> None:
    """The SQLite ledger's tests (tests/test_slack.py, tests/test_slack_hardening.py), on PostgreSQL."""
    a, b = SlackLedger(url), SlackLedger(url)
    assert a.path is None and a.where == describe(url)
    # No disk flush per ledger commit (as SQLite's synchronous=NORMAL); the votes wait for theirs.
    assert a._db.query("SHOW synchronous_commit") == [("off",)]
    assert FeedbackStore(url)._db.query("SHOW synchronous_commit") == [("on",)]
    assert a.first_time("event:E1", "message:C:1") is True
    assert b.first_time("event:E1") is False and b.first_time("event:E2", "message:C:1") is False
    assert b.first_time("event:E2") is True  # the failed call above recorded none of its keys
    assert b.first_time("event:E3", "message:C:2") is True
    assert a.first_time("event:\x00E4") is True and b.first_time("event:\x00E4") is False  # no NUL in PG text
    answer_id = a.remember("q?", {"answered": True, "quote": "“≥ 5 mg”"})
    assert b.recall(answer_id) == ("q?", {"answered": True, "quote": "“≥ 5 mg”"}) and b.recall("nope") is None

    now = time.time()
    assert a.first_signature("v0=a", now + 300) is True
    assert b.first_signature("v0=a", now + 300) is False
    assert a.first_signature("v0=old", now - 1) is True  # already expired: dropped at the next write
    assert a.first_signature("v0=b", now + 300) is True
    assert b.first_signature("v0=old", now + 300) is True
    for i in range(10):
        assert a.first_signature(f"v0=cap{i}", now + 100 + i, cap=5) is True
    assert a._db.query("SELECT count(*) FROM signatures") == [(5,)]
    assert b.first_signature("v0=cap9", now + 300, cap=5) is False

    # Eight threads over four ledgers (as four processes or replicas would have) race for one signature and for
    # one event: exactly one wins each.
    ledgers = [a, b, SlackLedger(url), SlackLedger(url)]
    barrier = threading.Barrier(8)

    def race(led: SlackLedger) -> tuple[bool, bool]:
        barrier.wait()
        return led.first_signature("v0=raced", now + 300), led.first_time("event:raced", "message:C:raced")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(race, ledgers * 2))
    assert sorted(sig for sig, _ in results) == [False] * 7 + [True]
    assert sorted(ev for _, ev in results) == [False] * 7 + [True]
    for led in ledgers:
        led.close()


def test_schema_is_created_once_by_replicas_starting_together(url: str) -> None:
    """Replicas starting at the same moment on an empty database: one creates the tables, none fails."""
    barrier = threading.Barrier(6)

    def start(i: int) -> tuple[FeedbackStore | SlackLedger, int]:
        barrier.wait()
        store = FeedbackStore(url) if i % 2 else SlackLedger(url)
        return store, (store.add(rating=1, question=f"q{i}", answer={}) if isinstance(store, FeedbackStore) else 0)

    with ThreadPoolExecutor(6) as pool:
        started = list(pool.map(start, range(6)))
    feedback = started[1][0]
    assert isinstance(feedback, FeedbackStore)
    feedback.add(rating=-1, question="nul\x00byte", answer={"q": "\x00"})  # PostgreSQL text holds no NUL
    rows = list(feedback.export(page=2))  # paged, as the admin export reads it
    assert sorted(r["question"] for r in rows) == ["nul\ufffdbyte", "q1", "q3", "q5"]
    assert sorted(r["id"] for r in rows) == [1, 2, 3, 4] and rows[-1]["answer"] == {"q": "\x00"}
    assert feedback.secret("k") == FeedbackStore(url).secret("k")
    for store, _ in started:
        store.close()


def test_a_dropped_connection_is_replaced(server: Server, url: str) -> None:
    """The server ends every connection (a restart, a failover): the next calls reconnect and succeed."""
    import psycopg

    ledger, store = SlackLedger(url), FeedbackStore(url)
    assert ledger.first_time("event:before") is True
    store.add(rating=1, question="before", answer={})
    with psycopg.connect(server.url(), autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                              (url.rsplit("/", 1)[1],)).fetchall()  # fmt: skip
    assert len(ended) >= 2
    assert ledger.first_time("event:after") is True and ledger.first_time("event:before") is False
    assert ledger.recall(ledger.remember("q", {})) == ("q", {})
    store.add(rating=-1, question="after", answer={})
    assert [r["question"] for r in store.export()] == ["before", "after"]
    for db in (ledger._db, store._db):  # every connection taken was given back
        assert isinstance(db, Postgres) and db._slots._value == POOL_MAX  # type: ignore[attr-defined]
    ledger.close()
    store.close()


def test_an_unreachable_or_refused_database_is_one_clear_line(server: Server, url: str, tmp_path: Path) -> None:
    """`bot serve` stops at once with one line naming the host, never the password."""
    port = free_port()  # nothing listens there
    closed = f"postgresql://bot:hunter2-pw-9f3@127.0.0.1:{port}/botdb"
    wrong = url.replace(server.password, "hunter2-pw-9f3")
    database = url.rsplit("/", 1)[1]
    cases = {
        closed: f"error: cannot connect to the database at 127.0.0.1:{port}/botdb: connection to server at "
        f'"127.0.0.1", port {port} failed: Connection refused',
        wrong: f"error: cannot connect to the database at 127.0.0.1:{server.port}/{database}: connection to server "
        f'at "127.0.0.1", port {server.port} failed: FATAL:  password authentication failed for user "bot"',
        "mysql://bot:hunter2-pw-9f3@db.example/bot": "error: invalid setting database_url (BOT_DATABASE_URL): ",
    }
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "BOT_DATA_DIR": str(tmp_path)}
    for bad, expected in cases.items():
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--index", str(tmp_path / "none")],
                              env=env | {"BOT_DATABASE_URL": bad}, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 1 and time.monotonic() - started < 20
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), done.stderr
        assert "hunter2" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    # The same errors from the library, and the settings: the password shows nowhere.
    with pytest.raises(DatabaseError, match=r"^cannot connect to the database at 127\.0\.0\.1:\d+/t_\w+: ") as info:
        Postgres(wrong)
    assert "hunter2" not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(ValueError) as bad_setting:
        Settings(database_url=SecretStr("mysql://bot:hunter2-pw-9f3@db/bot"))
    assert "hunter2" not in str(bad_setting.value)
    assert "hunter2" not in repr(Settings(database_url=SecretStr(wrong)))
    with pytest.raises(DatabaseError, match="postgresql://"):
        connect("mysql://db/bot")


def test_sqlite_stays_the_default(tmp_path: Path) -> None:
    """No URL: the same two files in the data folder as before."""
    settings = Settings(data_dir=tmp_path / "data", index=tmp_path / "none", cache_dir=None)
    assert settings.database_url is None
    assert Settings(data_dir=tmp_path, database_url=" ").database_url is None  # type: ignore[arg-type]
    store, ledger = FeedbackStore.from_settings(settings), SlackLedger.from_settings(settings)
    assert (store.path, ledger.path) == (tmp_path / "data" / "feedback.sqlite3", tmp_path / "data" / "slack.sqlite3")
    assert store.add(rating=1, question="q", answer={}) == 1 and ledger.first_time("event:x") is True
    store.close()
    ledger.close()


def test_bench_ledger_smoke(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "ledger.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ledger.py"), "--requests", "20", "--url",
                           server.create_database("bench_smoke"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert {"sqlite", "postgresql"} <= set(report["results"]) and report["results"]["postgresql"]["slack_request"][
        "p50_ms"
    ] > 0
