"""Shared fixtures: a tiny corpus, settings pointing at temporary folders, and a real index built once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bot.config import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(__file__).resolve().parent / "data" / "seed" / "calcinosis-cutis-dermatomyositis.md"
TINY = Path(__file__).resolve().parent / "data" / "tiny"
SHARED = ROOT.parent / "shared" / "data"
SEED_QUESTION = "How is calcinosis cutis treated in dermatomyositis?"
OFF_TOPIC_QUESTION = "What is the usual starting dose of metformin in type 2 diabetes?"


def stop(proc: subprocess.Popen, *, timeout: float = 30) -> None:  # type: ignore[type-arg]
    """Stop a server the test started: SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_corpus(dest: Path) -> Path:
    """The seed answer plus the tiny hand-made documents in each format."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED, dest / SEED.name)
    for f in TINY.iterdir():
        shutil.copy(f, dest / f.name)
    return dest


def make_settings(tmp: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "corpus": tmp / "corpus",
        "index": tmp / "index",
        "cache_dir": tmp / "cache",
        "data_dir": tmp / "data",
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real index (real MiniLM model, real FAISS, real BM25) of the tiny corpus, built once per session."""
    from bot.cli import do_index

    tmp = tmp_path_factory.mktemp("built")
    make_corpus(tmp / "corpus")
    settings = make_settings(tmp)
    do_index(settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def engine(built: Settings):  # type: ignore[no-untyped-def]
    from bot.engine import Engine

    return Engine.load(built)


@pytest.fixture
def hash_settings(tmp_path: Path) -> Settings:
    """Settings for fast unit tests with the hashing embedder (not a real model)."""
    make_corpus(tmp_path / "corpus")
    return make_settings(tmp_path, model="hash:128", min_score=0.05)


def tiny_pdf(lines: list[tuple[int, int, int, str]], info: str = "") -> bytes:
    """A minimal PDF (Helvetica): (x, y, size, text) per line; `info` = the entries of its /Info."""
    ops = " ".join(f"BT /F1 {size} Tf {x} {y} Td ({text}) Tj ET" for x, y, size, text in lines)
    stream = ops.encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< {info} >>".encode("latin-1"),
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out
