"""Train the learned order of an abstract's quotes (bot/quote_rank.py) on SciFact train and check it by
cross-validation.

    python bench/train_quote_ranker.py             # pools, 5-fold CV table, fit on all claims, write the file
    python bench/train_quote_ranker.py --no-write  # the CV table only

Data (read from ../shared/data, never copied): the SciFact train claims that have gold rationale sentences
(505), indexed exactly as `bot eval --evidence` indexes SciFact. For every claim the answer path builds its
candidate pool (`bot.answer.build_answer` with the learned order switched off, so the hand-tuned scores are
the model's input, and the abstention switched off, so declined claims train too); a candidate is positive
when it lands on a gold rationale sentence (`bot.qa_eval.lands_on_rationale`). The model is a listwise
softmax over each pool (cross-entropy against the positives, L2 `--lam`, L-BFGS), on standardised features,
folded back into one weight per raw feature (`bias` absorbs the means) and written to
bot/data/quote_ranker.json with its sha256 (`bot.ranker.to_json`).

The CV table scores each held-out fold as the answer does (claims the bot declines count as misses): the
quotes are the pool's best six by the model, near-duplicates left out, in that order.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bot.answer as answer  # noqa: E402
from bot import quote_rank  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine import Engine, clean_question  # noqa: E402
from bot.evaluate import load_qrels, prepared_index  # noqa: E402
from bot.qa_eval import lands_on_rationale, load_claims, load_sentences  # noqa: E402
from bot.ranker import to_json  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "beir-scifact"
OUT = ROOT / "bot" / "data" / quote_rank.FILE
LAM = 30.0
FOLDS = 5


def pools() -> list[dict[str, Any]]:
    """Per claim: whether the bot answers it, its pool's features, words and landing labels."""
    claims = load_claims(DATA / "queries.jsonl", judged=set(load_qrels(DATA / "qrels/train.tsv")))
    spans = load_sentences(DATA / "sentences.jsonl")
    captured: dict[str, list[Any]] = {}
    original = (answer.choose, answer.answer_confidence, answer.learned_order)

    def capture(pool: list[Any], policy: Any, floor: float = answer.RELATIVE_FLOOR) -> list[Any]:
        captured["pool"] = list(pool)
        return original[0](pool, policy, floor)

    def hand_tuned(
        pool: list[Any], limit: int = 6
    ) -> tuple[list[Any], bool]:  # today's order: what the model starts from
        return [c for c in pool if c.in_chunk < answer.MAX_QUOTES_PER_CHUNK], False

    out = []
    with prepared_index(Settings(), DATA, progress=False) as (settings, _stats):
        engine = Engine.load(settings, verify=False)
        policy = dataclasses.replace(engine.policy)
        try:
            for claim in claims:
                question = clean_question(claim.text, max_chars=max(len(claim.text), 1))
                cands = engine.searcher.candidates(question)
                answer.choose, answer.answer_confidence = original[:2]
                answer.learned_order = hand_tuned
                answered = answer.build_answer(question, engine.searcher, policy, cands=cands).answered
                captured.clear()
                answer.choose = capture  # type: ignore[assignment]
                answer.answer_confidence = lambda _c: 1.0
                answer.learned_order = lambda p, limit=6: (p, False)  # every candidate, with its hand-tuned score
                answer.build_answer(question, engine.searcher, policy, cands=cands)
                pool = captured.get("pool", [])
                if not pool or any(c.features is None for c in pool):
                    out.append({"id": claim.id, "answered": answered, "x": None})
                    continue
                x = quote_rank.pool_features(
                    np.stack([c.features for c in pool]), [c.score for c in pool], [c.chunk.id for c in pool]
                )
                y = np.array([lands_on_rationale(c.doc_id, c.start, c.end, claim, spans) for c in pool], dtype=bool)
                out.append(
                    {
                        "id": claim.id,
                        "answered": answered,
                        "x": x,
                        "y": y,
                        "words": [c.words for c in pool],
                        "doc": [c.doc_id for c in pool],
                    }
                )
        finally:
            answer.choose, answer.answer_confidence, answer.learned_order = original
    return out


def select(words: list[frozenset[str]], docs: list[str], z: np.ndarray, k: int = 6) -> list[int]:
    """The answer's quotes by model score z, as `bot.answer.learned_order` and `choose` pick them: greedy by
    z less SAME_SOURCE_PENALTY per quote already taken from the same abstract, no near-duplicate, at most k."""
    chosen: list[int] = []
    count: dict[str, int] = {}
    left = list(range(len(z)))
    while left and len(chosen) < k:
        adjusted = [z[i] - answer.SAME_SOURCE_PENALTY * count.get(docs[i], 0) for i in left]
        j = left.pop(int(np.argmax(adjusted)))
        if any(answer._jaccard(words[j], words[c]) >= answer.DUPLICATE_JACCARD for c in chosen):
            continue
        chosen.append(j)
        count[docs[j]] = count.get(docs[j], 0) + 1
    return chosen


def score(rows: list[dict[str, Any]], weights: np.ndarray | None) -> dict[str, float]:
    """any / first / precision / quotes per answer over `rows` (declined or empty: a miss)."""
    first = hits = quotes = answered = landing = 0
    for r in rows:
        if not r["answered"] or r["x"] is None:
            continue
        if weights is None:  # today's order: the hand-tuned score, no same-source penalty
            chosen = select(r["words"], list(range(len(r["y"]))), r["x"][:, quote_rank.INDEX["score"]])
        else:
            chosen = select(r["words"], r["doc"], r["x"] @ weights)
        answered += 1
        quotes += len(chosen)
        first += bool(r["y"][chosen[0]])
        hits += bool(r["y"][chosen].any())
        landing += int(r["y"][chosen].sum())
    n = max(len(rows), 1)
    return {
        "first": first / n,
        "any": hits / n,
        "precision": landing / max(quotes, 1),
        "quotes_per_answer": quotes / max(answered, 1),
    }


def fit(rows: list[dict[str, Any]], lam: float = LAM) -> np.ndarray:
    """Listwise softmax weights over the raw features (standardised for the fit, folded back)."""
    train = [r for r in rows if r["x"] is not None and r["y"].any()]
    every = np.concatenate([r["x"] for r in train])
    mu, sd = every.mean(0), every.std(0) + 1e-6
    bias = quote_rank.INDEX["bias"]
    mu[bias], sd[bias] = 0.0, 1.0
    xs = [(r["x"] - mu) / sd for r in train]
    targets = [r["y"] / r["y"].sum() for r in train]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, t in zip(xs, targets, strict=True):
            s = x @ w
            s -= s.max()
            p = np.exp(s)
            p /= p.sum()
            total -= float((t * np.log(p + 1e-12)).sum())
            grad -= x.T @ (t - p)
        reg = w.copy()
        reg[bias] = 0.0
        return total + lam * float(reg @ reg), grad + 2 * lam * reg

    w = minimize(loss, np.zeros(len(mu)), jac=True, method="L-BFGS-B").x
    raw = w / sd
    raw[bias] = -float((w * mu / sd).sum())  # a constant: no effect on the order, kept for the record
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the CV table only")
    parser.add_argument("--lam", type=float, default=LAM, help="L2 weight (standardised features)")
    args = parser.parse_args()
    t0 = time.time()
    rows = pools()
    print(f"{len(rows)} claims, pools in {time.time() - t0:.0f}s")
    perm = np.random.default_rng(0).permutation(len(rows))
    folds = [perm[i::FOLDS].tolist() for i in range(FOLDS)]
    held: dict[str, float] = {}
    for f in range(FOLDS):
        test = [rows[i] for i in folds[f]]
        w = fit([rows[i] for g in range(FOLDS) if g != f for i in folds[g]], args.lam)
        for k, v in score(test, w).items():
            held[k] = held.get(k, 0.0) + v * len(test) / len(rows)
    today = score(rows, None)
    for name, m in (("today's order, same pools", today), (f"learned, {FOLDS}-fold CV by claim", held)):
        print(f"{name:34s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
    if args.no_write:
        return
    weights = fit(rows, args.lam)
    meta = {
        "trained_on": ["scifact train (505 claims with rationales)"],
        "date": time.strftime("%Y-%m-%d"),
        "how": f"bench/train_quote_ranker.py: listwise softmax over each answer's pool, L2 {args.lam:g}",
        "cv": {k: round(v, 4) for k, v in held.items()},
    }
    OUT.write_text(to_json(weights.tolist(), meta, quote_rank.FEATURES), encoding="utf-8")
    print(
        f"wrote {OUT.relative_to(ROOT)}: "
        + json.dumps(dict(zip(quote_rank.FEATURES, np.round(weights, 3).tolist(), strict=True)))
    )


if __name__ == "__main__":
    main()
