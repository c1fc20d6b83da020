"""Slack's bookkeeping in SQLite (`BOT_DATA_DIR/slack.sqlite3`): events already handled, answers given.

Kept in a file rather than in memory so that a retried event is answered once even when
`bot serve --workers N` hands the retry to another process, and so a 👍/👎 on an answer can be
stored with the answer it rates. The signatures of recent requests are kept there too, for the same
reason: a replayed request is recognised whichever worker it reaches.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .feedback import enable_wal

log = logging.getLogger(__name__)

EVENT_TTL_S = 24 * 3600  # Slack retries within minutes; a day is plenty
ANSWER_TTL_S = 90 * 24 * 3600  # how long a 👍/👎 can still find its answer
# Signatures are kept only while their timestamp is within the verification window (at most 10 minutes:
# Slack's timestamps may be up to 5 minutes ahead), and never more than this many (the oldest go first).
MAX_SIGNATURES = 100_000


class SlackLedger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        enable_wal(self._db)
        # Every verified request writes here (its signature), on the event loop: no fsync per commit. In WAL
        # mode that is still crash-safe; a power cut can only lose the last moments' entries, which at worst
        # lets a request replayed across the cut through, or a 👍/👎 find no answer (it is stored anyway).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, ts REAL NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (id TEXT PRIMARY KEY, ts REAL NOT NULL, question TEXT NOT NULL,"
            " answer TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS signatures (sig TEXT PRIMARY KEY, expires REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS signatures_expires ON signatures (expires)")

    def first_time(self, *keys: str) -> bool:
        """Record `keys`; True only if none of them was recorded before (atomic across processes)."""
        now = time.time()
        with self._transaction() as db:
            db.execute("DELETE FROM seen WHERE ts < ?", (now - EVENT_TTL_S,))
            marks = ",".join("?" * len(keys))
            if db.execute(f"SELECT 1 FROM seen WHERE key IN ({marks}) LIMIT 1", keys).fetchone():
                return False
            db.executemany("INSERT INTO seen (key, ts) VALUES (?, ?)", [(k, now) for k in keys])
            return True

    def first_signature(self, signature: str, expires: float, *, cap: int = MAX_SIGNATURES) -> bool:
        """Record a verified request's signature until `expires` (when its timestamp leaves the verification
        window, so a replay can no longer verify anyway); True only the first time it is seen. Atomic across
        threads and processes; at most `cap` signatures are kept (past it, the soonest to expire are
        dropped, with a warning: that many requests within ten minutes is far beyond Slack's traffic)."""
        now = time.time()
        with self._transaction() as db:
            db.execute("DELETE FROM signatures WHERE expires < ?", (now,))
            inserted = db.execute(
                "INSERT OR IGNORE INTO signatures (sig, expires) VALUES (?, ?)", (signature, expires)
            ).rowcount
            if not inserted:
                return False
            (count,) = db.execute("SELECT count(*) FROM signatures").fetchone()
            if count > cap:
                db.execute(
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
        with self._transaction() as db:
            db.execute("DELETE FROM answers WHERE ts < ?", (now - ANSWER_TTL_S,))
            db.execute(
                "INSERT INTO answers (id, ts, question, answer) VALUES (?, ?, ?, ?)",
                (answer_id, now, question, json.dumps(answer, ensure_ascii=False)),
            )
        return answer_id

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from the start (other processes wait)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def recall(self, answer_id: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            row = self._db.execute("SELECT question, answer FROM answers WHERE id = ?", (answer_id,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def close(self) -> None:
        self._db.close()
