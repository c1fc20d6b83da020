"""Train the learned ranking (bot/ranker.py) and check that it generalises, leaving one data set out.

    python bench/train_ranker.py                 # features (cached), leave-one-out table, fit on all, write
    python bench/train_ranker.py --no-write      # the tables only

Data (read from ../shared/data, never copied): SciFact train, NFCorpus train (a fixed sample of its
queries), MedQuAD dev, and the hand-written consumer rewrites of MedQuAD dev questions in
bench/data/medquad-consumer (judged against the same MedQuAD corpus). Each set is indexed exactly as
`bot eval` indexes it (the evaluation cache under ~/.cache/bot/eval). For every query the candidates of the
real search path are turned into the ranker's features; a candidate is relevant when its document is
judged relevant. The model is a pairwise logistic regression (scikit-learn, no intercept) on the feature
differences of (relevant, non-relevant) candidate pairs of the same query, weighted so each data set
counts equally; its weights are scaled so the dense cosine weighs 1 (the scale of "final"), and written to
bot/data/ranker.json with their digest. The default fit (`--how ascent`) is a coordinate ascent on the mean
nDCG@10 of the training sets itself, from the "final" weights, with a heavy price on doing worse than "final"
on any one set and bounds on each weight (the pairwise logistic fit is kept for comparison: it came out
below "final" on SciFact and NFCorpus).

Scores are nDCG@10 over documents by max-passage (as `bot eval`), computed with the bot's own code.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluate import load_qrels, load_queries, prepared_index, score_runs  # noqa: E402
from bot.ranker import FEATURES, to_json  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = {
    "scifact": (DATA / "beir-scifact", DATA / "beir-scifact/queries.jsonl", DATA / "beir-scifact/qrels/train.tsv"),
    "nfcorpus": (DATA / "beir-nfcorpus", DATA / "beir-nfcorpus/queries.jsonl", DATA / "beir-nfcorpus/qrels/train.tsv"),
    "medquad": (DATA / "medquad", DATA / "medquad/queries.jsonl", DATA / "medquad/qrels/dev.tsv"),
    "consumer": (
        DATA / "medquad",
        ROOT / "bench/data/medquad-consumer/queries.jsonl",
        ROOT / "bench/data/medquad-consumer/qrels/dev.tsv",
    ),
}  # fmt: skip
NF_SAMPLE = 800  # NFCorpus train has 2,590 judged queries; a fixed sample keeps the run short
CACHE = Path.home() / ".cache" / "bot" / "ranker-features"
BASELINES = ("bm25", "dense", "hybrid", "final")


def extract(name: str) -> dict[str, object]:
    """Per query: features of its candidates, their document ids, and each baseline's ranked rows."""
    corpus, queries_path, qrels_path = SETS[name]
    qrels = load_qrels(qrels_path)
    queries = {q: t for q, t in load_queries(queries_path).items() if q in qrels}
    if name == "nfcorpus" and len(queries) > NF_SAMPLE:
        keep = sorted(random.Random(0).sample(sorted(queries), NF_SAMPLE))
        queries = {q: queries[q] for q in keep}
    out: dict[str, object] = {"qrels": qrels, "queries": {}}
    with prepared_index(Settings(), corpus) as (settings, _stats):
        engine = Engine.load(settings, verify=False)
        searcher, index = engine.searcher, engine.index
        for qid, text in queries.items():
            cands = searcher.candidates(text)
            docs = [index.doc_ids[d] for d in index.doc_of_row[cands.rows].tolist()]
            base = {m: searcher.rank(cands, m)[0].tolist() for m in BASELINES}
            pos = {int(r): i for i, r in enumerate(cands.rows.tolist())}
            out["queries"][qid] = {  # type: ignore[index]
                "x": searcher.features(cands).tolist(),
                "docs": docs,
                "base": {m: [pos[r] for r in rows] for m, rows in base.items()},
            }
        index.close()
    return out


def load(name: str, *, refresh: bool = False) -> dict[str, object]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.json"
    if path.exists() and not refresh:
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    data = extract(name)
    path.write_text(json.dumps(data))
    print(f"{name}: features of {len(data['queries'])} queries in {time.perf_counter() - t0:.0f} s", flush=True)  # type: ignore[arg-type]
    return data


def ranked_docs(docs: list[str], order: list[int], depth: int = 100) -> list[str]:
    seen: dict[str, None] = {}
    for i in order:
        seen.setdefault(docs[i], None)
        if len(seen) >= depth:
            break
    return list(seen)


def ndcg(data: dict[str, object], weights: np.ndarray | None = None, method: str = "final") -> float:
    runs = {}
    for qid, q in data["queries"].items():  # type: ignore[attr-defined]
        if weights is None:
            order = q["base"][method]
        else:
            score = np.asarray(q["x"], dtype=np.float32) @ weights
            order = np.argsort(-score, kind="stable").tolist()
        runs[qid] = ranked_docs(q["docs"], order)
    qrels = {q: data["qrels"][q] for q in data["queries"]}  # type: ignore[index,attr-defined]
    return score_runs(qrels, runs, ("ndcg@10",))["ndcg@10"]


def pairs(data: dict[str, object], *, negatives: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = random.Random(seed)
    diffs = []
    for qid, q in data["queries"].items():  # type: ignore[attr-defined]
        rel = data["qrels"][qid]  # type: ignore[index]
        x = np.asarray(q["x"], dtype=np.float32)
        good = [i for i, d in enumerate(q["docs"]) if rel.get(d, 0) > 0]
        bad = [i for i, d in enumerate(q["docs"]) if rel.get(d, 0) <= 0]
        if not good or not bad:
            continue
        hard = [i for i in q["base"]["final"] if i in set(bad)][:negatives]  # the ones that outrank today
        for g in good[:5]:
            for b in hard + rng.sample(bad, min(5, len(bad))):
                diffs.append(x[g] - x[b])
    d = np.asarray(diffs, dtype=np.float32)
    return d, np.ones(len(d))


def fit(sets: list[dict[str, object]], *, c: float = 1.0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    xs, ws = [], []
    for data in sets:
        d, _ = pairs(data)
        xs.append(d)
        ws.append(np.full(len(d), 1.0 / max(len(d), 1)))
    x = np.concatenate([np.concatenate(xs), -np.concatenate(xs)])
    y = np.concatenate([np.ones(sum(len(a) for a in xs)), np.zeros(sum(len(a) for a in xs))])
    w = np.concatenate([np.concatenate(ws)] * 2)
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000)
    model.fit(x, y, sample_weight=w * len(w) / w.sum())
    coef = model.coef_[0].astype(np.float64)
    return coef / coef[FEATURES.index("dense")] if coef[FEATURES.index("dense")] > 0 else coef


class Fast:
    """nDCG@10 (linear gain, max-passage) of many weight vectors over one data set, in numpy."""

    def __init__(self, data: dict[str, object]) -> None:
        self.items = []
        for qid, q in data["queries"].items():  # type: ignore[attr-defined]
            rel = data["qrels"][qid]  # type: ignore[index]
            ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:10]
            idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
            if idcg <= 0:
                continue
            docs = q["docs"]
            ids = {d: i for i, d in enumerate(dict.fromkeys(docs))}
            self.items.append(
                (
                    np.asarray(q["x"], dtype=np.float32),
                    np.array([ids[d] for d in docs]),
                    np.array([rel.get(d, 0) for d in ids], dtype=np.float32),
                    idcg,
                )
            )
        self.n = len(data["qrels"])  # type: ignore[arg-type]

    def ndcg(self, w: np.ndarray) -> float:
        total = 0.0
        discount = 1.0 / np.log2(np.arange(2, 12))
        for x, doc, gain, idcg in self.items:
            order = np.argsort(-(x @ w), kind="stable")
            _, first = np.unique(doc[order], return_index=True)
            top = doc[order][np.sort(first)][:10]
            total += float((gain[top] * discount[: len(top)]).sum()) / idcg
        return total / max(self.n, 1)


FINAL = np.array([1.0, 0.0, 0.3, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
BOUND = 1.0  # every weight stays within [-BOUND, BOUND] (dense is 1): no feature may outweigh meaning
# A question type alone says nothing of the topic: a "Treatment" section of a page about another disease
# must not outrank the passage that answers, so the type counts fully only with the focus (`focus_type`).
BOUNDS = {"type_match": 0.3, "type_other": 0.3}
LOSS_PRICE = 5.0


def ascend(sets: list[Fast], *, rounds: int = 5, start: np.ndarray = FINAL) -> np.ndarray:
    """Coordinate ascent on the mean nDCG@10 of `sets` (each counts equally, and a loss against "final" on
    any of them costs LOSS_PRICE times over), from the "final" weights; the dense weight stays 1 (the scale)."""
    w = start.astype(np.float64).copy()

    floor = [f.ndcg(FINAL) for f in sets]

    def objective(v: np.ndarray) -> float:
        # the mean over the sets, less a heavy price for doing worse than "final" on any one of them
        scores = [f.ndcg(v) for f in sets]
        return float(np.mean(scores) - LOSS_PRICE * sum(max(0.0, b - a) for a, b in zip(scores, floor, strict=True)))

    best = objective(w)
    for step in [0.4, 0.2, 0.1, 0.05, 0.02][:rounds]:
        for i in range(1, len(w)):
            for delta in (-2 * step, -step, step, 2 * step):
                v = w.copy()
                bound = BOUNDS.get(FEATURES[i], BOUND)
                v[i] = min(bound, max(-bound, v[i] + delta))
                val = objective(v)
                if val > best + 1e-5:
                    best, w = val, v
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-write", action="store_true", help="print the tables, do not write bot/data/ranker.json")
    ap.add_argument("--refresh", action="store_true", help="recompute the cached features")
    ap.add_argument("--sets", default="scifact,nfcorpus,medquad,consumer")
    ap.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength (--how logistic)")
    ap.add_argument("--how", choices=("ascent", "logistic"), default="ascent", help="how to fit the weights")
    args = ap.parse_args()
    names = args.sets.split(",")
    data = {n: load(n, refresh=args.refresh) for n in names}
    train_names = [n for n in names if n != "consumer"]  # the consumer rewrites only check

    print("\n| data set | " + " | ".join(BASELINES) + " | learned (all) | learned (leave this set out) |")
    print("| --- " * (len(BASELINES) + 3) + "|")
    fast = {n: Fast(data[n]) for n in names}
    train = ascend if args.how == "ascent" else (lambda sets: fit(sets, c=args.c))
    full = train([fast[n] if args.how == "ascent" else data[n] for n in train_names])
    for n in names:
        base = [ndcg(data[n], method=m) for m in BASELINES]
        others = [m for m in train_names if m != n and not (n == "consumer" and m == "medquad")]
        held = train([fast[m] if args.how == "ascent" else data[m] for m in others]) if others else None
        lodo = ndcg(data[n], held) if held is not None else float("nan")
        print(f"| {n} | " + " | ".join(f"{v:.4f}" for v in base) + f" | {ndcg(data[n], full):.4f} | {lodo:.4f} |")
    print("\nweights (dense = 1):", dict(zip(FEATURES, np.round(full, 4).tolist(), strict=True)))
    if not args.no_write:
        meta = {
            "trained_on": train_names,
            "date": time.strftime("%Y-%m-%d"),
            "how": (
                "coordinate ascent on mean nDCG@10, no loss against final on any set"
                if args.how == "ascent"
                else f"pairwise logistic regression on feature differences, C={args.c}"
            )
            + ", bench/train_ranker.py",
        }
        (ROOT / "bot/data/ranker.json").write_text(to_json(full.tolist(), meta))
        print("wrote bot/data/ranker.json")


if __name__ == "__main__":
    main()
