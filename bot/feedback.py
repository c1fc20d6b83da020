"""👍/👎 feedback from every channel, kept in one SQLite file (`BOT_DATA_DIR/feedback.sqlite3`)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def enable_wal(db: sqlite3.Connection, *, attempts: int = 50) -> None:
    """Switch a database to WAL, retrying while another process (a second `bot serve` worker starting at
    the same moment) holds the lock: the switch can fail at once with "database is locked" instead of
    waiting for the connection's busy timeout."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        enable_wal(self._db)
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS feedback (
                id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, channel TEXT NOT NULL,
                rating INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, meta TEXT NOT NULL)"""
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS secret (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
        self._db.commit()

    def add(
        self, *, rating: int, question: str, answer: dict[str, Any], channel: str = "web",
        meta: dict[str, Any] | None = None,
    ) -> int:  # fmt: skip
        """Store one vote (+1 or -1) with the question and the answer JSON; returns its id."""
        if rating not in (1, -1):
            raise ValueError("rating must be 1 (👍) or -1 (👎)")
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"), channel, rating, question,
            json.dumps(answer, ensure_ascii=False), json.dumps(meta or {}, ensure_ascii=False),
        )  # fmt: skip
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO feedback (ts, channel, rating, question, answer, meta) VALUES (?,?,?,?,?,?)", row
            )
            return int(cur.lastrowid or 0)

    def export(self, *, page: int = 200) -> Iterator[dict[str, Any]]:
        """Every vote, oldest first, read `page` rows at a time (by id, each page its own short query): memory
        stays bounded however large the table is, and no read transaction or lock is held between pages, so
        votes keep being stored while a slow client reads the export."""
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, ts, channel, rating, question, answer, meta FROM feedback WHERE id > ? ORDER BY id "
                    "LIMIT ?",
                    (after, page),
                ).fetchall()
            if not rows:
                return
            for id_, ts, channel, rating, question, answer, meta in rows:
                yield {"id": id_, "timestamp": ts, "channel": channel, "rating": rating, "question": question,
                       "answer": json.loads(answer), "meta": json.loads(meta)}  # fmt: skip
            after = rows[-1][0]

    def secret(self, name: str) -> bytes:
        """A random 32-byte key stored with the votes, made on first use: the same in every worker process and
        across restarts (it signs the no-JavaScript vote forms, so a page served by one worker can be posted
        to another)."""
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO secret (name, value) VALUES (?, randomblob(32))", (name,))
            row = self._db.execute("SELECT value FROM secret WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])

    def close(self) -> None:
        self._db.close()
