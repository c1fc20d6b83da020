"""Two `bot serve` replicas on one Milvus switch to a rebuilt index under load, with no failed request.

    python bench/milvus_replicas.py                      # fake embedder (hash:128): the switch, not the model
    python bench/milvus_replicas.py --model all-MiniLM-L6-v2 --clients 2

Starts a Milvus server process (`milvus-lite server`: Milvus's gRPC API; a Milvus standalone is the same to
the bot), indexes a small corpus with `bot index` (BOT_VECTOR_STORE=milvus), starts two `bot serve`
replicas on it, sends questions to both from `--clients` threads each, adds a document and runs `bot index`
again, and reports requests, failures and when each replica first answered from the new document
(seconds after that `bot index` returned; negative: before it had exited). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, machine, report

BIN = Path(sys.executable).parent
QUESTION = "What does zinc deficiency cause?"
ZINC = "Zinc deficiency\n\nZinc deficiency causes hair loss, diarrhoea and slow wound healing.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, path: str = "/healthz", timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path == "" or httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"nothing answered on port {port}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hash:128")
    ap.add_argument("--clients", type=int, default=2, help="client threads per replica")
    ap.add_argument("--after", type=float, default=6.0, help="seconds of load after the rebuild")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    corpus = tmp / "corpus"
    shutil.copytree(ROOT / "tests" / "data" / "tiny", corpus)
    shutil.copy(ROOT / "tests" / "data" / "seed" / "calcinosis-cutis-dermatomyositis.md", corpus)
    mport = free_port()
    env = {**os.environ, "BOT_VECTOR_STORE": "milvus", "BOT_MILVUS_URI": f"http://127.0.0.1:{mport}",
           "BOT_MODEL": args.model, "BOT_INDEX": str(tmp / "index"), "BOT_CORPUS": str(corpus),
           "BOT_DATA_DIR": str(tmp / "data"), "BOT_RATE_LIMIT_PER_MINUTE": "0", "BOT_MILVUS_GRACE_S": "60",
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    if args.model.startswith("hash:"):
        env["BOT_MIN_SCORE"] = "0.05"
    procs: list[subprocess.Popen[Any]] = []
    try:
        procs.append(subprocess.Popen([str(BIN / "milvus-lite"), "server", "--data-dir", str(tmp / "milvus"),
                                       "--host", "127.0.0.1", "--port", str(mport)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", mport), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("milvus-lite server did not start") from None
                time.sleep(0.2)
        subprocess.run([str(BIN / "bot"), "index", "--no-progress"], env=env, check=True, capture_output=True)
        ports = [free_port(), free_port()]
        for port in ports:
            procs.append(subprocess.Popen([str(BIN / "bot"), "serve", "--port", str(port)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        for port in ports:
            wait_for(port)
        counts = {"ok": 0, "failed": 0}
        first_new: dict[int, float] = {}
        stop = threading.Event()
        lock = threading.Lock()

        def load(port: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                while not stop.is_set():
                    try:
                        r = client.post("/api/ask", json={"question": QUESTION})
                        ok = r.status_code == 200
                        new = ok and any(ref["doc_id"] == "zinc" for ref in r.json()["references"])
                    except httpx.HTTPError:
                        ok = new = False
                    with lock:
                        counts["ok" if ok else "failed"] += 1
                        if new and port not in first_new:
                            first_new[port] = time.time()

        threads = [threading.Thread(target=load, args=(p,)) for p in ports for _ in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(3)
        (corpus / "zinc.txt").write_text(ZINC)
        t0 = time.time()
        rebuilt = subprocess.run([str(BIN / "bot"), "index", "--no-progress"], env=env, capture_output=True, text=True)
        done = time.time()
        time.sleep(args.after)
        stop.set()
        for t in threads:
            t.join()
        report(
            {
                "machine": machine(),
                "model": args.model,
                "replicas": len(ports),
                "clients": args.clients * len(ports),
                "requests_ok": counts["ok"],
                "requests_failed": counts["failed"],
                "rebuild_s": round(done - t0, 2),
                "rebuild_said": rebuilt.stderr.strip().splitlines()[-1:],
                "first_new_answer_after_rebuild_s": {str(p): round(first_new[p] - done, 2) for p in first_new},
                "switched": f"{len(first_new)}/{len(ports)}",
            },
            args.out,
        )
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
