"""Selection (and checks) for the MedQuAD consumer-style dev set in this folder.

The 60 rewritten questions in queries.jsonl were written by hand, one by one, after reading each gold
answer; this script only fixes WHICH dev questions were rewritten, writes the qrels, and checks the files.

    python3 make.py            # print the 60 selected dev questions (id, qtype, source, focus, question)
    python3 make.py --qrels    # write qrels/dev.tsv (c-<query id> -> the original question's relevant doc)
    python3 make.py --check    # validate queries.jsonl + qrels/dev.tsv against the selection and the corpus

Selection: the 500 MedQuAD dev questions (../../../../shared/data/medquad, or $MEDQUAD) are grouped by
`qtype`; each qtype gets the fixed quota in QUOTA (roughly proportional, at least 1-2 for the small
types, 60 in all). Within a qtype the ids are put in sorted order and shuffled by one
`random.Random(12)` (qtypes visited in QUOTA order), questions whose gold answer text occurs verbatim
on another corpus doc are skipped (a hit on the twin would be scored a miss), and the quota is filled
round-robin over sources (sources in order of first appearance in the shuffled list) so that the small
sources are not crowded out by GARD/GHR.
"""

from __future__ import annotations

import collections
import json
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEDQUAD = Path(os.environ.get("MEDQUAD", HERE.parents[3] / "shared" / "data" / "medquad"))
SEED = 12
QUOTA = {
    "information": 13,
    "symptoms": 10,
    "treatment": 9,
    "inheritance": 4,
    "genetic changes": 4,
    "frequency": 3,
    "exams and tests": 3,
    "causes": 3,
    "susceptibility": 2,
    "outlook": 2,
    "prevention": 2,
    "research": 2,
    "considerations": 2,
    "complications": 1,
}


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_qrels(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    return rows[1:] if rows and rows[0][0] == "query-id" else rows


def load() -> tuple[list[dict], dict[str, str], dict[str, dict]]:
    queries = read_jsonl(MEDQUAD / "queries.jsonl")
    gold = {}
    for qid, did, _score in read_qrels(MEDQUAD / "qrels" / "dev.tsv"):
        assert qid not in gold, f"{qid} has more than one qrel"
        gold[qid] = did
    corpus = {d["_id"]: d for d in read_jsonl(MEDQUAD / "corpus.jsonl")}
    return queries, gold, corpus


def select(queries: list[dict], gold: dict[str, str], corpus: dict[str, dict]) -> list[dict]:
    texts = collections.Counter(d["text"] for d in corpus.values())
    by_type: dict[str, list[dict]] = collections.defaultdict(list)
    for q in queries:
        by_type[q["metadata"]["qtype"]].append(q)
    rng = random.Random(SEED)
    chosen: list[dict] = []
    for qtype, quota in QUOTA.items():
        pool = sorted(by_type[qtype], key=lambda q: q["_id"])
        rng.shuffle(pool)
        pool = [q for q in pool if texts[corpus[gold[q["_id"]]]["text"]] == 1]
        queues: dict[str, list[dict]] = {}
        for q in pool:
            queues.setdefault(q["metadata"]["source"], []).append(q)
        picked: list[dict] = []
        while len(picked) < quota and any(queues.values()):
            for queue in queues.values():
                if queue and len(picked) < quota:
                    picked.append(queue.pop(0))
        assert len(picked) == quota, (qtype, len(picked), quota)
        chosen.extend(picked)
    return chosen


def main(argv: list[str]) -> int:
    queries, gold, corpus = load()
    chosen = select(queries, gold, corpus)
    if "--qrels" in argv:
        out = HERE / "qrels" / "dev.tsv"
        out.parent.mkdir(exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for q in chosen:
                fh.write(f"c-{q['_id']}\t{gold[q['_id']]}\t1\n")
        print(f"wrote {out} ({len(chosen)} judgments)")
        return 0
    if "--check" in argv:
        return check(chosen, gold, corpus)
    for q in chosen:
        doc = corpus[gold[q["_id"]]]
        print(f"{q['_id']}\t{q['metadata']['qtype']}\t{q['metadata']['source']}\t{doc['title']}\t{q['text']}")
    return 0


def check(chosen: list[dict], gold: dict[str, str], corpus: dict[str, dict]) -> int:
    errors: list[str] = []
    want = {f"c-{q['_id']}": q for q in chosen}
    lines = (HERE / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    rows = []
    for n, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            errors.append(f"queries.jsonl:{n}: not JSON ({exc})")
    ids = [r["_id"] for r in rows]
    if len(lines) != 60 or len(set(ids)) != 60:
        errors.append(f"queries.jsonl: {len(lines)} lines, {len(set(ids))} distinct ids (want 60)")
    if set(ids) != set(want):
        errors.append(
            f"ids differ from the selection: extra {sorted(set(ids) - set(want))}, "
            f"missing {sorted(set(want) - set(ids))}"
        )
    for r in rows:
        q = want.get(r["_id"])
        if q is None:
            continue
        doc = corpus[gold[q["_id"]]]
        meta = r.get("metadata", {})
        expect = {"original": q["text"], "qtype": q["metadata"]["qtype"], "focus": doc["title"]}
        if meta != expect:
            errors.append(f"{r['_id']}: metadata {meta} != {expect}")
        words = len(r["text"].split())
        if not 15 <= words <= 80:
            errors.append(f"{r['_id']}: {words} words (want 15-80)")
        if r["text"].strip() == q["text"].strip():
            errors.append(f"{r['_id']}: text is the original question")
    qrels = read_qrels(HERE / "qrels" / "dev.tsv")
    per_query = collections.Counter(qid for qid, _d, _s in qrels)
    for qid, did, score in qrels:
        if did not in corpus:
            errors.append(f"qrels: {did} is not in the corpus")
        if qid not in want:
            errors.append(f"qrels: {qid} is not a selected query")
        elif did != gold[want[qid]["_id"]] or score != "1":
            errors.append(f"qrels: {qid} -> {did} {score}, want {gold[want[qid]['_id']]} 1")
    for qid in want:
        if per_query[qid] != 1:
            errors.append(f"qrels: {qid} has {per_query[qid]} rows (want 1)")
    for e in errors:
        print(e)
    types = collections.Counter(r.get("metadata", {}).get("qtype") for r in rows)
    sources = collections.Counter(q["metadata"]["source"] for q in chosen)
    print(f"{len(rows)} queries, {len(qrels)} qrels; by qtype {dict(types)}; by source {dict(sources)}")
    print("OK" if not errors else f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
