"""Two `bot serve` replicas on one Milvus server, as a deployment runs them: a `milvus-lite server` process
(Milvus's gRPC API over `http://`; a Milvus standalone is the same to the bot), `bot index` publishing a build
and moving the alias, two real `bot serve` processes on free ports, clients asking both all the time, and a
second `bot index` after a document changed. Both replicas answer every question the same way before and
after, both switch to the new build, and no request fails while they do. The hashing embedder (`hash:64`)
keeps it fast: what is tested is the switch, not the model."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SEED_QUESTION, make_corpus

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BOT = [sys.executable, "-m", "bot.cli"]
REPO = Path(__file__).resolve().parents[1]
CHANGED = "hypertension.txt"  # the document the second build changes: its target goes from 130/80 to 120/80
BP_QUESTION = "What blood pressure target is recommended in hypertension?"
QUESTIONS = [
    BP_QUESTION,
    SEED_QUESTION,
    "Can children with a viral infection take aspirin?",
    "Does vitamin D reduce hip fractures?",
    "What is the recommended dose of lisinopril?",  # declined: no source names lisinopril
]
ALIAS = "replicas"
START_S = 90.0  # for a process to come up (two cores shared with other jobs)
SWITCH_S = 60.0  # for both replicas to serve the new build once `bot index` has returned (they look every 1 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Start a process in its own session, its output in a log file; every one is stopped at teardown
    (SIGTERM to its process group, SIGKILL after 15 s)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc, log

    yield start
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(
    what: str, check: Callable[[], bool], timeout: float, *, alive: Sequence[tuple[subprocess.Popen[bytes], Path]] = ()
) -> float:
    """Poll `check` until it is true (returns the seconds it took); fail after `timeout` or when one of the
    `alive` (process, log) pairs has exited."""
    t0 = time.monotonic()
    while not check():
        for proc, log in alive:
            assert proc.poll() is None, f"{what}: {log.name} exited ({proc.returncode}):\n{tail(log)}"
        assert time.monotonic() - t0 < timeout, f"{what}: not after {timeout:.0f}s"
        time.sleep(0.2)
    return time.monotonic() - t0


def ask(client: httpx.Client, question: str) -> dict[str, Any]:
    r = client.post("/api/ask", json={"question": question})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    body = r.json()
    body.pop("took_ms")
    return dict(body)


def quotes(body: dict[str, Any]) -> str:
    return " ".join(b["quote"] for s in body["sections"] for b in s["bullets"])


class Load:
    """One client thread per replica asking `QUESTIONS` in turn over a keep-alive connection, recording every
    answer in order (sequential requests: once a replica answers from the new build, every later answer is)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.stop = threading.Event()
        self.seen: dict[str, list[tuple[str, dict[str, Any]]]] = {u: [] for u in urls}
        self.failed: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(u,), daemon=True) for u in urls]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _run(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                question = QUESTIONS[i % len(QUESTIONS)]
                i += 1
                try:
                    r = client.post("/api/ask", json={"question": question})
                except httpx.HTTPError as exc:
                    self.failed.append(f"{url} {question!r}: {type(exc).__name__} {exc}")
                    continue
                if r.status_code != 200:
                    self.failed.append(f"{url} {question!r}: {r.status_code} {r.text[:200]}")
                    continue
                body = r.json()
                body.pop("took_ms")
                self.seen[url].append((question, body))

    def count(self, url: str, test: Callable[[str, dict[str, Any]], bool] = lambda q, b: True) -> int:
        return sum(test(q, b) for q, b in list(self.seen[url]))


def test_two_replicas_answer_alike_and_switch_under_load_with_no_failure(
    tmp_path: Path, spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]]
) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    mport = free_port()
    uri = f"http://127.0.0.1:{mport}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env = {**base, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "BOT_MODEL": "hash:64", "BOT_MIN_SCORE": "0.05",
           "BOT_VECTOR_STORE": "milvus", "BOT_MILVUS_URI": uri, "BOT_MILVUS_COLLECTION": ALIAS,
           "BOT_MILVUS_GRACE_S": "600", "BOT_INDEX": str(tmp_path / "index"), "BOT_CORPUS": str(corpus),
           "BOT_CACHE_DIR": str(tmp_path / "cache"), "BOT_DATA_DIR": str(tmp_path / "data-index"),
           "BOT_RATE_LIMIT_PER_MINUTE": "0", "BOT_LOG_LEVEL": "INFO"}  # fmt: skip
    milvus_lite = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or "milvus-lite"
    milvus = spawn("milvus", [milvus_lite, "server", "--data-dir", str(tmp_path / "milvus"), "--host", "127.0.0.1",
                              "--port", str(mport)], base)  # fmt: skip

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", mport), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until("milvus-lite server", listening, START_S, alive=[milvus])
    index = [*BOT, "index", "--no-progress"]
    first = subprocess.run(index, env=env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert f"alias {ALIAS} -> it" in first.stderr + first.stdout, first.stderr

    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    replicas = [
        spawn(
            f"replica{i}",
            [*BOT, "serve", "--no-build", "--port", str(port)],
            {**env, "BOT_DATA_DIR": str(tmp_path / f"data-{i}")},
        )
        for i, port in enumerate(ports)
    ]

    def health(url: str) -> dict[str, Any]:
        try:
            r = httpx.get(url + "/healthz", timeout=5)
        except httpx.HTTPError:
            return {}
        return dict(r.json()) if r.status_code == 200 else {}

    wait_until("both replicas ready", lambda: all(health(u) for u in urls), START_S, alive=replicas)
    old_build = health(urls[0])["build"]
    assert old_build and health(urls[1])["build"] == old_build

    clients = [httpx.Client(base_url=u, timeout=30) for u in urls]
    try:
        before = {q: ask(clients[0], q) for q in QUESTIONS}
        assert all(ask(clients[1], q) == before[q] for q in QUESTIONS), "the replicas answer differently"
        assert before[BP_QUESTION]["answered"] and "130/80" in quotes(before[BP_QUESTION]), before[BP_QUESTION]
        assert before[SEED_QUESTION]["answered"] and not before[QUESTIONS[-1]]["answered"]

        with Load(urls) as load:
            wait_until("answers from the first build", lambda: all(load.count(u) >= 10 for u in urls), 60)
            text = (corpus / CHANGED).read_text()
            assert "130/80" in text
            (corpus / CHANGED).write_text(text.replace("130/80", "120/80"))
            t0 = time.monotonic()
            second = subprocess.run(index, env=env, capture_output=True, text=True, timeout=180)
            rebuild_s = time.monotonic() - t0
            assert second.returncode == 0, second.stderr
            assert "1 changed" in second.stderr + second.stdout, second.stderr

            def switched() -> bool:
                new = [load.count(u, lambda q, b: q == BP_QUESTION and "120/80" in quotes(b)) for u in urls]
                return all(n >= 3 for n in new) and all(health(u).get("build") not in (None, old_build) for u in urls)

            switch_s = wait_until("both replicas on the new build", switched, SWITCH_S, alive=replicas)
            marks = {u: len(load.seen[u]) for u in urls}
            wait_until("answers from the new build", lambda: all(len(load.seen[u]) >= marks[u] + 10 for u in urls), 60)

        new_build = health(urls[0])["build"]
        assert new_build not in (None, old_build) and health(urls[1])["build"] == new_build
        after = {q: ask(clients[0], q) for q in QUESTIONS}
        assert all(ask(clients[1], q) == after[q] for q in QUESTIONS), "the replicas answer differently"
    finally:
        for c in clients:
            c.close()

    # zero failed requests, on both replicas, through the switch
    assert load.failed == [], load.failed[:5]
    # the replicas serve the build the Milvus alias names (they follow it, not the index folder's `current`)
    from bot.milvus_store import alias_target, connect, facts_of

    client = connect(uri)
    target = alias_target(client, ALIAS)
    facts = facts_of(client, target) if target else None
    assert facts is not None and facts.build == new_build, (target, facts)
    bp_after = quotes(after[BP_QUESTION])
    assert after[BP_QUESTION]["answered"] and "120/80" in bp_after and "130/80" not in bp_after, after[BP_QUESTION]
    for q in QUESTIONS[1:]:
        assert after[q]["answered"] == before[q]["answered"], q
    # every answer under load is wholly the first build's or wholly the second's, and each replica moved from
    # the first to the second once, never back
    for url, seen in load.seen.items():
        phase = "before"
        for n, (q, body) in enumerate(seen):
            if phase == "before" and body != before[q]:
                phase = "after"
            assert body == (before[q] if phase == "before" else after[q]), f"{url} answer {n} to {q!r}: {body}"
        assert phase == "after", url
        olds = sum(1 for q, b in seen if q == BP_QUESTION and "130/80" in quotes(b))
        news = sum(1 for q, b in seen if q == BP_QUESTION and "120/80" in quotes(b))
        assert olds >= 2 and news >= 2, (url, olds, news)
    # each replica logged the switch, and none logged an error
    for _proc, log in replicas:
        text = log.read_text(errors="replace")
        assert f"now serving index {new_build}" in text, tail(log)
        assert "Traceback" not in text and not re.search(r"\bERROR\b", text), tail(log)
    total = sum(len(s) for s in load.seen.values())
    print(f"{total} answers, 0 failed; rebuild {rebuild_s:.1f}s, both replicas switched {switch_s:.1f}s after it")
