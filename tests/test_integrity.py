"""A damaged index is never the base of a new one: through the real `bot` command, a flipped byte in the
current build's vectors makes the next `bot index` rebuild without reusing anything of it (and never say
"up to date"), and the new build answers exactly as a clean build of the same corpus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bot.index import load_index, resolve_build
from tests.conftest import make_corpus
from tests.test_faults import BOT, bot_env

pytestmark = pytest.mark.slow

QUESTIONS = ["Reye syndrome in children taking aspirin", "What is the first-line treatment for hypertension?"]


def bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOT, *args], capture_output=True, text=True, env=env, timeout=300)


def index(corpus: Path, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = bot("index", "--corpus", str(corpus), "--index", str(root), "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    return result


def flip_a_vector_byte(root: Path) -> None:
    build = resolve_build(root)
    assert build is not None
    path = build / "vectors.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) - 9] ^= 0x40  # a byte of the last row's floats (the flat index ends with its rows)
    path.write_bytes(bytes(data))


def answers(root: Path, env: dict[str, str]) -> list[dict[str, object]]:
    out = []
    for q in QUESTIONS:
        result = bot("ask", q, "--index", str(root), "--json", env=env)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        answer.pop("took_ms")
        out.append(answer)
    return out


def vectors(root: Path) -> np.ndarray:
    ix = load_index(root)
    try:
        return ix.vectors.reconstruct_n(0, ix.vectors.ntotal)
    finally:
        ix.close()


def test_rebuild_after_damage_equals_a_clean_build(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    env = bot_env(tmp_path, BOT_CACHE_DIR="off")  # no vector cache: vectors could only come from the old build
    damaged, clean = tmp_path / "damaged", tmp_path / "clean"
    index(corpus, damaged, env)
    flip_a_vector_byte(damaged)

    refused = bot("ask", QUESTIONS[0], "--index", str(damaged), env=env)
    assert refused.returncode != 0 and "corrupt" in refused.stderr

    # the fix the error names works: the same corpus is rebuilt, not reported "up to date"
    again = index(corpus, damaged, env)
    assert "up to date" not in again.stdout
    assert "damaged" in again.stderr and "nothing of it is reused" in again.stderr

    # damage again, then add a document: nothing of the damaged build is reused
    flip_a_vector_byte(damaged)
    (corpus / "gout.md").write_text("# Gout\n\nAllopurinol lowers serum urate in chronic gout.\n")
    rebuilt = index(corpus, damaged, env)
    assert "0 reused" in rebuilt.stdout

    index(corpus, clean, env)
    assert np.array_equal(vectors(damaged), vectors(clean))
    assert answers(damaged, env) == answers(clean, env)
