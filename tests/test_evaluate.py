"""`bot eval`: metric plumbing on hand-scored runs, BEIR file parsing, the evaluation-index cache,
the `--json` shape, and the answer checks, on a tiny hand-made BEIR set (real model and a fast fake one)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.evaluate import (
    EvalError,
    documents_of,
    eval_index_root,
    format_report,
    load_benchmark,
    load_qrels,
    load_queries,
    run_eval,
    score_runs,
)
from bot.search import SHORT_CHUNK_CHARS, SHORT_CHUNK_PENALTY, short_chunk_penalty
from tests.conftest import make_settings

DOCS = [
    ("d-gout", "Gout and colchicine",
     "Low-dose colchicine taken within 12 hours of the first symptoms relieved pain in acute gout flares. "
     "Gastrointestinal side effects were less frequent with the low dose than with the high dose."),
    ("d-gout-diet", "Diet and gout",
     "A diet high in purines, such as red meat and seafood, raised serum urate and the risk of gout attacks."),
    ("d-asthma", "Inhaled corticosteroids in asthma",
     "Regular inhaled corticosteroids reduced severe exacerbations and hospital admissions in adults with "
     "persistent asthma."),
    ("d-warfarin", "Warfarin and vitamin K",
     "Patients taking warfarin should keep their intake of vitamin K steady, because leafy green vegetables "
     "change the anticoagulant effect and the INR."),
    ("d-migraine", "Triptans for migraine",
     "Sumatriptan relieved headache pain within two hours in most patients with an acute migraine attack."),
    ("d-sleep", "Insomnia and cognitive behavioural therapy",
     "Cognitive behavioural therapy for insomnia improved sleep onset and sleep quality more durably than "
     "sleeping pills."),
]  # fmt: skip
QUERIES = {
    "q1": "Does low-dose colchicine relieve an acute gout flare?",
    "q2": "Do inhaled steroids prevent asthma exacerbations?",
    "q3": "Should patients on warfarin keep their vitamin K intake steady?",
    "q4": "What is the tallest mountain on Mars?",  # judged, but nothing in the corpus answers it
    "q5": "A query nobody judged",
}
QRELS = [("q1", "d-gout", 2), ("q1", "d-gout-diet", 1), ("q2", "d-asthma", 1), ("q3", "d-warfarin", 1),
         ("q4", "d-sleep", 1), ("q3", "d-migraine", 0)]  # fmt: skip


def write_beir(root: Path) -> tuple[Path, Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels = root / "corpus.jsonl", root / "queries.jsonl", root / "qrels.tsv"
    corpus.write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS))
    queries.write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return corpus, queries, qrels


@pytest.fixture(scope="session")
def beir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_beir(tmp_path_factory.mktemp("beir"))


@pytest.fixture(scope="session")
def real_eval(tmp_path_factory: pytest.TempPathFactory, beir: tuple[Path, Path, Path]) -> tuple[Settings, dict]:
    """One evaluation with the real MiniLM model, answers included (the second run is in a test below)."""
    settings = make_settings(tmp_path_factory.mktemp("real-eval"))
    report = run_eval(settings, *beir, answers=True)
    return settings, report.to_dict()


# ------------------------------------------------------------------------------------------ metrics

DCG_Q1 = 1 / math.log2(2) + 2 / math.log2(4)  # ranked: d1 (grade 1), d2 (0), d3 (grade 2)
IDCG_Q1 = 2 / math.log2(2) + 1 / math.log2(3)


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        # perfect ranking of a one-document query
        ({"a": ["x"]}, {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}),
        # relevant document third: nDCG = (1/log2(4)) / 1, MRR = 1/3
        ({"a": ["n1", "n2", "x"]}, {"ndcg@10": 0.5, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1 / 3}),
        # relevant document 11th: outside @10, inside @100
        ({"a": [f"n{i}" for i in range(10)] + ["x"]},
         {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 1.0, "mrr@10": 0.0}),
        # nothing retrieved: every metric is 0
        ({}, {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}),
    ],
)  # fmt: skip
def test_metrics_known_by_hand_single_query(runs: dict[str, list[str]], expected: dict[str, float]) -> None:
    scores = score_runs({"a": {"x": 1}}, runs)
    assert scores == pytest.approx(expected, abs=1e-4)


def test_metrics_graded_and_averaged_over_queries() -> None:
    qrels = {"q1": {"d1": 1, "d3": 2}, "q2": {"d9": 1}}
    runs = {"q1": ["d1", "d2", "d3"], "q2": ["d5", "d9"]}
    scores = score_runs(qrels, runs)
    ndcg_q2 = (1 / math.log2(3)) / 1.0
    assert scores["ndcg@10"] == pytest.approx((DCG_Q1 / IDCG_Q1 + ndcg_q2) / 2, abs=1e-4)  # linear gain
    assert scores["mrr@10"] == pytest.approx((1 + 1 / 2) / 2, abs=1e-4)
    assert scores["recall@10"] == pytest.approx(1.0)


def test_rank_order_is_kept_exactly() -> None:
    scores = score_runs({"q": {"b": 1}}, {"q": ["a", "b", "c"]})
    assert scores["mrr@10"] == pytest.approx(0.5)


def test_zero_grades_are_not_relevant_and_unjudged_queries_do_not_count() -> None:
    qrels = {"q": {"a": 0, "b": 1}, "empty": {"c": 0}}
    scores = score_runs(qrels, {"q": ["a", "b"], "empty": ["c"], "unjudged": ["b"]})
    assert scores["mrr@10"] == pytest.approx(0.5 / 2) and scores["recall@10"] == pytest.approx(1 / 2)
    assert scores["ndcg@10"] == pytest.approx((1 / math.log2(3)) / 2, abs=1e-4)


def test_documents_take_the_rank_of_their_best_chunk() -> None:
    class FakeIndex:
        doc_of_row = np.array([0, 0, 1, 2, 1, 2])
        doc_ids = ["A", "B", "C"]

    class FakeSearcher:
        index = FakeIndex()

    rows = np.array([4, 1, 0, 5, 2, 3])  # chunk rows, best first: B, A, A, C, B, C
    assert documents_of(FakeSearcher(), rows) == ["B", "A", "C"]  # type: ignore[arg-type]
    assert documents_of(FakeSearcher(), rows, depth=2) == ["B", "A"]  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ files


def test_benchmark_keeps_judged_queries_with_positive_grades(beir: tuple[Path, Path, Path]) -> None:
    bench = load_benchmark(*beir)
    assert list(bench.queries) == ["q1", "q2", "q3", "q4"]  # q5 is not judged
    assert bench.qrels["q1"] == {"d-gout": 2, "d-gout-diet": 1}
    assert bench.qrels["q3"] == {"d-warfarin": 1}  # the grade-0 judgment does not count
    assert list(load_benchmark(*beir, limit=2).queries) == ["q1", "q2"]


@pytest.mark.parametrize(
    ("name", "content", "loader", "message"),
    [
        ("q.tsv", "q1\td1\n", load_qrels, "expected `query-id<TAB>corpus-id<TAB>score`"),
        ("q.tsv", "q1\td1\tyes\n", load_qrels, "is not a number"),
        ("q.jsonl", '{"id": "q1"}\n', load_queries, "not a query line"),
        ("q.jsonl", "not json\n", load_queries, "not a query line"),
    ],
)
def test_bad_benchmark_files_name_the_line(tmp_path: Path, name: str, content: str, loader, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(EvalError, match=message) as err:
        loader(path)
    assert f"{path}:1" in str(err.value)


def test_qrels_without_header_and_unjudged_texts(tmp_path: Path) -> None:
    (tmp_path / "qrels.tsv").write_text("a\tx\t1\nb\ty\t1\n")
    (tmp_path / "queries.jsonl").write_text('{"_id": "a", "text": "first"}\n')
    (tmp_path / "corpus.jsonl").write_text('{"_id": "x", "text": "some text"}\n')
    bench = load_benchmark(tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl", tmp_path / "qrels.tsv")
    assert bench.queries == {"a": "first"} and bench.skipped == 1
    (tmp_path / "qrels.tsv").write_text("c\tx\t1\n")
    with pytest.raises(EvalError, match="none of the 1 judged queries"):
        load_benchmark(tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl", tmp_path / "qrels.tsv")


# ------------------------------------------------------------------------------------------ real runs


def test_real_model_report_shape_and_sanity(real_eval: tuple[Settings, dict]) -> None:
    _, report = real_eval
    assert report["queries"] == 4
    assert set(report["methods"]) == {"bm25", "dense", "hybrid", "final", "learned"}
    for result in report["methods"].values():
        assert set(result) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "queries",
                               "latency_p50_ms", "latency_p95_ms"}  # fmt: skip
        assert result["queries"] == 4
        assert all(0.0 <= result[m] <= 1.0 for m in ("ndcg@10", "recall@10", "recall@100", "mrr@10"))
        assert 0 <= result["latency_p50_ms"] <= result["latency_p95_ms"]
    # q1-q3 each have an obvious document, found first; q4 (Mars) shares no word with the corpus, so BM25
    # finds nothing for it, while dense search ranks every document (and so reaches its judged one somewhere)
    assert report["methods"]["bm25"]["mrr@10"] == pytest.approx(0.75, abs=1e-4)
    assert report["methods"]["dense"]["mrr@10"] >= 0.75 and report["methods"]["final"]["mrr@10"] >= 0.75
    assert report["methods"]["learned"]["mrr@10"] >= 0.75
    assert report["index"]["documents"] == len(DOCS)


def test_real_model_answer_checks(real_eval: tuple[Settings, dict]) -> None:
    _, report = real_eval
    answers = report["answers"]
    assert answers["queries"] == 4
    assert answers["declined_rate"] == pytest.approx(0.25)  # only the Mars question is declined
    assert answers["citation_hit_rate"] == pytest.approx(1.0)  # every answer cites a relevant document
    assert answers["citation_hit_rate_all"] == pytest.approx(0.75)
    assert answers["quotes"] >= 3 and answers["quote_fidelity"] == 1.0
    assert set(answers["confidence_quantiles"]) == {"p5", "p10", "p25", "p50", "p75", "p90", "p95"}


def test_second_run_reuses_the_evaluation_index(real_eval: tuple[Settings, dict], beir: tuple[Path, ...]) -> None:
    settings, first = real_eval
    assert first["index"]["chunks_embedded"] == first["index"]["chunks"] > 0
    again = run_eval(settings, *beir, methods=("final",)).to_dict()
    assert again["index"]["chunks_embedded"] == 0 and again["index"]["chunks_reused"] == first["index"]["chunks"]
    for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
        assert again["methods"]["final"][metric] == first["methods"]["final"][metric]
    assert len(list((settings.cache_dir / "eval").iterdir())) == 1  # type: ignore[operator]


def test_cache_key_changes_with_model_and_chunking(tmp_path: Path, beir: tuple[Path, Path, Path]) -> None:
    base = make_settings(tmp_path, model="hash:64")
    roots = {
        eval_index_root(base, "fp"),
        eval_index_root(base.model_copy(update={"chunk_size": 400}), "fp"),
        eval_index_root(base.model_copy(update={"model": "hash:32"}), "fp"),
        eval_index_root(base, "other-fingerprint"),
    }
    assert len(roots) == 4
    # a new evaluation index of the same corpus (another cache key) still takes vectors from the vector cache
    first = run_eval(base, *beir, methods=("bm25",)).to_dict()
    assert first["index"]["chunks_embedded"] > 0
    moved = run_eval(base.model_copy(update={"chunk_overlap": 2}), *beir, methods=("bm25",)).to_dict()
    assert moved["index"]["chunks_embedded"] == 0  # these documents are one chunk each: same texts


def test_without_a_cache_dir_the_index_is_temporary(tmp_path: Path, beir: tuple[Path, Path, Path]) -> None:
    settings = make_settings(tmp_path, model="hash:64", cache_dir=None)
    report = run_eval(settings, *beir, methods=("bm25", "final"))
    assert report.methods["bm25"].queries == 4
    assert not list(tmp_path.glob("**/manifest.json"))
    text = format_report(report)
    assert "nDCG@10" in text and "\nbm25 " in text and "\nfinal " in text


# ------------------------------------------------------------------------------------------ command


def bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=full,
                          timeout=300)  # fmt: skip


def test_eval_command_json_and_table(tmp_path: Path, beir: tuple[Path, Path, Path]) -> None:
    corpus, queries, qrels = beir
    env = {"BOT_CACHE_DIR": str(tmp_path / "cache"), "BOT_MODEL": "hash:64"}
    argv = ["eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels)]
    out = bot(*argv, "--json", "--methods", "bm25,final", "--answers", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)  # one JSON object, nothing else on stdout
    assert set(report["methods"]) == {"bm25", "final"}
    assert report["methods"]["bm25"]["ndcg@10"] > 0.5
    assert report["answers"]["quote_fidelity"] == 1.0
    assert report["settings"]["model"] == "hash:64"

    table = bot(*argv, "--methods", "bm25", env=env)
    assert table.returncode == 0, table.stderr
    assert "nDCG@10" in table.stdout and "bm25" in table.stdout and "0 embedded now" in table.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "bm25,magic"], "unknown method(s) magic"),
        (["--qrels", "{tmp}/missing.tsv"], "not found"),
    ],
)
def test_eval_command_errors_are_one_line(
    tmp_path: Path, beir: tuple[Path, Path, Path], extra: list[str], message: str
) -> None:
    corpus, queries, qrels = beir
    argv = ["eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels)]
    out = bot(*argv, *[e.format(tmp=tmp_path) for e in extra], env={"BOT_CACHE_DIR": str(tmp_path / "c"),
                                                                     "BOT_MODEL": "hash:64"})  # fmt: skip
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------ tuned parts


@pytest.mark.parametrize(
    ("length", "guideline", "penalty"),
    [(0, False, SHORT_CHUNK_PENALTY), (SHORT_CHUNK_CHARS // 2, False, SHORT_CHUNK_PENALTY / 2),
     (SHORT_CHUNK_CHARS, False, 0.0), (5 * SHORT_CHUNK_CHARS, False, 0.0),
     (SHORT_CHUNK_CHARS // 2, True, 0.0)],  # a guideline's one-sentence recommendation
)  # fmt: skip
def test_short_chunks_lose_a_little(length: int, guideline: bool, penalty: float) -> None:
    class FakeDb:
        def execute(self, _sql: str) -> list[tuple[int, int]]:
            return [(length, int(guideline))]

    class FakeIndex:
        db = FakeDb()

    assert short_chunk_penalty(FakeIndex())[0] == pytest.approx(penalty)  # type: ignore[arg-type]


def test_final_ranking_uses_the_whole_documents_words(tmp_path: Path) -> None:
    """Words spread over two chunks of one document still count together for that document."""
    from bot.cli import do_index
    from bot.engine import Engine

    filler = " ".join(f"Sentence {i} says nothing in particular about anything at all here." for i in range(14))
    docs = [
        ("split", "Split document", f"Colchicine is an old drug. {filler} Gout flares respond to it."),
        ("half", "Half document", "Colchicine is an old drug used for many things in many places."),
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs))
    settings = make_settings(tmp_path, corpus=corpus, model="hash:64")
    do_index(settings, progress=False)
    engine = Engine.load(settings)
    cands = engine.searcher.candidates("colchicine gout")
    assert cands.bm25_doc is not None
    docs_of = [engine.index.doc_ids[d] for d in engine.index.doc_of_row[cands.rows]]
    split_rows = [i for i, d in enumerate(docs_of) if d == "split"]
    assert len(split_rows) >= 2  # the document really is in two chunks
    assert len({float(cands.bm25_doc[i]) for i in split_rows}) == 1  # one document score for all its chunks
    half = docs_of.index("half")
    assert cands.bm25_doc[split_rows[0]] > cands.bm25_doc[half]  # both words beat one word
    engine.index.close()


@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("Reye syndrome in children with viral infections", True),  # low cosine, a chunk holds every word
        ("Reye syndrome", False),  # two words need the cosine: the every-word rule starts at four
        ("What is the usual starting dose of metformin in type 2 diabetes?", False),
        ("Reye syndrome in Martian colonists", False),  # low cosine and 'martian' is nowhere
    ],
)
def test_low_similarity_questions_need_every_word(engine, question: str, answered: bool) -> None:  # type: ignore[no-untyped-def]
    from bot.answer import FULL_MATCH_MIN_COSINE, answer_confidence

    confidence = answer_confidence(engine.searcher.candidates(question))
    assert confidence < engine.policy.min_score  # these are all below the plain threshold
    answer = engine.ask(question)
    assert answer.answered is answered
    if answered:
        assert confidence >= FULL_MATCH_MIN_COSINE
        assert any("Reye" in b.quote for b in answer.quotes())


@pytest.mark.parametrize(
    ("confidence", "coverage", "terms", "answered"),
    [
        (0.52, 0.35, 6, True),  # a claim: close, and one top chunk holds a third of its words
        (0.52, 0.35, 5, False),  # a shorter question needs the cosine or more of its words
        (0.48, 0.35, 8, False),  # below LONG_QUESTION_MIN_COSINE
        (0.52, 0.20, 8, False),  # too few of its words
        (0.35, 0.65, 6, True),  # the broad rule: most of a long question's words
        (0.35, 1.00, 4, True),  # the every-word rule
        (0.25, 1.00, 8, False),  # below FULL_MATCH_MIN_COSINE nothing answers
    ],
)
def test_lexical_evidence_rules(monkeypatch, confidence: float, coverage: float, terms: int, answered: bool) -> None:  # type: ignore[no-untyped-def]
    from bot import abstention
    from bot.query import Query

    monkeypatch.setattr(abstention, "word_coverage", lambda *_: coverage)
    query = Query(text="claim", terms={f"t{i}": 1.0 for i in range(terms)})
    assert abstention.lexical_evidence(query, confidence, [], None) is answered  # type: ignore[arg-type]
