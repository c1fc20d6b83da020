"""What the shared state costs per request: the Slack ledger and the feedback store on SQLite vs PostgreSQL.

    python bench/ledger.py                                  # starts a throwaway PostgreSQL (fsync on), 500 requests
    python bench/ledger.py --url postgresql://bot:pw@db:5432/bot --requests 300   # an existing server

One "Slack request" is what every verified event costs in the ledger: `first_signature` (the replay check: a
delete of expired signatures, then an insert, a count) and `first_time` (the event and message keys). One
"vote" is `FeedbackStore.add`. The backends are interleaved request by request, so both see the same machine
load. The throwaway server is the tests' (tests/pg_server.py: initdb + pg_ctl in /tmp) with PostgreSQL's
durable defaults (fsync on, synchronous_commit on), on loopback TCP; SQLite is as `bot serve` uses it (WAL, the
ledger with synchronous=NORMAL, the feedback with FULL).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import ROOT, machine, percentile, report

sys.path.insert(0, str(ROOT))

from bot.feedback import FeedbackStore  # noqa: E402
from bot.slack_ledger import SlackLedger  # noqa: E402


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 3), "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(sum(ms) / len(ms), 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="Slack requests (and votes) per backend")
    parser.add_argument("--url", help="an existing PostgreSQL database (default: start a throwaway server)")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.url
        if url is None:
            from tests.pg_server import temporary_postgres

            server = stack.enter_context(temporary_postgres(durable=True))
            url = server.create_database("bench")
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stores: dict[str, tuple[SlackLedger, FeedbackStore]] = {
            "sqlite": (SlackLedger(folder / "slack.sqlite3"), FeedbackStore(folder / "feedback.sqlite3")),
            "postgresql": (SlackLedger(url), FeedbackStore(url)),
        }
        timings: dict[str, dict[str, list[float]]] = {name: {"request": [], "vote": []} for name in stores}
        for i in range(args.requests + 10):  # the first 10 warm up (connections, prepared statements)
            for name, (ledger, feedback) in stores.items():
                sig, event = f"v0={uuid.uuid4().hex}", uuid.uuid4().hex
                t0 = time.perf_counter()
                assert ledger.first_signature(sig, time.time() + 301)
                assert ledger.first_time(f"event:{event}", f"message:C1:{event}")
                t1 = time.perf_counter()
                feedback.add(rating=1, question="q?", answer={"answered": True, "i": i}, channel="bench")
                t2 = time.perf_counter()
                if i >= 10:
                    timings[name]["request"].append((t1 - t0) * 1000)
                    timings[name]["vote"].append((t2 - t1) * 1000)
        results: dict[str, Any] = {
            name: {"slack_request": summary(t["request"]), "vote": summary(t["vote"])} for name, t in timings.items()
        }
        for ledger, feedback in stores.values():
            ledger.close()
            feedback.close()
    report({"machine": machine(), "requests": args.requests,
            "postgresql": "throwaway local server, fsync on" if args.url is None else "given URL",
            "results": results}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
