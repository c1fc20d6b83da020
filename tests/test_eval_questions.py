"""`bot eval --questions` (clinician questions with expected and forbidden phrases) and `bot eval --evidence`
(do the quotes land on SciFact's gold rationale sentences?), on tiny corpora written here, plus one check on
the real SciFact data when it is present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.documents import Answer, AnswerSection, Bullet, Document
from bot.evaluate import EvalError
from bot.qa_eval import (
    Question,
    check_evidence,
    judge,
    lands,
    load_claims,
    load_questions,
    normalise,
    run_questions,
    sentence_baseline,
)
from tests.conftest import make_settings
from tests.test_evaluate import write_beir

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir-scifact"
# the fake bag-of-words embedder; abstention needs a cosine of 0.5, or 0.3 and every word of the question
ENV = {"BOT_MODEL": "hash:256", "BOT_MIN_SCORE": "0.5"}


def bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **ENV, **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=full,
                          timeout=300)  # fmt: skip


# ================================================================================= questions: a tiny corpus

LABELS = {
    "zorblax.md": "---\ntitle: Zorblax tablets label\nkind: drug_label\n---\n"
    "Zorblax can cause serious liver injury in adults.\n\n"
    "Take zorblax tablets with food once daily.\n",
    "quantifen.md": "---\ntitle: Quantifen capsules label\nkind: drug_label\n---\n"
    "Quantifen capsules may cause drowsiness and dizziness.\n\n"
    "The usual quantifen dose is 20 mg twice daily.\n",
}
RESEARCH = {
    "trial.md": "---\ntitle: Zorblax trial in gout\nkind: research\n---\n"
    "In a randomised trial, zorblax lowered serum urate in patients with gout.\n",
}


def write_corpora(root: Path) -> tuple[Path, Path]:
    for folder, files in (("labels", LABELS), ("research", RESEARCH)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / folder / name).write_text(text)
    return root / "labels", root / "research"


QUESTIONS: list[dict[str, Any]] = [
    {"id": "liver", "q": "Can zorblax cause liver injury?", "answered": True, "expect_any": ["LIVER  injury"],
     "forbid_any": ["quantifen"]},
    {"id": "kidney", "q": "Can zorblax cause liver injury?", "answered": True, "expect_any": ["kidney failure"],
     "forbid_any": []},
    {"id": "dose", "q": "What is the usual quantifen dose?", "answered": True, "expect_any": ["20 mg"],
     "forbid_any": ["Quantifen"]},
    {"id": "swallow", "q": "Airspeed velocity of unladen swallows?", "answered": False, "expect_any": [],
     "forbid_any": []},
    {"id": "swallow-2", "q": "Airspeed velocity of unladen swallows?", "answered": True, "expect_any": ["x"]},
    {"id": "gout", "q": "Does zorblax lower serum urate in gout?", "answered": True,
     "expect_any": ["lowered serum urate"]},
]  # fmt: skip
EXPECTED = {
    "liver": (True, ""),
    "kidney": (False, "no expected phrase in the"),
    "dose": (False, "forbidden phrase 'Quantifen' quoted from doc quantifen"),
    "swallow": (True, ""),
    "swallow-2": (False, "declined when it should answer"),
    "gout": (True, ""),
}


@pytest.fixture(scope="module")
def questions_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """One JSON run and one table run (-v) through the command, on both folders (`--corpus` twice)."""
    tmp = tmp_path_factory.mktemp("questions")
    labels, research = write_corpora(tmp)
    file = tmp / "dev.jsonl"
    file.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    env = {"BOT_CACHE_DIR": str(tmp / "cache")}
    argv = ["eval", "--questions", str(file), "--corpus", str(labels), "--corpus", str(research)]
    out = bot(*argv, "--json", env=env)
    assert out.returncode == 0, out.stderr
    table = bot(*argv, "-v", env=env)
    assert table.returncode == 0, table.stderr
    return tmp, json.loads(out.stdout), table.stdout


def test_questions_json_shape(questions_run: tuple[Path, dict[str, Any], str]) -> None:
    _, report, _ = questions_run
    assert report["mode"] == "questions" and report["default"] == "learned"
    assert {"file", "passed", "total", "questions", "index", "seconds"} <= set(report)
    assert report["total"] == len(QUESTIONS) and report["passed"] == 3
    assert report["index"]["documents"] == 3  # both folders were indexed together
    assert len(report["index"]["corpora"]) == 2
    for row in report["questions"]:
        assert {"q", "passed", "answered", "expected_answered", "reason", "quotes"} <= set(row)
        for quote in row["quotes"]:
            assert {"quote", "doc_id"} <= set(quote)


@pytest.mark.parametrize(("qid", "passed", "reason"), [(k, *v) for k, v in EXPECTED.items()])
def test_each_question_is_judged(
    questions_run: tuple[Path, dict[str, Any], str], qid: str, passed: bool, reason: str
) -> None:
    _, report, _ = questions_run
    row = next(r for r in report["questions"] if r["id"] == qid)
    assert row["passed"] is passed, row
    assert row["reason"].startswith(reason), row
    assert row["answered"] is (qid not in {"swallow", "swallow-2"})


def test_second_folder_is_quoted(questions_run: tuple[Path, dict[str, Any], str]) -> None:
    _, report, _ = questions_run
    row = next(r for r in report["questions"] if r["id"] == "gout")
    assert row["quotes"][0]["doc_id"] == "trial" and "serum urate" in row["quotes"][0]["quote"]


def test_questions_table(questions_run: tuple[Path, dict[str, Any], str]) -> None:
    _, _, table = questions_run
    lines = table.splitlines()
    assert lines[-1] == "passed 3/6 (50.0%)"
    assert any(line.startswith("PASS  [liver] Can zorblax cause liver injury?") for line in lines)
    assert any(line.startswith("FAIL  [dose] ") and "forbidden phrase 'Quantifen'" in line for line in lines)
    assert any(line.startswith("        [zorblax] Zorblax can cause serious liver injury") for line in lines)  # -v
    assert "        (declined)" in lines


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"q": "x"}', "`answered` must be true or false"),
        ('{"q": "", "answered": true}', "`q` must be a non-empty string"),
        ('{"q": "x", "answered": true, "expect_any": "liver"}', "`expect_any` must be a list"),
        ('["q"]', "not a JSON object"),
    ],
)
def test_malformed_question_line(tmp_path: Path, line: str, message: str) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text(json.dumps(QUESTIONS[0]) + "\n\n" + line + "\n")
    with pytest.raises(EvalError, match=f"bad.jsonl:3: {message}"):
        load_questions(file)


def test_malformed_line_is_one_line_error_from_the_command(tmp_path: Path) -> None:
    labels, _ = write_corpora(tmp_path)
    file = tmp_path / "dev.jsonl"
    file.write_text(json.dumps(QUESTIONS[0]) + "\n{oops\n")
    out = bot("eval", "--questions", str(file), "--corpus", str(labels), env={"BOT_CACHE_DIR": str(tmp_path / "c")})
    assert out.returncode == 1
    assert f"{file}:2: invalid JSON" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_questions_without_corpus_use_the_configured_index(tmp_path: Path) -> None:
    from bot.cli import do_index

    labels, _ = write_corpora(tmp_path)
    settings = make_settings(tmp_path, corpus=labels, **{"model": ENV["BOT_MODEL"], "min_score": 0.5})
    do_index(settings, progress=False)
    file = tmp_path / "dev.jsonl"
    file.write_text(json.dumps(QUESTIONS[0]) + "\n")
    report = run_questions(settings, file).to_dict()
    assert report["passed"] == report["total"] == 1
    assert report["index"]["documents"] == 2 and report["index"]["path"] == str(settings.index)


def _answer(*quotes: tuple[str, str]) -> Answer:
    bullets = [Bullet(q, [1], doc, 0, len(q)) for doc, q in quotes]
    return Answer("q", bool(bullets), [AnswerSection("drug_label", "From the FDA Drug Label", bullets)], [])


@pytest.mark.parametrize(
    ("expect", "forbid", "quotes", "passed", "reason"),
    [
        (["liver   INJURY"], [], [("a", "Serious liver\ninjury was seen.")], True, ""),
        (["liver injury"], [], [("a", "Serious liver"), ("a", "injury was seen.")], False,
         "no expected phrase in the 2 quotes"),  # a phrase must be inside one quote
        ([], ["haloperidol"], [("a", "Nothing wrong here.")], True, ""),
        (["seen"], ["HALOPERIDOL"], [("a", "seen"), ("b", "haloperidol x"), ("c", "Haloperidol y")], False,
         "forbidden phrase 'HALOPERIDOL' quoted from doc b, c"),
        (["x"], [], [], False, "declined when it should answer"),
    ],
)  # fmt: skip
def test_judge(expect: list[str], forbid: list[str], quotes: list[tuple[str, str]], passed: bool, reason: str) -> None:
    assert judge(Question("q", True, expect, forbid), _answer(*quotes)) == (passed, reason)


def test_judge_expected_decline() -> None:
    assert judge(Question("q", False, [], []), _answer()) == (True, "")
    passed, reason = judge(Question("q", False, [], []), _answer(("a", "x")))
    assert (passed, reason) == (False, "answered when it should decline (1 quotes)")
    assert normalise("  Ａ\u00a0B\n c ") == "a b c"  # NFKC, case, every whitespace run


# ================================================================================= evidence: a tiny SciFact

# Three abstracts of three sentences each; `text` is the sentences joined by one space, as in SciFact.
ABSTRACTS = {
    "d1": ("Colchicine in gout", ["Colchicine relieved gout flares within a day.",
                                  "Diarrhoea was the most common side effect.",
                                  "Low doses were as effective as high doses."]),
    "d2": ("Statins and muscles", ["Statin therapy raised creatine kinase in some patients.",
                                   "Rhabdomyolysis was rare but serious.",
                                   "Muscle pain resolved after stopping the drug."]),
    "d3": ("Vitamin D and falls", ["Vitamin D supplements did not reduce falls in older adults.",
                                   "Bone density was unchanged after two years.",
                                   "Adherence to the supplements was high."]),
}  # fmt: skip
CLAIMS = [
    ("c1", "Colchicine relieves gout flares.", {"d1": [{"sentences": [0], "label": "SUPPORT"}]}),
    ("c2", "Statins cause rhabdomyolysis.", {"d2": [{"sentences": [1], "label": "SUPPORT"},
                                                      {"sentences": [2], "label": "SUPPORT"}]}),
    ("c3", "Vitamin D prevents falls in older adults.", {"d3": [{"sentences": [0], "label": "CONTRADICT"}]}),
    ("c4", "Adherence to supplements is high.", {"d3": [{"sentences": [1], "label": "SUPPORT"}]}),
    ("c5", "A claim without evidence.", {}),
    ("c6", "Unjudged claim with rationale.", {"d1": [{"sentences": [1], "label": "SUPPORT"}]}),
]  # fmt: skip


def spans_of(sentences: list[str]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for s in sentences:
        out.append((pos, pos + len(s)))
        pos += len(s) + 1
    return out


def write_scifact(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": " ".join(s)}) + "\n" for d, (t, s) in ABSTRACTS.items())
    )
    (root / "sentences.jsonl").write_text(
        "".join(json.dumps({"_id": d, "spans": spans_of(s)}) + "\n" for d, (_, s) in ABSTRACTS.items())
    )
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t, "metadata": m}) + "\n"
                                                for q, t, m in CLAIMS))  # fmt: skip
    judged = [(q, d) for q, _, m in CLAIMS if q != "c6" for d in (list(m) or ["d1"])]
    (root / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in judged)
    )
    return root


@pytest.mark.parametrize(
    ("quote", "sentence", "expected"),
    [
        ((0, 10), (0, 10), True),  # the sentence itself
        ((0, 30), (20, 30), True),  # the quote holds the whole (shorter) sentence
        ((0, 30), (25, 40), False),  # 5 of the sentence's 15 characters
        ((0, 30), (22, 38), True),  # 8 of 16: exactly half
        ((10, 20), (0, 100), True),  # a short quote inside a long sentence
        ((0, 10), (10, 20), False),  # touching is not overlapping
        ((5, 5), (0, 10), False),  # empty quote
    ],
)
def test_lands(quote: tuple[int, int], sentence: tuple[int, int], expected: bool) -> None:
    assert lands(*quote, *sentence) is expected


def test_claims_are_those_with_rationales_and_judged(tmp_path: Path) -> None:
    root = write_scifact(tmp_path)
    claims = load_claims(root / "queries.jsonl")
    assert [c.id for c in claims] == ["c1", "c2", "c3", "c4", "c6"]
    assert claims[1].gold == {"d2": {1, 2}} and claims[2].labels == {"d3": {"CONTRADICT"}}
    judged = load_claims(root / "queries.jsonl", judged={"c1", "c2", "c3", "c4", "c5"}, limit=3)
    assert [c.id for c in judged] == ["c1", "c2", "c3"]


class FakeIndex:
    def __init__(self) -> None:
        self.doc_ids = list(ABSTRACTS)

    def document(self, doc_id: str) -> Document | None:
        if doc_id not in ABSTRACTS:
            return None
        title, sentences = ABSTRACTS[doc_id]
        return Document(doc_id, title, " ".join(sentences))


def sentence_quote(doc: str, i: int, *, to: int | None = None) -> Bullet:
    """A bullet quoting sentence `i` (through sentence `to`) of a tiny abstract."""
    spans = spans_of(ABSTRACTS[doc][1])
    start, end = spans[i][0], spans[to if to is not None else i][1]
    return Bullet(" ".join(ABSTRACTS[doc][1])[start:end], [1], doc, start, end)


def test_evidence_numbers_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers fixed by hand, so every number can be checked on paper."""
    from bot import answer as answer_module
    from bot.qa_eval import ClaimResult, EvidenceReport

    root = write_scifact(tmp_path)
    claims = load_claims(root / "queries.jsonl", judged={"c1", "c2", "c3", "c4"})
    sentences = {d: spans_of(s) for d, (_, s) in ABSTRACTS.items()}
    answers = {
        # c1: research section first; its first bullet is the rationale, then a wrong-document quote
        "Colchicine relieves gout flares.": [("research", [sentence_quote("d1", 0), sentence_quote("d2", 0)])],
        # c2: first quote (guideline section, read first) misses, second spans sentences 1-2 (both rationales)
        "Statins cause rhabdomyolysis.": [("guideline", [sentence_quote("d2", 0)]),
                                          ("research", [sentence_quote("d2", 1, to=2)])],
        # c3: a quote from the right abstract but another sentence
        "Vitamin D prevents falls in older adults.": [("research", [sentence_quote("d3", 2)])],
        # c4: declined
    }  # fmt: skip

    def fake_build_answer(question: str, *_a: Any, **_k: Any) -> Answer:
        secs = [AnswerSection(k, k, b) for k, b in answers.get(question, [])]
        return Answer(question, bool(secs), secs, [])

    monkeypatch.setattr(answer_module, "build_answer", fake_build_answer)
    engine = SimpleNamespace(index=FakeIndex(), searcher=SimpleNamespace(candidates=lambda q: None), policy=None)
    results = check_evidence(engine, claims, sentences)
    assert [(r.quotes, r.landing, r.first_lands) for r in results] == [(2, 1, True), (2, 1, False), (1, 0, False),
                                                                       (0, 0, False)]  # fmt: skip
    report = EvidenceReport("c", "q", None, "s", results, {}, {}, {"model": "x"})
    m = report.metrics()
    assert m["claims"] == 4
    assert m["rationale_any"] == pytest.approx(2 / 4)  # c1, c2
    assert m["rationale_first"] == pytest.approx(1 / 4)  # c1
    assert m["quote_precision"] == pytest.approx(2 / 5)  # 2 landing quotes of 5
    assert m["quotes_per_answer"] == pytest.approx(5 / 3)
    assert m["quotes_per_claim"] == pytest.approx(5 / 4)
    assert m["declined"] == pytest.approx(1 / 4)
    assert m["gold_doc_quoted"] == pytest.approx(3 / 4)
    assert m["quote_fidelity"] == 1.0
    assert report.targets()["quotes_per_answer"] == {"target": 6.0, "op": "<=", "met": True}
    assert report.targets()["rationale_any"]["met"] is False
    assert isinstance(results[0], ClaimResult)


def test_offsets_must_fit_the_indexed_text(tmp_path: Path) -> None:
    root = write_scifact(tmp_path)
    claims = load_claims(root / "queries.jsonl")
    shifted = {d: [(s + 1, e + 1) for s, e in spans_of(t)] for d, (_, t) in ABSTRACTS.items()}
    engine = SimpleNamespace(index=FakeIndex())
    with pytest.raises(EvalError, match="do not fit its indexed text"):
        check_evidence(engine, claims, shifted)


def test_sentence_baseline_by_hand(tmp_path: Path) -> None:
    root = write_scifact(tmp_path)
    claims = load_claims(root / "queries.jsonl", judged={"c1", "c2", "c3", "c4"})
    sentences = {d: spans_of(s) for d, (_, s) in ABSTRACTS.items()}
    base = sentence_baseline(FakeIndex(), claims, sentences)
    # c1 (colchicine, gout flares), c2 (rhabdomyolysis, and "statins" in the title) and c3 (vitamin, falls, older
    # adults) find a rationale first; c4's words ("adherence", "supplements", "high") are all in d3's sentence 2,
    # not in its rationale (sentence 1, nor in d3's title), which BM25 then never returns (score 0).
    assert base["sentences"] == 9
    assert (base["top1"], base["top3"], base["top10"]) == (0.75, 0.75, 0.75)


@pytest.fixture(scope="module")
def evidence_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("evidence")
    root = write_scifact(tmp / "scifact")
    out = bot("eval", "--evidence", "--corpus", str(root), "--queries", str(root / "queries.jsonl"),
              "--qrels", str(root / "qrels" / "train.tsv"), "--json",
              env={"BOT_CACHE_DIR": str(tmp / "cache")})  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_evidence_command_json(evidence_run: dict[str, Any]) -> None:
    report = evidence_run
    assert report["mode"] == "evidence" and report["default"] == "learned"
    assert set(report["metrics"]) >= {"claims", "rationale_any", "rationale_first", "quote_precision",
                                      "quotes_per_answer", "declined"}  # fmt: skip
    assert report["metrics"]["claims"] == 4  # c5 has no rationale, c6 is not in the qrels
    assert set(report["targets"]) == {"rationale_any", "quotes_per_answer", "rationale_first", "declined"}
    assert set(report["baseline"]) == {"sentences", "top1", "top3", "top10"}
    assert report["metrics"]["quote_fidelity"] == 1.0
    rows = report["claims"]
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    # the summary agrees with the per-claim rows
    assert report["metrics"]["rationale_any"] == pytest.approx(sum(r["landing"] > 0 for r in rows) / 4)
    assert report["metrics"]["rationale_first"] == pytest.approx(sum(r["first_lands"] for r in rows) / 4)
    assert report["metrics"]["declined"] == pytest.approx(sum(not r["answered"] for r in rows) / 4)


def test_evidence_command_table_and_limit(tmp_path: Path) -> None:
    root = write_scifact(tmp_path / "scifact")
    out = bot("eval", "--evidence", "--corpus", str(root / "corpus.jsonl"), "--queries", str(root / "queries.jsonl"),
              "--sentences", str(root / "sentences.jsonl"), "--limit", "2",
              env={"BOT_CACHE_DIR": str(tmp_path / "c")})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "claims with rationales: 2" in out.stdout
    for name in ("rationale_any", "rationale_first", "quote_precision", "quotes_per_answer", "declined", "baseline"):
        assert name in out.stdout
    assert ">= 85%" in out.stdout and "<= 6" in out.stdout


def test_beir_json_names_the_default_method(tmp_path: Path) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "beir")
    out = bot("eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels), "--methods", "bm25",
              "--json", env={"BOT_CACHE_DIR": str(tmp_path / "c")})  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["default"] == "learned" and "bm25" in report["methods"]
    out = bot("eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels), "--methods", "bm25",
              "--json", env={"BOT_CACHE_DIR": str(tmp_path / "c"), "BOT_RANKING": "final"})  # fmt: skip
    assert json.loads(out.stdout)["default"] == "final"  # the ranking the configured bot answers with


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--evidence", "--questions", "x.jsonl", "--corpus", "."], "separate modes"),
        (["--queries", "q.jsonl", "--qrels", "r.tsv"], "--corpus is required"),
        (["--corpus", ".", "--queries", "q.jsonl"], "--queries and --qrels are required"),
        (["--evidence", "--corpus", "."], "--evidence needs --queries"),
    ],
)
def test_mode_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = bot("eval", *args, env={"BOT_CACHE_DIR": str(tmp_path / "c")})
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr


# ================================================================================= the real SciFact


@pytest.mark.slow
def test_real_scifact_evidence_limit_20() -> None:
    """Evidence mode on the first 20 SciFact train claims with rationales. Needs the evaluation index of SciFact
    in the cache (embedding its 13,706 chunks takes about 12 minutes on 2 cores): skipped when it is not there,
    like when the shared data is missing. Create it once with the command in docs/EVALUATION.md."""
    if not (SCIFACT / "sentences.jsonl").is_file():
        pytest.skip(f"SciFact data not found at {SCIFACT}")
    from bot.build import corpus_fingerprint, doc_hash
    from bot.config import Settings
    from bot.evaluate import eval_index_root
    from bot.index import resolve_build
    from bot.sources import load_corpus

    settings = Settings()
    docs = load_corpus(SCIFACT).documents
    root = eval_index_root(settings, corpus_fingerprint({d.id: doc_hash(d) for d in docs}))
    if root is None or resolve_build(root) is None:
        pytest.skip("the SciFact evaluation index is not cached yet (`bot eval --evidence --corpus ... ` builds it)")
    out = bot("eval", "--evidence", "--corpus", str(SCIFACT), "--queries", str(SCIFACT / "queries.jsonl"),
              "--qrels", str(SCIFACT / "qrels" / "train.tsv"), "--limit", "20", "--json",
              env={"BOT_MODEL": settings.model, "BOT_MIN_SCORE": str(settings.min_score)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["metrics"]["claims"] == 20 and report["index"]["chunks_embedded"] == 0
    assert report["metrics"]["quote_fidelity"] == 1.0
    base = report["baseline"]
    assert base["sentences"] > 40_000
    # on all 505 claims: 40.6% / 61.0% / 79.6%; 20 claims leave room either way
    assert 0.15 <= base["top1"] <= base["top3"] <= base["top10"] and base["top10"] >= 0.55
    assert 0.2 <= report["metrics"]["rationale_any"] <= 1.0
