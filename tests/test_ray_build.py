"""`bot index --ray` on a real Ray cluster this module starts: a head node and a second node process joining it,
both on this machine with one CPU each (not local mode). The build through the cluster equals a build on one
machine; a worker process that dies mid-job is restarted and its batch retried; a failing job leaves the
previous index serving.

The cluster's processes are stopped by process group and descendants (never `ray stop`, which would stop every
Ray process on the machine, others' included).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from bot.build import build_index  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.embedding import load_embedder  # noqa: E402
from bot.index import resolve_build  # noqa: E402
from bot.ingest import load_corpus  # noqa: E402
from bot.ray_embed import EmbedWorker, RayBuildError, RayEmbedder  # noqa: E402
from tests.conftest import OFF_TOPIC_QUESTION, SEED_QUESTION, make_corpus, make_settings  # noqa: E402

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")
MARKERS = "BOT_TEST_RAY_MARKERS"  # a folder the workers see (set on the nodes, inherited by their workers)


@dataclass
class Cluster:
    address: str
    groups: list[int]  # the process groups of our `ray start` commands (each runs in a session of its own)
    markers: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state), from /proc."""
    table: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def our_processes(groups: list[int]) -> set[int]:
    """The processes of our `ray start` groups and all their descendants (workers start groups of their own)."""
    table = proc_table()
    mine = {pid for pid, (_, pgid, state) in table.items() if pgid in groups and state != "Z"}
    while True:
        more = {pid for pid, (ppid, _, state) in table.items() if ppid in mine and state != "Z"} - mine
        if not more:
            return mine
        mine |= more


def stop_cluster(groups: list[int]) -> None:
    pids = our_processes(groups)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            table = proc_table()
            pids = {p for p in pids if p in table and table[p][2] != "Z"}
            if not pids:
                return
            time.sleep(0.2)


def ray_start(args: list[str], groups: list[int], env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [RAY, "start", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,  # its own process group: stopped as a group, apart from pytest's
    )  # fmt: skip
    groups.append(proc.pid)
    out, _ = proc.communicate(timeout=90)
    if proc.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out[-3000:]}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    temp = Path(tempfile.mkdtemp(prefix="bot-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    env = {**os.environ, MARKERS: str(temp / "markers"), "RAY_USAGE_STATS_ENABLED": "0"}
    (temp / "markers").mkdir()
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.2", "--disable-usage-stats",
              "--object-store-memory", str(80 << 20)]  # fmt: skip
    groups: list[int] = []
    try:
        ray_start(["--head", "--port", str(port), "--ray-client-server-port", str(free_port()),
                   "--include-dashboard", "false", "--temp-dir", str(temp / "head"), *common], groups, env)  # fmt: skip
        ray_start(["--address", f"127.0.0.2:{port}", "--temp-dir", str(temp / "node"), *common], groups, env)
        yield Cluster(f"127.0.0.2:{port}", groups, temp / "markers")
    finally:
        stop_cluster(groups)
        shutil.rmtree(temp, ignore_errors=True)


def chunk_rows(build: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{build / 'chunks.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT * FROM chunks ORDER BY row").fetchall()
    finally:
        db.close()


def vectors(build: Path) -> np.ndarray:
    import faiss

    index = faiss.read_index(str(build / "vectors.faiss"))
    return np.asarray(index.reconstruct_n(0, index.ntotal))


def test_ray_build_equals_the_single_machine_build(cluster: Cluster, built: Settings, tmp_path: Path) -> None:
    """`bot index --ray ADDRESS`, as a user runs it, on the two nodes; compared with the plain build of the same
    corpus (the session's `built` index): same chunks in the same order, same vectors, same answers."""
    from bot.engine import Engine

    make_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path)
    assert built.cache_dir is not None and settings.cache_dir is not None
    # the ONNX export the plain build made, so the actors load it rather than export it again; no vectors
    shutil.copytree(built.cache_dir / "onnx", settings.cache_dir / "onnx")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BOT_CORPUS": str(settings.corpus), "BOT_INDEX": str(settings.index),
           "BOT_CACHE_DIR": str(settings.cache_dir), "BOT_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bot.cli", "index", "--ray", cluster.address, "--progress"],
                          capture_output=True, text=True, env=env, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    plain, ray = resolve_build(built.index), resolve_build(settings.index)
    assert plain is not None and ray is not None
    rows = chunk_rows(ray)
    assert f"chunks: {len(rows)} embedded, 0 reused" in done.stdout
    assert re.search(rf"embedding: 100%.*\b{len(rows)}/{len(rows)}\b", done.stderr)  # the one progress bar
    assert "on 2 Ray nodes" in done.stderr  # both nodes embedded some of the chunks

    assert rows == chunk_rows(plain)  # same chunk ids, order, texts, hashes
    a, b = vectors(plain), vectors(ray)
    assert a.shape == b.shape
    assert float((a * b).sum(axis=1).min()) >= 0.9999  # unit vectors: the dot product is the cosine
    m_plain, m_ray = (json.loads((p / "manifest.json").read_text()) for p in (plain, ray))
    for key in ("corpus_fingerprint", "counts", "model", "dimension", "kinds", "faiss"):
        assert m_ray[key] == m_plain[key], key

    plain_engine, ray_engine = Engine.load(built), Engine.load(settings)
    for question in (SEED_QUESTION, OFF_TOPIC_QUESTION, "What is the maximum daily dose of aspirin?"):
        want, got = plain_engine.ask(question).to_dict(), ray_engine.ask(question).to_dict()
        want.pop("took_ms"), got.pop("took_ms")
        assert got == want, question


class DiesOnce(EmbedWorker):
    """The first batch any of these workers gets kills its process (no exception: the process is gone)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            os.close(os.open(Path(os.environ[MARKERS]) / "died", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return super().__call__(batch)
        os._exit(1)


class AlwaysFails(EmbedWorker):
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise RuntimeError("the model cannot run here")


def test_a_worker_that_dies_is_restarted_and_its_batch_retried(cluster: Cluster) -> None:
    """Slices come back whole and in order (the build's progress and vector cache advance per slice), though
    a worker process died mid-job."""
    texts = [f"aspirin {i} mg taken {i % 7} times a day for pain number {i}" for i in range(60)]
    slices = [texts[:25], [], texts[25:]]
    embedder = RayEmbedder(cluster.address, "hash:64", worker=DiesOnce)
    got = list(embedder.encode_stream(slices, batch_size=8))
    assert (cluster.markers / "died").exists()  # a worker did die
    local = load_embedder("hash:64")
    assert [v.shape for v in got] == [(25, 64), (0, 64), (35, 64)]
    for part, vecs in zip(slices, got, strict=True):
        if part:
            np.testing.assert_allclose(vecs, local.encode(part), atol=1e-6)
    assert sum(embedder.nodes.values()) == len(texts)


def test_a_failing_ray_build_leaves_the_previous_index(cluster: Cluster, hash_settings: Settings) -> None:
    s = hash_settings
    docs = load_corpus(s.corpus).documents
    options = {"model": s.model, "chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap, "progress": False}
    build_index(docs, s.index, load_embedder(s.model), cache_dir=None, **options)  # type: ignore[arg-type]
    before = resolve_build(s.index)
    (s.corpus / "new.txt").write_text("Ibuprofen\n\nTake ibuprofen with food to spare the stomach.\n")
    docs = load_corpus(s.corpus).documents  # one new document: its chunks must be embedded, on the cluster
    failing = RayEmbedder(cluster.address, s.model, worker=AlwaysFails)
    with pytest.raises(RayBuildError, match="the model cannot run here"):
        build_index(docs, s.index, failing, cache_dir=None, **options)  # type: ignore[arg-type]
    assert resolve_build(s.index) == before
    assert not list((s.index / "builds").glob(".tmp-*"))


def test_an_unreachable_cluster_fails_at_once_with_one_line(hash_settings: Settings) -> None:
    s = hash_settings
    env = {**os.environ, "BOT_CORPUS": str(s.corpus), "BOT_INDEX": str(s.index), "BOT_CACHE_DIR": "off",
           "BOT_MODEL": s.model}  # fmt: skip
    address = f"127.0.0.2:{free_port()}"  # nothing listens there
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bot.cli", "index", "--ray", address, "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 1 and time.monotonic() - t0 < 60
    assert f"error: cannot reach the Ray cluster at '{address}'" in done.stderr
    assert "Traceback" not in done.stderr and resolve_build(s.index) is None


def test_ray_setting_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_RAY_ADDRESS", "10.0.0.5:6379")
    assert Settings().ray_address == "10.0.0.5:6379"
    for off in ("", "off", "local"):
        assert Settings(ray_address=off).ray_address is None
    code = (
        "import sys; from typer.main import get_command; from typer.testing import CliRunner; from bot.cli import app; "
        "out = CliRunner().invoke(app, ['index', '--help']).stdout; assert '--ray' in out, out; "
        "index = get_command(app).commands['index']; "
        "given = {a: index.make_context('index', a.split()).params['ray'] for a in "
        "('--ray', '--ray --force', '--ray h:1 --force', '--ray=h:1', '--force')}; "
        "assert given == {'--ray': 'auto', '--ray --force': 'auto', '--ray h:1 --force': 'h:1', '--ray=h:1': 'h:1', "
        "'--force': None}, given; "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # Ray is imported by a build that uses it, never by the CLI itself
