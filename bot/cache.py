"""A content-addressed, on-disk cache of chunk vectors (SQLite), shared by every index and evaluation.

Key: sha of the exact text embedded; one database per model. A rebuild, another index of the same
documents, or a second `bot eval` run embeds only what no earlier run has embedded.

Every row carries a digest of its key and vector bytes, checked on every read: a row that fails it (a
flipped bit on disk, a torn write) or has none (written before digests existed) is not used but dropped
and embedded again, with a warning saying how many. The cache lives outside the index, so unlike the
index files it has no manifest checksums to lean on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def row_digest(key: str, blob: bytes) -> bytes:
    """The digest stored with a cached vector: sha256 of its key and its float32 bytes (16 bytes kept)."""
    h = hashlib.sha256(key.encode("utf-8"))
    h.update(b"\0")
    h.update(blob)
    return h.digest()[:16]


class VectorCache:
    def __init__(self, root: Path, model: str, dim: int) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_")[-80:] or "model"
        self.dim = dim
        self.path = root / f"vectors-{safe}-{dim}.sqlite"
        self.db: sqlite3.Connection | None = None
        self.dropped = 0  # rows read but not used: digest mismatch, no digest, or a wrong size
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL, digest BLOB)"
            )
            self._add_digest_column()
        except (OSError, sqlite3.Error) as exc:  # a cache must never stop a build
            log.warning("vector cache %s unavailable: %s", self.path, exc)
            self.db = None

    def _add_digest_column(self) -> None:
        """A cache written before rows had digests gains the column; its old rows (digest NULL) are not
        trusted, so each is embedded again the first time it is wanted and rewritten with a digest."""
        assert self.db is not None
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(vectors)")}
        if "digest" in columns:
            return
        try:
            with self.db:
                self.db.execute("ALTER TABLE vectors ADD COLUMN digest BLOB")
        except sqlite3.OperationalError:  # another process added it first
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(vectors)")}
            if "digest" not in columns:
                raise

    def get(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors of `hashes` that verify; rows that do not are deleted and left out."""
        if self.db is None:
            return {}
        wanted = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        damaged: list[str] = []
        unchecked: list[str] = []
        size = self.dim * 4
        try:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ",".join("?" * len(part))
                query = f"SELECT hash, vec, digest FROM vectors WHERE hash IN ({marks})"
                for h, blob, digest in self.db.execute(query, part):
                    if digest is None:
                        unchecked.append(h)
                    elif len(blob) != size or row_digest(h, blob) != digest:
                        damaged.append(h)
                    else:
                        out[h] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.Error as exc:
            log.warning("vector cache read failed: %s", exc)
        if damaged or unchecked:
            self._drop(damaged, unchecked)
        return out

    def _drop(self, damaged: list[str], unchecked: list[str]) -> None:
        n = len(damaged) + len(unchecked)
        self.dropped += n
        reasons = []
        if damaged:
            reasons.append(f"{len(damaged)} damaged: digest differs")
        if unchecked:
            reasons.append(f"{len(unchecked)} without a digest: written by an older version")
        log.warning(
            "vector cache %s: %d cached vector%s dropped and embedded again (%s)",
            self.path, n, "" if n == 1 else "s", "; ".join(reasons),
        )  # fmt: skip
        assert self.db is not None
        try:
            with self.db:
                self.db.executemany("DELETE FROM vectors WHERE hash = ?", ((h,) for h in damaged + unchecked))
        except sqlite3.Error as exc:  # they are replaced when re-embedded anyway
            log.warning("vector cache write failed: %s", exc)

    def put(self, items: dict[str, np.ndarray]) -> None:
        if self.db is None or not items:
            return
        rows = []
        for h, v in items.items():
            blob = np.asarray(v, dtype=np.float32).tobytes()
            rows.append((h, blob, row_digest(h, blob)))
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO vectors (hash, vec, digest) VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            log.warning("vector cache write failed: %s", exc)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
