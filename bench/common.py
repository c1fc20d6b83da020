"""Helpers shared by the benchmarks: machine description, child processes with peak memory, percentiles.

Benchmarks run by hand (`python bench/NAME.py --help`); CI runs a tiny smoke version of each
(tests/test_bench_smoke.py) so they keep working.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PYTHON = sys.executable
BOT = [PYTHON, "-m", "bot.cli"]


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "fma", "amx")) or "vnni" in f)
    except OSError:
        pass
    return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Where and when a figure was measured, and how busy the machine was."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


@dataclass
class Child:
    """A finished child process: its output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_child(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
    """Run `cmd` to completion; peak RSS comes from the kernel's accounting of that one child (wait4)."""
    t0 = time.perf_counter()
    with open(os.devnull, "rb") as stdin:
        proc = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=cwd or ROOT,
            text=True,
        )
        out, err = _communicate(proc)
    seconds = time.perf_counter() - t0
    rss = getattr(proc, "_bench_rusage", None)
    peak = rss.ru_maxrss / 1024 if rss is not None else float("nan")
    return Child(proc.returncode, out, err, seconds, peak)


def _communicate(proc: subprocess.Popen[str]) -> tuple[str, str]:
    import threading

    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def pump(stream: Any, key: str) -> None:
        for line in stream:
            chunks[key].append(line)

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out")),
               threading.Thread(target=pump, args=(proc.stderr, "err"))]  # fmt: skip
    for t in threads:
        t.start()
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc._bench_rusage = rusage  # type: ignore[attr-defined]
    for t in threads:
        t.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


def rss_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a running process, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out["rss_mb" if line.startswith("VmRSS") else "peak_rss_mb"] = int(line.split()[1]) / 1024
    return out


def percentile(values: list[float], p: float) -> float:
    import numpy as np

    return float(np.percentile(values, p)) if values else float("nan")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_beir(path: Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    with path.open() as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def absolute(args: Any) -> Any:
    """Make every path option absolute: children run from the repository root, not from the caller's cwd."""
    for key, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, key, value.resolve())
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Path) for v in value):
            setattr(args, key, type(value)(v.resolve() for v in value))
    return args


def save_partial(result: dict[str, Any], out: Path | None) -> None:
    """Write what a long benchmark has measured so far (a failure later does not lose it)."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**result, "partial": True}, indent=2) + "\n")


def report(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
