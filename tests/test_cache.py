"""The vector cache verifies what it hands back: through the real `bot` command, a flipped bit in a cached
vector (or a cache written before rows had digests) is dropped and embedded again with a warning, and the
build's vectors equal a clean build's."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bot.cache import VectorCache
from tests.conftest import make_corpus
from tests.test_faults import BOT, MODEL, bot_env
from tests.test_integrity import vectors

pytestmark = pytest.mark.slow


def index(corpus: Path, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*BOT, "index", "--corpus", str(corpus), "--index", str(root), "--no-progress"],
                            capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def cache_file(cache: Path) -> Path:
    (path,) = cache.glob("vectors-*.sqlite")
    return path


def flip_a_bit_of_a_cached_vector(path: Path) -> str:
    """Flip one bit inside one row's vector bytes in the SQLite file itself (as a bad disk sector would)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    key, blob = db.execute("SELECT hash, vec FROM vectors ORDER BY hash LIMIT 1").fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    at = data.find(blob)
    assert at > 0 and data.find(blob, at + 1) == -1
    data[at + len(blob) // 2] ^= 0x04  # a mantissa bit: the vector is slightly off, nothing else shows it
    path.write_bytes(bytes(data))
    return str(key)


def test_a_damaged_cached_vector_is_recomputed(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    env = bot_env(tmp_path)  # BOT_CACHE_DIR=tmp/cache
    first = index(corpus, tmp_path / "first", env)
    assert "0 reused" in first.stdout
    key = flip_a_bit_of_a_cached_vector(cache_file(tmp_path / "cache"))

    # no previous index: every vector comes from the cache, one of them damaged
    again = index(corpus, tmp_path / "again", env)
    assert "chunks: 1 embedded" in again.stdout, again.stdout
    assert "1 cached vector dropped and embedded again (1 damaged: digest differs)" in again.stderr, again.stderr

    clean = index(corpus, tmp_path / "clean", bot_env(tmp_path, BOT_CACHE_DIR="off"))
    assert "0 reused" in clean.stdout
    assert np.array_equal(vectors(tmp_path / "again"), vectors(tmp_path / "clean"))

    # the row was embedded again and rewritten: the next build trusts the whole cache again
    third = index(corpus, tmp_path / "third", env)
    assert "chunks: 0 embedded" in third.stdout and "dropped" not in third.stderr
    store = VectorCache(tmp_path / "cache", MODEL, 64)
    assert key in store.get([key]) and store.dropped == 0
    store.close()


def test_a_cache_without_digests_is_not_trusted(tmp_path: Path) -> None:
    """A cache written before rows had digests (table `vectors (hash, vec)`): no crash, its rows are embedded
    again (one of them damaged, which the old format could not tell), and rewritten with digests."""
    corpus = make_corpus(tmp_path / "corpus")
    index(corpus, tmp_path / "seed", bot_env(tmp_path, BOT_CACHE_DIR=str(tmp_path / "new-cache")))
    new = sqlite3.connect(cache_file(tmp_path / "new-cache"))
    rows = new.execute("SELECT hash, vec FROM vectors").fetchall()
    new.close()
    old_cache = tmp_path / "cache"
    old_cache.mkdir()
    old = sqlite3.connect(old_cache / cache_file(tmp_path / "new-cache").name)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL)")  # the format before digests
    damaged = bytearray(rows[0][1])
    damaged[10] ^= 0x04
    old.executemany("INSERT INTO vectors VALUES (?, ?)", [(rows[0][0], bytes(damaged)), *rows[1:]])
    old.commit()
    old.close()

    env = bot_env(tmp_path)
    migrated = index(corpus, tmp_path / "migrated", env)
    assert f"{len(rows)} without a digest: written by an older version" in migrated.stderr, migrated.stderr
    assert f"chunks: {len(rows)} embedded" in migrated.stdout
    index(corpus, tmp_path / "clean", bot_env(tmp_path, BOT_CACHE_DIR="off"))
    assert np.array_equal(vectors(tmp_path / "migrated"), vectors(tmp_path / "clean"))

    after = index(corpus, tmp_path / "after", env)
    assert "chunks: 0 embedded" in after.stdout and "dropped" not in after.stderr


def test_cache_rows_verify(tmp_path: Path) -> None:
    store = VectorCache(tmp_path, "hash:4", 4)
    good, bad, short = (np.arange(4, dtype=np.float32) + i for i in range(3))
    store.put({"good": good, "bad": bad, "short": short})
    assert store.db is not None
    with store.db:
        store.db.execute("UPDATE vectors SET vec = ? WHERE hash = 'bad'", ((bad + 1).tobytes(),))
        store.db.execute("UPDATE vectors SET vec = ? WHERE hash = 'short'", (short[:3].tobytes(),))
    found = store.get(["good", "bad", "short", "absent"])
    assert set(found) == {"good"} and np.array_equal(found["good"], good)
    assert store.dropped == 2
    assert store.get(["bad", "short"]) == {} and store.dropped == 2  # dropped rows are deleted, not re-reported
    store.close()
