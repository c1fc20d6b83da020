"""`bot eval`: how good is retrieval (and the answers built on it) on a BEIR-layout benchmark.

The corpus is indexed with the same code as `bot index` into an evaluation index kept under the cache
directory, keyed by corpus fingerprint + model + chunking, so a second run of the same evaluation only
loads it (and chunk vectors come from the shared vector cache in any case). Every query is run with each
retrieval method; chunk hits become document hits by max-passage aggregation (a document ranks where its
best chunk ranks). Metrics: nDCG with linear gain (as trec_eval and BEIR compute it), recall, MRR.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .config import Settings
from .search import METHODS, Searcher

log = logging.getLogger(__name__)
T = TypeVar("T")

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
DEPTH = 100  # documents kept per query (Recall@100)


class EvalError(ValueError):
    """Benchmark files that cannot be read; the message says which and why."""


@dataclass
class Benchmark:
    corpus: Path
    queries: dict[str, str]  # only the judged queries, in file order
    qrels: dict[str, dict[str, int]]  # query id -> document id -> grade (> 0)
    skipped: int = 0  # judged queries with no text in the queries file


@dataclass
class MethodResult:
    metrics: dict[str, float]
    queries: int
    latency_p50_ms: float
    latency_p95_ms: float

    def to_dict(self) -> dict[str, float | int]:
        return {**self.metrics, "queries": self.queries,
                "latency_p50_ms": self.latency_p50_ms, "latency_p95_ms": self.latency_p95_ms}  # fmt: skip


@dataclass
class AnswerResult:
    queries: int = 0
    answered: int = 0
    declined: int = 0
    citing_relevant: int = 0
    quotes: int = 0
    quotes_exact: int = 0
    confidence: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        q = max(self.queries, 1)
        conf = np.asarray(self.confidence or [0.0])
        return {
            "queries": self.queries,
            "answered_rate": self.answered / q,
            "declined_rate": self.declined / q,
            # share of the answers given that cite at least one relevant document
            "citation_hit_rate": self.citing_relevant / max(self.answered, 1),
            # the same, counted over every query (a declined query counts as a miss)
            "citation_hit_rate_all": self.citing_relevant / q,
            "quotes": self.quotes,
            "quote_fidelity": self.quotes_exact / self.quotes if self.quotes else 1.0,
            "confidence_quantiles": {
                f"p{p}": round(float(np.percentile(conf, p)), 4) for p in (5, 10, 25, 50, 75, 90, 95)
            },
        }


@dataclass
class EvalReport:
    corpus: str
    queries: int
    index: dict[str, Any]
    settings: dict[str, Any]
    methods: dict[str, MethodResult]
    answers: AnswerResult | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": default_method(),
            "corpus": self.corpus,
            "queries": self.queries,
            "index": self.index,
            "settings": self.settings,
            "methods": {m: r.to_dict() for m, r in self.methods.items()},
            "answers": self.answers.to_dict() if self.answers is not None else None,
            "seconds": round(self.seconds, 2),
        }


def default_method() -> str:
    """The retrieval method the bot's answers use (`BOT_RANKING`, default "learned"), named in every `--json`
    report."""
    from .config import Settings

    return str(Settings().ranking)


# ---------------------------------------------------------------------------------------------- files


def read_jsonl(path: Path, parse: Callable[[Any], T], what: str) -> Iterator[T]:
    """Each non-blank line of a JSON-lines file, parsed and passed through `parse`; a line that is not JSON or
    that `parse` rejects (ValueError, KeyError, TypeError, AttributeError) is an `EvalError` naming the line:
    `PATH:N: not WHAT (why)`."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield parse(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise EvalError(f"{path}:{lineno}: not {what} ({exc})") from None


def load_queries(path: Path) -> dict[str, str]:
    """`_id` -> `text` from a BEIR queries.jsonl."""
    return dict(read_jsonl(path, lambda obj: (str(obj["_id"]), str(obj["text"])), "a query line with `_id` and `text`"))


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> document id -> grade, from a BEIR qrels TSV (`query-id corpus-id score`, header
    optional). Grades of 0 or less are dropped: they do not make a document relevant."""
    out: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or not "".join(row).strip():
                continue
            if lineno == 1 and row[0].strip().lower() in {"query-id", "query_id", "qid"}:
                continue
            if len(row) < 3:
                raise EvalError(f"{path}:{lineno}: expected `query-id<TAB>corpus-id<TAB>score`, got {row!r}")
            try:
                grade = int(float(row[2]))
            except ValueError:
                raise EvalError(f"{path}:{lineno}: score {row[2]!r} is not a number") from None
            if grade > 0:
                out.setdefault(row[0].strip(), {})[row[1].strip()] = grade
    return out


def load_benchmark(corpus: Path, queries: Path, qrels: Path, *, limit: int | None = None) -> Benchmark:
    for p in (corpus, queries, qrels):
        if not p.exists():
            raise FileNotFoundError(f"not found: {p}")
    texts = load_queries(queries)
    judged = load_qrels(qrels)
    if not judged:
        raise EvalError(f"{qrels} has no positive judgments")
    chosen = {q: texts[q] for q in judged if q in texts}
    skipped = sum(1 for q in judged if q not in texts)
    if not chosen:
        raise EvalError(f"none of the {len(judged)} judged queries in {qrels} has a text in {queries}")
    if limit is not None:
        chosen = dict(list(chosen.items())[:limit])
    return Benchmark(corpus, chosen, {q: judged[q] for q in chosen}, skipped)


# ---------------------------------------------------------------------------------------------- index


def eval_index_root(settings: Settings, fingerprint: str) -> Path | None:
    """Where the evaluation index of a corpus lives: one folder per corpus fingerprint, model and chunking."""
    if settings.cache_dir is None:
        return None
    from .chunking import content_hash

    key = content_hash(fingerprint, settings.model, str(settings.chunk_size), str(settings.chunk_overlap))
    return settings.cache_dir / "eval" / key[:20]


@contextmanager
def prepared_index(
    settings: Settings, corpus: Path | list[Path], *, progress: bool = False
) -> Iterator[tuple[Settings, Any]]:
    """Settings pointing at an up-to-date index of `corpus` (or of several corpora indexed together, as
    `bot index --corpus A --corpus B` does), built as `bot index` builds one, and the build stats. Without
    a cache directory the index lives in a temporary folder for the run only."""
    from .build import BuildError, corpus_fingerprint, doc_hash
    from .indexing import do_index
    from .ingest import load_corpus

    corpora = list(corpus) if isinstance(corpus, list) else [corpus]
    if not corpora:
        raise EvalError("no corpus given")
    report = load_corpus(corpora if len(corpora) > 1 else corpora[0])  # as `do_index` loads them
    if not report.documents:
        where = ", ".join(str(c) for c in corpora)
        raise BuildError(f"no readable documents in {where} ({len(report.problems)} problems)")
    fingerprint = corpus_fingerprint({d.id: doc_hash(d) for d in report.documents})
    del report
    root = eval_index_root(settings, fingerprint)
    tmp = None
    if root is None:
        tmp = Path(tempfile.mkdtemp(prefix="bot-eval-"))
        root = tmp / "index"
    try:
        eval_settings = settings.model_copy(update={"corpus": corpora[0], "extra_corpora": corpora[1:], "index": root})
        stats = do_index(eval_settings, progress=progress)  # exactly what `bot index` runs
        yield eval_settings, stats
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- runs


def documents_of(searcher: Searcher, rows: np.ndarray, *, depth: int = DEPTH) -> list[str]:
    """Ranked chunk rows -> ranked document ids: a document takes the rank of its best chunk."""
    index = searcher.index
    seen: dict[str, None] = {}
    for doc_no in index.doc_of_row[rows].tolist():
        doc_id = index.doc_ids[doc_no]
        if doc_id not in seen:
            seen[doc_id] = None
            if len(seen) >= depth:
                break
    return list(seen)


def score_runs(
    qrels: dict[str, dict[str, int]], runs: dict[str, list[str]], metrics: tuple[str, ...] = METRICS
) -> dict[str, float]:
    """Mean of each metric over the judged queries, for ranked document lists (a query with no list scores
    0; a listed query no one judged does not count): nDCG@k with linear gain (as trec_eval and BEIR compute
    it), recall@k and MRR@k. Only positive grades are relevant. The same values as `ranx.evaluate` gives."""
    if not qrels:
        return dict.fromkeys(metrics, 0.0)
    sums = dict.fromkeys(metrics, 0.0)
    for qid, judged in qrels.items():
        relevant = {d: g for d, g in judged.items() if g > 0}
        docs = runs.get(qid, [])
        for metric in metrics:
            name, k = metric.split("@")
            top = docs[: int(k)]
            if name == "ndcg":
                dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(top))
                ideal = sorted(relevant.values(), reverse=True)[: int(k)]
                best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
                sums[metric] += dcg / best if best else 0.0
            elif name == "recall":
                sums[metric] += len(relevant.keys() & set(top)) / len(relevant) if relevant else 0.0
            elif name == "mrr":
                sums[metric] += next((1 / (i + 1) for i, d in enumerate(top) if d in relevant), 0.0)
            else:
                raise ValueError(f"unknown metric {metric!r}: one of ndcg@k, recall@k, mrr@k")
    return {m: round(sums[m] / len(qrels), 4) for m in metrics}


def run_method(
    searcher: Searcher, bench: Benchmark, method: str, *, depth: int = DEPTH
) -> tuple[dict[str, list[str]], list[float]]:
    """Ranked documents per query, and each query's latency in ms (retrieval and fusion, end to end)."""
    runs: dict[str, list[str]] = {}
    latencies: list[float] = []
    for qid, text in bench.queries.items():
        t0 = time.perf_counter()
        rows, _ = searcher.search(text, method=method)
        latencies.append((time.perf_counter() - t0) * 1000)
        runs[qid] = documents_of(searcher, rows, depth=depth)
    return runs, latencies


def check_answers(engine: Any, bench: Benchmark) -> AnswerResult:
    """Build every query's full answer; count declines, answers citing a relevant document, exact quotes."""
    from .answer import answer_confidence, build_answer
    from .engine import clean_question

    result = AnswerResult()
    index = engine.index
    texts: dict[str, str] = {}
    for qid, question in bench.queries.items():
        question = clean_question(question, max_chars=max(len(question), 1))
        cands = engine.searcher.candidates(question)  # the path Engine.ask takes, sharing the candidates
        answer = build_answer(question, engine.searcher, engine.policy, cands=cands)
        result.queries += 1
        result.confidence.append(answer_confidence(cands))
        if not answer.answered:
            result.declined += 1
            continue
        result.answered += 1
        if any(ref.doc_id in bench.qrels.get(qid, {}) for ref in answer.references):
            result.citing_relevant += 1
        for bullet in answer.quotes():
            if bullet.doc_id not in texts:
                doc = index.document(bullet.doc_id)
                texts[bullet.doc_id] = doc.text if doc is not None else ""
            result.quotes += 1
            result.quotes_exact += int(texts[bullet.doc_id][bullet.start : bullet.end] == bullet.quote)
    return result


def percentile(values: list[float], p: float) -> float:
    return round(float(np.percentile(values, p)), 2) if values else 0.0


def run_eval(
    settings: Settings,
    corpus: Path,
    queries: Path,
    qrels: Path,
    *,
    methods: tuple[str, ...] = METHODS,
    answers: bool = False,
    limit: int | None = None,
    depth: int = DEPTH,
    progress: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> EvalReport:
    """Index `corpus` (or reuse its evaluation index), run every judged query with each method, score."""
    from .engine import Engine

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise EvalError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    t0 = time.perf_counter()
    bench = load_benchmark(corpus, queries, qrels, limit=limit)
    if bench.skipped:
        log.warning("%d judged queries have no text in %s and are left out", bench.skipped, queries)
    with prepared_index(settings, corpus, progress=progress) as (eval_settings, stats):
        say(
            f"index: {stats.documents} documents, {stats.chunks} chunks "
            f"({stats.chunks_embedded} embedded, {stats.chunks_reused} reused) in {stats.seconds:.1f}s"
        )
        engine = Engine.load(eval_settings, verify=False)
        try:
            engine.searcher.embed("warm up")  # load the model before the clock starts
            results: dict[str, MethodResult] = {}
            for method in methods:
                say(f"running {len(bench.queries)} queries with {method}")
                runs, latencies = run_method(engine.searcher, bench, method, depth=depth)
                results[method] = MethodResult(
                    score_runs(bench.qrels, runs), len(runs), percentile(latencies, 50), percentile(latencies, 95)
                )
            answer_result = None
            if answers:
                say(f"building {len(bench.queries)} answers")
                answer_result = check_answers(engine, bench)
        finally:
            engine.index.close()
    return EvalReport(
        corpus=str(corpus),
        queries=len(bench.queries),
        index={
            "documents": stats.documents,
            "chunks": stats.chunks,
            "chunks_embedded": stats.chunks_embedded,
            "chunks_reused": stats.chunks_reused,
            "build_seconds": round(stats.seconds, 2),
        },  # fmt: skip
        settings={k: getattr(settings, k) for k in ("model", "chunk_size", "chunk_overlap", "candidates", "min_score")},
        methods=results,
        answers=answer_result,
        seconds=time.perf_counter() - t0,
    )


def format_report(report: EvalReport) -> str:
    """A readable table of the report."""
    lines = [
        f"corpus: {report.corpus}  ({report.index['documents']} documents, {report.index['chunks']} chunks, "
        f"{report.index['chunks_embedded']} embedded now)",
        f"queries: {report.queries}   model: {report.settings['model']}   seconds: {report.seconds:.1f}",
        "",
        f"{'method':<8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'queries':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8}",
    ]
    for method, r in report.methods.items():
        m = r.metrics
        lines.append(
            f"{method:<8} {m['ndcg@10']:>8.4f} {m['recall@10']:>7.4f} {m['recall@100']:>7.4f} {m['mrr@10']:>7.4f} "
            f"{r.queries:>8} {r.latency_p50_ms:>8.1f} {r.latency_p95_ms:>8.1f}"
        )
    if report.answers is not None:
        a = report.answers.to_dict()
        lines += [
            "",
            f"answers: {a['queries']} built   answered {a['answered_rate']:.1%}   declined {a['declined_rate']:.1%}",
            f"citation hit rate: {a['citation_hit_rate']:.1%} of answers ({a['citation_hit_rate_all']:.1%} of all "
            f"queries)   quote fidelity: {a['quote_fidelity']:.1%} of {a['quotes']} quotes",
            "confidence quantiles: " + "  ".join(f"{k}={v}" for k, v in a["confidence_quantiles"].items()),
        ]
    return "\n".join(lines)


def report_json(report: EvalReport) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)
