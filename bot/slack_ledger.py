"""Slack's bookkeeping: events already handled, answers given, signatures of recent requests. In
`BOT_DATA_DIR/slack.sqlite3`, or in the PostgreSQL database of `BOT_DATABASE_URL` (bot/database.py).

Kept in a database rather than in memory so that a retried event is answered once even when another process
(`bot serve --workers N`) or another replica on the same PostgreSQL database gets the retry, and so a 👍/👎 on
an answer can be stored with the answer it rates. The signatures of recent requests are kept there too, for the
same reason: a replayed request is recognised whichever worker or replica it reaches.

"Once" rests on the database's unique keys: each key is inserted with `ON CONFLICT DO NOTHING` inside a
transaction, and a call wins only if every one of its rows was inserted (a concurrent insert of the same key
waits for the other transaction, then finds the conflict).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from .database import Store

log = logging.getLogger(__name__)

EVENT_TTL_S = 24 * 3600  # Slack retries within minutes; a day is plenty
ANSWER_TTL_S = 90 * 24 * 3600  # how long a 👍/👎 can still find its answer
# Signatures are kept only while their timestamp is within the verification window (at most 10 minutes:
# Slack's timestamps may be up to 5 minutes ahead), and never more than this many (the oldest go first).
MAX_SIGNATURES = 100_000

_TABLES = (
    "CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, ts {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS answers (id TEXT PRIMARY KEY, ts {real} NOT NULL, question TEXT NOT NULL,"
    " answer TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS signatures (sig TEXT PRIMARY KEY, expires {real} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS signatures_expires ON signatures (expires)",
)
SCHEMA = {
    "sqlite": tuple(t.format(real="REAL") for t in _TABLES),
    # the expiry deletes run on every write: indexed here, where the tables may be shared by many replicas
    "postgresql": (
        *(t.format(real="DOUBLE PRECISION") for t in _TABLES),
        "CREATE INDEX IF NOT EXISTS seen_ts ON seen (ts)",
        "CREATE INDEX IF NOT EXISTS answers_ts ON answers (ts)",
    ),
}


class SlackLedger(Store):
    """The ledger, in a SQLite file (a path) or a PostgreSQL database (a `postgresql://` URL)."""

    SCHEMA = SCHEMA
    SQLITE_FILE = "slack.sqlite3"
    # Every verified request writes here (its signature): no disk flush per commit (SQLite's synchronous=NORMAL
    # in WAL mode, PostgreSQL's synchronous_commit=off). That is still crash-safe; a power cut can only lose the
    # last moments' entries, which at worst lets a request replayed across the cut through, or a 👍/👎 find no
    # answer (it is stored anyway).
    SYNCHRONOUS = "NORMAL"

    def first_time(self, *keys: str) -> bool:
        """Record `keys`; True only if none of them was recorded before (atomic across processes and replicas:
        when it is False, none of them is recorded by this call)."""
        now = time.time()
        self._db.execute("DELETE FROM seen WHERE ts < ?", (now - EVENT_TTL_S,))
        with self._db.transaction() as tx:
            inserted = 0
            for key in sorted(set(keys)):  # one order for every caller: concurrent calls cannot deadlock
                inserted += tx.execute("INSERT INTO seen (key, ts) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                       (key, now)).rowcount  # fmt: skip
            if inserted < len(set(keys)):
                tx.rollback()
                return False
        return True

    def first_signature(self, signature: str, expires: float, *, cap: int = MAX_SIGNATURES) -> bool:
        """Record a verified request's signature until `expires` (when its timestamp leaves the verification
        window, so a replay can no longer verify anyway); True only the first time it is seen. Atomic across
        threads, processes and replicas; at most `cap` signatures are kept (past it, the soonest to expire are
        dropped, with a warning: that many requests within ten minutes is far beyond Slack's traffic)."""
        now = time.time()
        self._db.execute("DELETE FROM signatures WHERE expires < ?", (now,))
        with self._db.transaction() as tx:
            inserted = tx.execute(
                "INSERT INTO signatures (sig, expires) VALUES (?, ?) ON CONFLICT DO NOTHING", (signature, expires)
            ).rowcount
            if not inserted:
                return False
            (count,) = tx.execute("SELECT count(*) FROM signatures").fetchone()
            if count > cap:
                tx.execute(
                    "DELETE FROM signatures WHERE sig IN (SELECT sig FROM signatures WHERE sig != ?"
                    " ORDER BY expires LIMIT ?)",
                    (signature, count - cap),
                )
                log.warning("slack: over %d request signatures in the replay window; the oldest were dropped", cap)
            return True

    def remember(self, question: str, answer: dict[str, Any]) -> str:
        """Keep an answer for its feedback buttons; returns the id the buttons carry."""
        answer_id = uuid.uuid4().hex
        now = time.time()
        self._db.execute("DELETE FROM answers WHERE ts < ?", (now - ANSWER_TTL_S,))
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO answers (id, ts, question, answer) VALUES (?, ?, ?, ?)",
                (answer_id, now, question, json.dumps(answer, ensure_ascii=False)),
            )
        return answer_id

    def recall(self, answer_id: str) -> tuple[str, dict[str, Any]] | None:
        rows = self._db.query("SELECT question, answer FROM answers WHERE id = ?", (answer_id,))
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def close(self) -> None:
        self._db.close()
