"""A content-addressed, on-disk cache of chunk vectors (SQLite), shared by every index and evaluation.

Key: sha of the exact text embedded; one database per model. A rebuild, another index of the same
documents, or a second `bot eval` run embeds only what no earlier run has embedded.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class VectorCache:
    def __init__(self, root: Path, model: str, dim: int) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_")[-80:] or "model"
        self.dim = dim
        self.path = root / f"vectors-{safe}-{dim}.sqlite"
        self.db: sqlite3.Connection | None = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        except (OSError, sqlite3.Error) as exc:  # a cache must never stop a build
            log.warning("vector cache %s unavailable: %s", self.path, exc)
            self.db = None

    def get(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        if self.db is None:
            return {}
        wanted = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        try:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ",".join("?" * len(part))
                for h, blob in self.db.execute(f"SELECT hash, vec FROM vectors WHERE hash IN ({marks})", part):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,):
                        out[h] = vec
        except sqlite3.Error as exc:
            log.warning("vector cache read failed: %s", exc)
        return out

    def put(self, items: dict[str, np.ndarray]) -> None:
        if self.db is None or not items:
            return
        try:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    ((h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()),
                )
        except sqlite3.Error as exc:
            log.warning("vector cache write failed: %s", exc)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
