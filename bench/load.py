"""Load test for `POST /api/ask`: many concurrent clients asking real questions for a fixed time.

    python bench/load.py --url http://127.0.0.1:8000 --concurrency 16 --duration 60 \\
        --questions ../shared/data/pubmedqa/queries.jsonl

Reports requests, failures (any non-200 answer or transport error), status codes, latency p50/p95/p99/max and
throughput. Turn the server's per-client rate limit off for a load test (`BOT_RATE_LIMIT_PER_MINUTE=0`): every
simulated client comes from the same address. `--json` prints the report as JSON; the exit code is 1 when any
request failed. Also usable as a library: `run_load(...)`, with a callback that sees every answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

QUESTIONS = [
    "How is calcinosis cutis treated in dermatomyositis?",
    "What is the first-line treatment for hypertension?",
    "Can children take aspirin for a viral infection?",
    "Does vitamin D prevent hip fractures in older adults?",
    "Do statins prevent recurrent stroke?",
    "What are the side effects of sodium thiosulfate?",
    "Is diltiazem effective for calcinosis?",
    "What is the evidence for bisphosphonates in calcinosis cutis?",
    "How should blood pressure be managed in older adults?",
    "What is the dose of aspirin for minor aches and pains?",
    "When is surgery indicated for calcinosis?",
    "What causes Reye syndrome?",
]

# Called with (question, HTTP status or 0 for a transport error, parsed JSON body or None).
OnResponse = Callable[[str, int, dict[str, Any] | None], None]


@dataclass
class LoadReport:
    url: str
    concurrency: int
    duration_s: float
    requests: int = 0
    failures: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    declined: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    throughput_rps: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.url} for {self.duration_s:.1f}s at concurrency {self.concurrency}\n"
            f"requests {self.requests}  failures {self.failures}  answered {self.answered}  declined {self.declined}\n"
            f"latency ms  p50 {self.p50_ms:.0f}  p95 {self.p95_ms:.0f}  p99 {self.p99_ms:.0f}  max {self.max_ms:.0f}\n"
            f"throughput {self.throughput_rps:.1f} requests/s\n"
            f"statuses {dict(sorted(self.statuses.items()))}" + (f"\nerrors {self.errors}" if self.errors else "")
        )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def load_questions(path: Path | None, *, limit: int | None = None) -> list[str]:
    """Questions from a text file (one a line) or JSONL (`text` or `question` field); the built-in list if None."""
    if path is None:
        questions = list(QUESTIONS)
    elif path.suffix in {".jsonl", ".ndjson"}:
        questions = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                text = obj.get("text") or obj.get("question")
                if isinstance(text, str) and text.strip():
                    questions.append(text.strip())
    else:
        questions = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not questions:
        raise SystemExit(f"no questions in {path}")
    return questions[:limit] if limit else questions


async def run_load(
    url: str,
    questions: list[str],
    *,
    concurrency: int = 8,
    duration: float = 30.0,
    timeout: float = 60.0,
    kinds: list[str] | None = None,
    on_response: OnResponse | None = None,
    stop: asyncio.Event | None = None,
) -> LoadReport:
    """Drive `POST {url}/api/ask` from `concurrency` clients until `duration` seconds pass (or `stop` is set)."""
    endpoint = url.rstrip("/") + "/api/ask"
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    outcome = Counter[str]()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    t0 = time.perf_counter()
    deadline = t0 + duration

    async def client(worker: int, http: httpx.AsyncClient) -> None:
        i = worker
        while time.perf_counter() < deadline and not (stop is not None and stop.is_set()):
            question = questions[i % len(questions)]
            i += concurrency
            payload: dict[str, Any] = {"question": question}
            if kinds:
                payload["kinds"] = kinds
            started = time.perf_counter()
            body: dict[str, Any] | None = None
            try:
                r = await http.post(endpoint, json=payload)
                status = r.status_code
                if r.headers.get("content-type", "").startswith("application/json"):
                    body = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                status = 0
                errors[type(exc).__name__] += 1
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[str(status)] += 1
            if status == 200 and body is not None:
                outcome["answered" if body.get("answered") else "declined"] += 1
            if on_response is not None:
                on_response(question, status, body)

    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        await asyncio.gather(*(client(w, http) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    requests = len(latencies)
    return LoadReport(
        url=url,
        concurrency=concurrency,
        duration_s=round(elapsed, 2),
        requests=requests,
        failures=requests - statuses.get("200", 0),
        statuses=dict(statuses),
        errors=dict(errors),
        answered=outcome["answered"],
        declined=outcome["declined"],
        p50_ms=round(percentile(latencies, 50), 1),
        p95_ms=round(percentile(latencies, 95), 1),
        p99_ms=round(percentile(latencies, 99), 1),
        max_ms=round(latencies[-1], 1) if latencies else 0.0,
        throughput_rps=round(requests / elapsed, 2) if elapsed > 0 else 0.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of a running `bot serve`.")
    parser.add_argument("--concurrency", "-c", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--duration", "-d", type=float, default=30.0, help="Seconds to run.")
    parser.add_argument("--questions", "-q", type=Path, help="Questions: .txt (one a line) or .jsonl (`text`).")
    parser.add_argument("--limit", type=int, help="Use only the first N questions.")
    parser.add_argument("--kind", action="append", dest="kinds", help="Kind filter sent with every question.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds before a request counts as failed.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0:
        parser.error("--concurrency must be >= 1 and --duration > 0")
    questions = load_questions(args.questions, limit=args.limit)
    try:
        httpx.get(args.url.rstrip("/") + "/healthz", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        print(f"error: the server at {args.url} is not ready ({exc}); start it with `bot serve`", file=sys.stderr)
        return 2
    report = asyncio.run(
        run_load(args.url, questions, concurrency=args.concurrency, duration=args.duration,
                 timeout=args.timeout, kinds=args.kinds)
    )  # fmt: skip
    print(json.dumps(asdict(report), indent=2) if args.json else report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
