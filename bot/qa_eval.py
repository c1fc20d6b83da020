"""`bot eval --questions` and `bot eval --evidence`: measure the answers themselves, not only retrieval.

**Questions** (`--questions FILE`): clinician questions, one JSON object a line, with what a right answer must
(`expect_any`) and must not (`forbid_any`) quote, and whether it should be answered at all (`answered`). Each
question goes through `Engine.ask`, the path every channel takes, so what is scored is what users get.

**Evidence** (`--evidence`, SciFact layout): for every claim with gold rationale sentences, does the answer quote
those sentences? Offsets: the index stores a BEIR `corpus.jsonl` line as a document whose `text` is the line's
`text` field exactly (the title is kept apart; `bot.sources.jsonl` only normalises line ends, and SciFact has
none), and every quote carries `doc_id`, `start`, `end` into that text. `sentences.jsonl` gives each abstract's
sentence spans into the same `text` field (not title + text), so a quote and a gold sentence are compared as
character ranges of one string. This is checked on every run: each gold document's spans must end exactly at
the end of the indexed text, and every quote must equal `text[start:end]`.

A quote **lands on** a rationale when it is from the same document and the two character ranges overlap by at
least half of the shorter of the two: `min(qe, se) - max(qs, ss) >= 0.5 * min(qe - qs, se - ss)`. A quote that
is one sentence lands on exactly that sentence; a quote spanning two sentences lands on each of them when it
holds at least half of it; a sliver of overlap (a shared boundary) never counts.
"""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .evaluate import EvalError, default_method, load_qrels, prepared_index, read_jsonl

log = logging.getLogger(__name__)

QUOTE_PREVIEW = 160
# The goals for the evidence mode: (metric, comparison, target).
EVIDENCE_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("rationale_any", ">=", 0.85),
    ("quotes_per_answer", "<=", 6.0),
    ("rationale_first", ">=", 0.55),
    ("declined", "<=", 0.05),
)
BASELINE_DEPTHS = (1, 3, 10)


def normalise(text: str) -> str:
    """Text for phrase matching: Unicode NFKC, case folded, every run of whitespace one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def build_line(stats: Any) -> str:
    return (
        f"index: {stats.documents} documents, {stats.chunks} chunks "
        f"({stats.chunks_embedded} embedded, {stats.chunks_reused} reused) in {stats.seconds:.1f}s"
    )


def index_facts(stats: Any) -> dict[str, Any]:
    return {
        "documents": stats.documents,
        "chunks": stats.chunks,
        "chunks_embedded": stats.chunks_embedded,
        "chunks_reused": stats.chunks_reused,
        "build_seconds": round(stats.seconds, 2),
    }


# ============================================================================================ questions


@dataclass
class Question:
    q: str
    answered: bool
    expect_any: list[str]
    forbid_any: list[str]
    id: str | None = None
    line: int = 0


@dataclass
class QuestionResult:
    question: Question
    passed: bool
    answered: bool
    reason: str
    quotes: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"q": self.question.q}
        if self.question.id is not None:
            out["id"] = self.question.id
        out.update(
            passed=self.passed,
            answered=self.answered,
            expected_answered=self.question.answered,
            reason=self.reason,
            quotes=self.quotes,
        )
        return out


@dataclass
class QuestionsReport:
    file: str
    results: list[QuestionResult]
    index: dict[str, Any]
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "questions",
            "default": default_method(),
            "file": self.file,
            "passed": self.passed,
            "total": len(self.results),
            "questions": [r.to_dict() for r in self.results],
            "index": self.index,
            "seconds": round(self.seconds, 2),
        }


def _phrases(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise EvalError(f"{where}: `{key}` must be a list of non-empty strings")
    return list(value)


def load_questions(path: Path, *, limit: int | None = None) -> list[Question]:
    """Questions from a JSON-lines file; a malformed line is an `EvalError` naming the file and line."""
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    out: list[Question] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise EvalError(f"{where}: not valid UTF-8") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalError(f"{where}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise EvalError(f"{where}: not a JSON object")
            q = obj.get("q")
            if not isinstance(q, str) or not q.strip():
                raise EvalError(f"{where}: `q` must be a non-empty string")
            if not isinstance(obj.get("answered"), bool):
                raise EvalError(f"{where}: `answered` must be true or false")
            qid = obj.get("id")
            expect, forbid = _phrases(obj, "expect_any", where), _phrases(obj, "forbid_any", where)
            out.append(Question(q, obj["answered"], expect, forbid, None if qid is None else str(qid), lineno))
    if not out:
        raise EvalError(f"{path} holds no questions")
    return out[:limit] if limit is not None else out


def judge(question: Question, answer: Any) -> tuple[bool, str]:
    """(passed, reason) for one answer: empty reason when it passed, else every reason it failed, joined."""
    bullets = answer.quotes() if answer.answered else []
    if not question.answered:
        if answer.answered:
            return False, f"answered when it should decline ({len(bullets)} quotes)"
        return True, ""
    if not answer.answered:
        return False, "declined when it should answer"
    reasons: list[str] = []
    quotes = [normalise(b.quote) for b in bullets]
    expected = [normalise(p) for p in question.expect_any]
    if expected and not any(p in q for q in quotes for p in expected):
        reasons.append(f"no expected phrase in the {len(bullets)} quotes")
    for phrase in question.forbid_any:
        norm = normalise(phrase)
        docs = list(dict.fromkeys(b.doc_id for b, q in zip(bullets, quotes, strict=True) if norm in q))
        if docs:
            reasons.append(f"forbidden phrase {phrase!r} quoted from doc {', '.join(docs)}")
    return not reasons, "; ".join(reasons)


def quote_rows(answer: Any) -> list[dict[str, Any]]:
    """The answer's quotes in reading order (sections in order, bullets in order)."""
    rows: list[dict[str, Any]] = []
    for section in answer.sections:
        for b in section.bullets:
            row: dict[str, Any] = {"quote": b.quote, "doc_id": b.doc_id, "start": b.start, "end": b.end,
                                   "kind": section.kind}  # fmt: skip
            if getattr(b, "section", None):
                row["section"] = b.section
            rows.append(row)
    return rows


def run_questions(
    settings: Settings,
    file: Path,
    corpora: Sequence[Path] = (),
    *,
    limit: int | None = None,
    progress: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> QuestionsReport:
    """Ask every question through `Engine.ask` and judge its answer. With `corpora`, they are indexed together
    into an evaluation index (as `bot eval` does for a BEIR corpus); without, the configured index is used."""
    from .engine import Engine, QuestionError

    t0 = time.perf_counter()
    questions = load_questions(file, limit=limit)

    def ask_all(engine: Engine) -> list[QuestionResult]:
        results = []
        for question in questions:
            try:
                answer = engine.ask(question.q)
            except QuestionError as exc:
                results.append(QuestionResult(question, False, False, f"question refused: {exc}", []))
                continue
            passed, reason = judge(question, answer)
            results.append(QuestionResult(question, passed, answer.answered, reason, quote_rows(answer)))
        return results

    if corpora:
        with prepared_index(settings, list(corpora), progress=progress) as (eval_settings, stats):
            say(build_line(stats))
            index = {"corpora": [str(c) for c in corpora], **index_facts(stats)}
            engine = Engine.load(eval_settings, verify=False)
            try:
                results = ask_all(engine)
            finally:
                engine.index.close()
    else:
        engine = Engine.load(settings)
        try:
            index = {"path": str(settings.index), **engine.info()}
            say(f"index: {settings.index} ({index['documents']} documents, {index['chunks']} chunks)")
            results = ask_all(engine)
        finally:
            engine.index.close()
    return QuestionsReport(str(file), results, index, time.perf_counter() - t0)


def format_questions(report: QuestionsReport, *, verbose: bool = False) -> str:
    """One line per question (PASS/FAIL, the question, why it failed), then the total."""
    lines: list[str] = []
    for r in report.results:
        label = f"[{r.question.id}] " if r.question.id is not None else ""
        line = f"{'PASS' if r.passed else 'FAIL'}  {label}{r.question.q}"
        if r.reason:
            line += f"  -- {r.reason}"
        lines.append(line)
        if verbose:
            if not r.answered:
                lines.append("        (declined)")
            for q in r.quotes:
                text = " ".join(q["quote"].split())
                text = text if len(text) <= QUOTE_PREVIEW else text[: QUOTE_PREVIEW - 1] + "\u2026"
                lines.append(f"        [{q['doc_id']}] {text}")
    total = len(report.results)
    lines.append(f"passed {report.passed}/{total} ({report.passed / max(total, 1):.1%})")
    return "\n".join(lines)


# ============================================================================================ evidence


@dataclass
class Claim:
    id: str
    text: str
    gold: dict[str, set[int]]  # document id -> indices of its rationale sentences
    labels: dict[str, set[str]] = field(default_factory=dict)  # document id -> SUPPORT / CONTRADICT


def _claim(obj: Any) -> Claim:
    """A SciFact query line as a claim, with its gold rationale sentences and labels by document."""
    gold: dict[str, set[int]] = {}
    labels: dict[str, set[str]] = {}
    for doc_id, sets in (obj.get("metadata") or {}).items():
        for ev in sets:
            sentences = {int(i) for i in ev.get("sentences", [])}
            if sentences:
                gold.setdefault(str(doc_id), set()).update(sentences)
                if ev.get("label"):
                    labels.setdefault(str(doc_id), set()).add(str(ev["label"]))
    return Claim(str(obj["_id"]), str(obj["text"]), gold, labels)


def load_claims(path: Path, *, judged: set[str] | None = None, limit: int | None = None) -> list[Claim]:
    """Claims with gold rationales from a SciFact `queries.jsonl` (`metadata`: `{doc_id: [{"sentences": [i, ...],
    "label": ...}, ...]}`), in file order; with `judged`, only those query ids."""
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    claims = [
        claim
        for claim in read_jsonl(path, _claim, "a claim line with `_id`, `text` and SciFact `metadata`")
        if claim.gold and (judged is None or claim.id in judged)
    ]
    if not claims:
        raise EvalError(f"no claim in {path} has gold rationale sentences in its `metadata`" +
                        (" (among the judged queries)" if judged is not None else ""))  # fmt: skip
    return claims[:limit] if limit is not None else claims


def load_sentences(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Document id -> its sentences' `[start, end)` character spans in the document's `text`."""
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path} (sentence spans; give them with --sentences)")
    spans = read_jsonl(
        path,
        lambda obj: (str(obj["_id"]), [(int(s), int(e)) for s, e in obj["spans"]]),
        "a line with `_id` and `spans` [[start, end], ...]",
    )
    return dict(spans)


def lands(qs: int, qe: int, ss: int, se: int) -> bool:
    """A quote `[qs, qe)` lands on a sentence `[ss, se)` of the same document when they overlap by at least
    half of the shorter of the two."""
    overlap = min(qe, se) - max(qs, ss)
    return overlap > 0 and overlap >= 0.5 * min(qe - qs, se - ss)


def lands_on_rationale(
    doc_id: str, start: int, end: int, claim: Claim, sentences: dict[str, list[tuple[int, int]]]
) -> bool:
    spans = sentences.get(doc_id, [])
    return any(i < len(spans) and lands(start, end, *spans[i]) for i in claim.gold.get(doc_id, ()))


@dataclass
class ClaimResult:
    id: str
    answered: bool
    quotes: int = 0
    landing: int = 0  # quotes that land on a rationale
    first_lands: bool = False
    gold_doc_quoted: bool = False
    exact: int = 0  # quotes equal to the indexed text[start:end]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "answered": self.answered, "quotes": self.quotes, "landing": self.landing,
                "first_lands": self.first_lands, "gold_doc_quoted": self.gold_doc_quoted}  # fmt: skip


@dataclass
class EvidenceReport:
    corpus: str
    queries: str
    qrels: str | None
    sentences: str
    claims: list[ClaimResult]
    baseline: dict[str, Any]
    index: dict[str, Any]
    settings: dict[str, Any]
    seconds: float = 0.0

    def metrics(self) -> dict[str, float | int]:
        n = len(self.claims)
        answered = [c for c in self.claims if c.answered]
        quotes = sum(c.quotes for c in answered)
        return {
            "claims": n,
            "rationale_any": sum(c.landing > 0 for c in self.claims) / max(n, 1),
            "rationale_first": sum(c.first_lands for c in self.claims) / max(n, 1),
            "quote_precision": sum(c.landing for c in answered) / quotes if quotes else 0.0,
            "quotes_per_answer": quotes / len(answered) if answered else 0.0,
            "quotes_per_claim": quotes / max(n, 1),  # a decline counts as 0 quotes
            "declined": (n - len(answered)) / max(n, 1),
            "gold_doc_quoted": sum(c.gold_doc_quoted for c in self.claims) / max(n, 1),
            "quotes": quotes,
            "quote_fidelity": sum(c.exact for c in answered) / quotes if quotes else 1.0,
        }

    def targets(self) -> dict[str, dict[str, Any]]:
        m = self.metrics()
        out = {}
        for name, op, goal in EVIDENCE_TARGETS:
            value = float(m[name])
            out[name] = {"target": goal, "op": op, "met": value >= goal if op == ">=" else value <= goal}
        return out

    def to_dict(self) -> dict[str, Any]:
        metrics = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.metrics().items()}
        return {
            "mode": "evidence",
            "default": default_method(),
            "corpus": self.corpus,
            "queries": self.queries,
            "qrels": self.qrels,
            "sentences": self.sentences,
            "metrics": metrics,
            "targets": self.targets(),
            "baseline": self.baseline,
            "index": self.index,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
            "claims": [c.to_dict() for c in self.claims],
        }


def check_offsets(index: Any, claims: list[Claim], sentences: dict[str, list[tuple[int, int]]]) -> dict[str, str]:
    """The indexed text of every gold document, after checking the sentence spans fit it exactly (the last
    span ends where the text ends). A mismatch means the spans are not offsets into the indexed text."""
    texts: dict[str, str] = {}
    for claim in claims:
        for doc_id, wanted in claim.gold.items():
            if doc_id in texts:
                continue
            doc = index.document(doc_id)
            if doc is None:
                raise EvalError(f"claim {claim.id}: gold document {doc_id} is not in the index")
            spans = sentences.get(doc_id)
            if not spans:
                raise EvalError(f"claim {claim.id}: gold document {doc_id} has no sentence spans")
            if spans[-1][1] != len(doc.text) or any(s < 0 or e < s for s, e in spans):
                raise EvalError(
                    f"the sentence spans of document {doc_id} do not fit its indexed text ({len(doc.text)} "
                    f"characters, spans end at {spans[-1][1]}): they must be offsets into corpus `text`"
                )
            if max(wanted) >= len(spans):
                raise EvalError(f"claim {claim.id}: rationale sentence {max(wanted)} of {doc_id} does not exist")
            texts[doc_id] = doc.text
    return texts


def check_evidence(engine: Any, claims: list[Claim], sentences: dict[str, list[tuple[int, int]]]) -> list[ClaimResult]:
    """Build every claim's answer on the real answer path and see where its quotes land."""
    from .answer import build_answer
    from .engine import clean_question

    index = engine.index
    texts = check_offsets(index, claims, sentences)
    results: list[ClaimResult] = []
    for claim in claims:
        question = clean_question(claim.text, max_chars=max(len(claim.text), 1))
        cands = engine.searcher.candidates(question)  # the path Engine.ask takes
        answer = build_answer(question, engine.searcher, engine.policy, cands=cands)
        result = ClaimResult(claim.id, answer.answered)
        for n, bullet in enumerate(answer.quotes() if answer.answered else []):  # reading order
            hit = lands_on_rationale(bullet.doc_id, bullet.start, bullet.end, claim, sentences)
            result.quotes += 1
            result.landing += hit
            result.first_lands |= n == 0 and hit
            result.gold_doc_quoted |= bullet.doc_id in claim.gold
            if bullet.doc_id not in texts:
                doc = index.document(bullet.doc_id)
                texts[bullet.doc_id] = doc.text if doc is not None else ""
            result.exact += texts[bullet.doc_id][bullet.start : bullet.end] == bullet.quote
        results.append(result)
    return results


def sentence_baseline(
    index: Any,
    claims: list[Claim],
    sentences: dict[str, list[tuple[int, int]]],
    depths: tuple[int, ...] = BASELINE_DEPTHS,
) -> dict[str, Any]:
    """The anchor: BM25 (the bot's tokenizer, bm25s, k1=1.5, b=0.75) over single sentences, each indexed as
    "title sentence"; the share of claims whose top-k sentences include a rationale (same `lands` test).
    Query words count as often as they occur, as bm25s's own `retrieve` does."""
    from .lexical import Lexical, tokenize

    units: list[tuple[str, int, int]] = []
    texts: list[str] = []
    for doc_id in index.doc_ids:
        spans = sentences.get(doc_id)
        doc = index.document(doc_id) if spans else None
        if doc is None:
            continue
        for s, e in spans or []:
            units.append((doc_id, s, e))
            texts.append(f"{doc.title} {doc.text[s:e]}")
    hits = dict.fromkeys(depths, 0)
    if units:
        lexical = Lexical.build(texts)
        k = min(max(depths), len(units))
        for claim in claims:
            ids = [lexical.vocab[t] for t in tokenize(claim.text) if t in lexical.vocab]
            if not ids:
                continue
            rows, scores = lexical.retriever.retrieve([ids], k=k, show_progress=False)
            ranked = [units[r] for r, sc in zip(rows[0].tolist(), scores[0].tolist(), strict=True) if sc > 0]
            for depth in depths:
                hits[depth] += any(lands_on_rationale(d, s, e, claim, sentences) for d, s, e in ranked[:depth])
    n = max(len(claims), 1)
    return {"sentences": len(units), **{f"top{d}": round(hits[d] / n, 4) for d in depths}}


def run_evidence(
    settings: Settings,
    corpus: Path,
    queries: Path,
    qrels: Path | None = None,
    sentences: Path | None = None,
    *,
    limit: int | None = None,
    baseline: bool = True,
    progress: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> EvidenceReport:
    """Index `corpus` (or reuse its evaluation index), answer every claim with rationales, see where quotes land."""
    from .engine import Engine

    t0 = time.perf_counter()
    if not corpus.exists():
        raise FileNotFoundError(f"not found: {corpus}")
    if sentences is None:
        sentences = (corpus if corpus.is_dir() else corpus.parent) / "sentences.jsonl"
    if qrels is not None and not qrels.exists():
        raise FileNotFoundError(f"not found: {qrels}")
    judged = set(load_qrels(qrels)) if qrels is not None else None
    claims = load_claims(queries, judged=judged, limit=limit)
    spans = load_sentences(sentences)
    with prepared_index(settings, corpus, progress=progress) as (eval_settings, stats):
        say(build_line(stats))
        engine = Engine.load(eval_settings, verify=False)
        try:
            say(f"answering {len(claims)} claims with gold rationales")
            results = check_evidence(engine, claims, spans)
            base: dict[str, Any] = {}
            if baseline:
                say("BM25 over single sentences (baseline)")
                base = sentence_baseline(engine.index, claims, spans)
        finally:
            engine.index.close()
    return EvidenceReport(
        corpus=str(corpus),
        queries=str(queries),
        qrels=str(qrels) if qrels is not None else None,
        sentences=str(sentences),
        claims=results,
        baseline=base,
        index=index_facts(stats),
        settings={
            k: getattr(settings, k)
            for k in (
                "model",
                "chunk_size",
                "chunk_overlap",
                "candidates",
                "min_score",
                "top_k",
                "max_bullets",
                "max_bullets_per_section",
            )
        },  # fmt: skip
        seconds=time.perf_counter() - t0,
    )


def format_evidence(report: EvidenceReport) -> str:
    m = report.metrics()
    targets = report.targets()
    rows = [
        ("rationale_any", "claims with a quote on a rationale sentence", f"{m['rationale_any']:.1%}"),
        ("rationale_first", "claims whose first quote is on a rationale", f"{m['rationale_first']:.1%}"),
        ("quote_precision", "quotes on a rationale / all quotes", f"{m['quote_precision']:.1%}"),
        ("quotes_per_answer", "quotes per answer (answered claims)", f"{m['quotes_per_answer']:.2f}"),
        ("quotes_per_claim", "quotes per claim (a decline counts 0)", f"{m['quotes_per_claim']:.2f}"),
        ("declined", "claims declined", f"{m['declined']:.1%}"),
        ("gold_doc_quoted", "claims quoting a gold abstract", f"{m['gold_doc_quoted']:.1%}"),
    ]
    lines = [
        f"corpus: {report.corpus}  ({report.index['documents']} documents, {report.index['chunks']} chunks, "
        f"{report.index['chunks_embedded']} embedded now)",
        f"claims with rationales: {m['claims']}   model: {report.settings['model']}   "
        f"default method: {default_method()}   seconds: {report.seconds:.1f}",
        "",
        f"{'metric':<18} {'value':>8}  {'target':>8}  {'':<4} meaning",
    ]
    for name, meaning, value in rows:
        t = targets.get(name)
        goal = ""
        mark = ""
        if t is not None:
            g = t["target"]
            goal = f"{t['op']} {g:.0%}" if g <= 1 else f"{t['op']} {g:g}"
            mark = "ok" if t["met"] else "no"
        lines.append(f"{name:<18} {value:>8}  {goal:>8}  {mark:<4} {meaning}")
    lines.append(f"quote fidelity: {m['quote_fidelity']:.1%} of {m['quotes']} quotes")
    if report.baseline:
        b = report.baseline
        lines += [
            "",
            f"baseline, BM25 over {b['sentences']} single sentences (title + sentence): a rationale in the top 1 "
            f"{b['top1']:.1%}, top 3 {b['top3']:.1%}, top 10 {b['top10']:.1%}",
        ]
    return "\n".join(lines)


def to_json(report: QuestionsReport | EvidenceReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)
