"""Keeps answering under load and through rebuilds: a real server on a loopback port, concurrent clients from
the load script, and `bot index` rebuilding underneath. Zero failed requests, and every answer comes wholly
from the old index or wholly from the new one."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.load import load_questions, percentile, run_load
from bot.app import create_app
from bot.cli import do_index
from bot.config import Settings
from bot.index import load_index, resolve_build
from tests.conftest import SEED_QUESTION, make_corpus, make_settings

pytestmark = pytest.mark.slow

BOT = [sys.executable, "-m", "bot.cli"]
REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    SEED_QUESTION,
    "Can children with a viral infection take aspirin?",
    "What blood pressure target is recommended in hypertension?",
    "Does vitamin D reduce hip fractures?",
    "Is sodium thiosulfate used for calcinosis?",
    "Do statins reduce recurrent stroke?",
]


def versioned_corpus(dest: Path, version: str) -> Path:
    """The test corpus with every document id prefixed by `version` and, for "b", a sentence added to each text,
    so an answer's references and quotes show which index it came from."""
    src = make_corpus(dest.parent / f"plain-{version}")
    dest.mkdir(parents=True)
    for f in src.iterdir():
        if f.suffix == ".jsonl":
            lines = []
            for line in f.read_text().splitlines():
                obj = json.loads(line)
                for key in ("_id", "id"):
                    if key in obj:
                        obj[key] = f"{version}-{obj[key]}"
                if version == "b":
                    obj["text"] += " This study was revised in the second edition."
                lines.append(json.dumps(obj))
            (dest / f"{version}-{f.name}").write_text("\n".join(lines) + "\n")
        else:
            text = f.read_text()
            if version == "b":
                text += "\n\nThis page was revised in the second edition.\n" if f.suffix != ".html" else ""
            (dest / f"{version}-{f.name}").write_text(text)
    return dest


def index_texts(build: Path) -> dict[str, str]:
    index = load_index(build)
    try:
        return {d: doc.text for d in index.doc_ids if (doc := index.document(d)) is not None}
    finally:
        index.close()


def check_answer(body: dict[str, Any], texts: dict[str, dict[str, str]]) -> str | None:
    """The version ("a" or "b") a whole answer came from; fails on a mix or a quote not in that version."""
    if not body["answered"]:
        return None
    versions = {r["doc_id"].split("-", 1)[0] for r in body["references"]}
    assert len(versions) == 1, f"mixed answer: {body['references']}"
    version = versions.pop()
    for section in body["sections"]:
        for b in section["bullets"]:
            assert texts[version][b["doc_id"]][b["start"] : b["end"]] == b["quote"], b
    return version


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.1)
        assert server.started, "server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def bot_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    return {**env, "HF_HUB_OFFLINE": "1", "BOT_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(REPO), **extra}


async def _rebuild_under_load(
    url: str, rebuild: list[str], env: dict[str, str], *, switched: Any
) -> tuple[Any, Any, Any]:
    """Run the load script while `rebuild` runs; stop 2 s after `switched()` says every server moved on."""
    stop = asyncio.Event()
    seen: list[tuple[float, int, dict[str, Any] | None]] = []

    def record(question: str, status: int, body: dict[str, Any] | None) -> None:
        seen.append((time.monotonic(), status, body))

    async def conductor() -> subprocess.CompletedProcess[bytes]:
        await asyncio.sleep(1.5)  # some answers from the old index first
        proc = await asyncio.create_subprocess_exec(*rebuild, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)  # fmt: skip
        out, err = await proc.communicate()
        result = subprocess.CompletedProcess(rebuild, proc.returncode or 0, out, err)
        if result.returncode == 0:
            for _ in range(300):
                if await asyncio.to_thread(switched):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # some answers from the new index too
        stop.set()
        return result

    task = asyncio.create_task(conductor())
    report = await run_load(url, QUESTIONS, concurrency=4, duration=240, stop=stop, on_response=record)
    return report, await task, seen


def test_rebuild_under_load_real_model(tmp_path: Path) -> None:
    """`bot index` swaps in a new index while clients ask: no failure, no answer mixing old and new."""
    settings = make_settings(tmp_path, rate_limit_per_minute=0)
    versioned_corpus(tmp_path / "corpus-a", "a")
    do_index(settings.model_copy(update={"corpus": tmp_path / "corpus-a"}), progress=False)
    old_build = resolve_build(settings.index)
    versioned_corpus(tmp_path / "corpus-b", "b")
    rebuild = [*BOT, "-q", "index", "--corpus", str(tmp_path / "corpus-b"), "--index", str(settings.index),
               "--no-progress"]  # fmt: skip

    with serving(settings) as url:

        def switched() -> bool:
            return httpx.get(url + "/healthz").json()["build"] != old_build.name  # type: ignore[union-attr]

        report, result, seen = asyncio.run(_rebuild_under_load(url, rebuild, bot_env(tmp_path), switched=switched))
        final = httpx.post(url + "/api/ask", json={"question": SEED_QUESTION}).json()

    assert result.returncode == 0, result.stderr.decode()
    assert report.failures == 0 and report.requests >= 10, report
    new_build = resolve_build(settings.index)
    assert old_build is not None and new_build is not None and new_build != old_build
    texts = {"a": index_texts(old_build), "b": index_texts(new_build)}
    versions = [check_answer(body, texts) for _, status, body in seen if status == 200 and body is not None]
    print("answers by index version:", Counter(versions), report.summary())
    assert {"a", "b"} <= set(versions), versions  # answers came from both sides of the swap
    assert check_answer(final, texts) == "b"


def test_serve_workers_share_one_index_and_all_switch(tmp_path: Path) -> None:
    """`bot serve --workers 2`: both workers read the same index folder (never writing to it), keep answering
    while `bot index` rebuilds, and each one logs the switch to the new build."""
    settings = make_settings(tmp_path, model="hash:64", min_score=0.05)
    versioned_corpus(tmp_path / "corpus-a", "a")
    do_index(settings.model_copy(update={"corpus": tmp_path / "corpus-a"}), progress=False)
    old_build = resolve_build(settings.index)
    assert old_build is not None
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in old_build.rglob("*") if p.is_file()}
    versioned_corpus(tmp_path / "corpus-b", "b")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = bot_env(tmp_path, BOT_MODEL="hash:64", BOT_MIN_SCORE="0.05", BOT_RATE_LIMIT_PER_MINUTE="0",
                  BOT_DATA_DIR=str(tmp_path / "data"), BOT_LOG_LEVEL="INFO")  # fmt: skip
    server = subprocess.Popen(
        [*BOT, "serve", "--index", str(settings.index), "--no-build", "--workers", "2", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(server.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            both_up = sum("Application startup complete" in line for line in log) == 2  # one worker may lag
            try:
                if both_up and httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "".join(log)
            time.sleep(0.3)
        assert sum("Application startup complete" in line for line in log) == 2, "".join(log)

        # The load script's command line, against the running workers.
        script = [sys.executable, str(REPO / "bench" / "load.py"), "--url", url, "--duration", "1", "-c", "2", "--json"]
        load = subprocess.run(script, capture_output=True, text=True, env=env, timeout=60)
        assert load.returncode == 0, load.stderr
        figures = json.loads(load.stdout)
        assert figures["requests"] > 0 and figures["failures"] == 0 and figures["p50_ms"] > 0

        rebuild = [*BOT, "-q", "index", "--corpus", str(tmp_path / "corpus-b"), "--index", str(settings.index),
                   "--no-progress"]  # fmt: skip

        def switched() -> bool:
            build = resolve_build(settings.index)
            return build != old_build and sum(f"now serving index {build.name}" in ln for ln in log) >= 2  # type: ignore[union-attr]

        report, result, seen = asyncio.run(_rebuild_under_load(url, rebuild, env, switched=switched))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    assert result.returncode == 0, result.stderr.decode()
    new_build = resolve_build(settings.index)
    assert new_build is not None and new_build != old_build
    assert sum(f"now serving index {new_build.name}" in line for line in log) == 2, "".join(log)  # each worker
    assert report.failures == 0 and report.requests >= 10, report
    texts = {"a": index_texts(old_build), "b": index_texts(new_build)}
    versions = [check_answer(body, texts) for _, status, body in seen if status == 200 and body is not None]
    print("answers by index version:", Counter(versions), report.summary())
    assert {"a", "b"} <= set(versions)
    assert "Traceback" not in "".join(log)
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in old_build.rglob("*") if p.is_file()}
    assert after == before  # the workers only read the index


def test_load_script_reports_an_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run([sys.executable, str(REPO / "bench" / "load.py"), "--url", f"http://127.0.0.1:{port}",
                             "--duration", "1"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "not ready" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, 0.0), ([5.0], 99, 5.0), ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 95, 4), (list(range(1, 101)), 99, 99)],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(sorted(values), q) == expected


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("q.txt", "What is gout?\n\n  Is aspirin safe?  \n", ["What is gout?", "Is aspirin safe?"]),
        ("q.jsonl", '{"_id": "1", "text": "What is gout?"}\n{"question": "Is aspirin safe?"}\n{"x": 1}\n',
         ["What is gout?", "Is aspirin safe?"]),
    ],
)  # fmt: skip
def test_load_questions(tmp_path: Path, name: str, content: str, expected: list[str]) -> None:
    (tmp_path / name).write_text(content)
    assert load_questions(tmp_path / name) == expected
    assert load_questions(None)[0] == SEED_QUESTION


def test_load_script_reads_shared_questions() -> None:
    shared = REPO.parent / "shared" / "data" / "pubmedqa" / "queries.jsonl"
    if not shared.exists():
        pytest.skip("shared data not present")
    questions = load_questions(shared, limit=50)
    assert len(questions) == 50 and all(q.strip() for q in questions)


def test_a_damaged_new_build_is_not_swapped_in(tmp_path: Path) -> None:
    """If `current` moves to a build that does not load, the server keeps answering from the one it has, says
    why in /healthz, and moves on to the next good build."""
    from fastapi.testclient import TestClient

    settings = make_settings(tmp_path, model="hash:64", min_score=0.05, rate_limit_per_minute=0)
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    old = resolve_build(settings.index)
    assert old is not None

    def wait_for(check: Any) -> dict[str, Any]:
        for _ in range(150):
            body = client.get("/healthz").json()
            if check(body):
                return body  # type: ignore[no-any-return]
            time.sleep(0.1)
        raise AssertionError(body)

    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["build"] == old.name
        bad = old.parent / "29990101T000000-damaged"
        shutil.copytree(old, bad)
        (bad / "vectors.faiss").write_bytes((bad / "vectors.faiss").read_bytes()[:100])
        link = settings.index / ".current-test"
        link.symlink_to(os.path.relpath(bad, settings.index))
        os.replace(link, settings.index / "current")  # as `bot index` swaps

        body = wait_for(lambda b: b["error"])
        assert body["ready"] and body["build"] == old.name and "corrupt" in body["error"]
        r = client.post("/api/ask", json={"question": "Reye syndrome in children taking aspirin"})
        assert r.status_code == 200 and r.json()["answered"]

        do_index(settings, progress=False, force=True)
        new = resolve_build(settings.index)
        assert new is not None and new not in (old, bad)
        body = wait_for(lambda b: b["build"] == new.name)
        assert body["error"] is None
