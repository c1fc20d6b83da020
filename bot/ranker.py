"""The learned ranking ("learned"): a linear model over a handful of features of each candidate chunk,
trained offline (`bench/train_ranker.py`) on the training splits the project has and shipped as a plain
JSON file (`bot/data/ranker.json`, never a pickle). Loading checks the file's shape and its digest: a
damaged or hand-edited file is a clear `RankerError`, never a silently different ranking.

Features (one row per candidate; see `features`):
- `dense`: the chunk's cosine similarity to the question;
- `bm25`, `bm25_doc`: the chunk's and its whole document's BM25 score, each over the best candidate's;
- `short`: the short-chunk penalty (a chunk under 400 characters is embedded mostly as its title);
- `rrf_dense`, `rrf_bm25`: 60 / (60 + rank) in each retriever's list (0 when absent);
- `focus`: the chunk's document is titled with the question's focus ("fifth disease", bot/focus.py);
- `type_match`, `type_other`: the chunk (its section heading, or the question its document answers) asks
  one of the question's types (treatment, symptoms…), or only other types;
- `focus_type`: both `focus` and `type_match` (the passage about this condition that answers this kind
  of question: MedQuAD's answers are one per condition and type).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

FEATURES: tuple[str, ...] = (
    "dense",
    "bm25",
    "bm25_doc",
    "short",
    "rrf_dense",
    "rrf_bm25",
    "focus",
    "type_match",
    "type_other",
    "focus_type",
)
FORMAT = 1
RRF_K = 60.0


class RankerError(RuntimeError):
    """The ranker file is missing, malformed, for other features, or damaged (digest differs)."""


@dataclass(frozen=True)
class Ranker:
    weights: np.ndarray  # one per FEATURES name, in that order
    meta: dict[str, Any]  # what it was trained on and how (kept from the file)

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32) @ self.weights


def digest(features: list[str], weights: list[float]) -> str:
    """The sha256 that a ranker file carries over its feature names and weights (canonical JSON)."""
    body = json.dumps({"features": features, "weights": weights}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def to_json(weights: list[float], meta: dict[str, Any], features: tuple[str, ...] = FEATURES) -> str:
    names = list(features)
    weights = [round(float(w), 6) for w in weights]
    obj = {"format": FORMAT, "features": names, "weights": weights, "sha256": digest(names, weights), "meta": meta}
    return json.dumps(obj, indent=2) + "\n"


def parse(text: str, where: str, features: tuple[str, ...] = FEATURES) -> Ranker:
    """A ranker over `features` from the text of its file; `RankerError` naming `where` and what is wrong."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RankerError(f"ranker file {where} is not valid JSON ({exc}): reinstall the bot") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise RankerError(f"ranker file {where} is not a format-{FORMAT} ranker: reinstall the bot")
    names, weights, sha = obj.get("features"), obj.get("weights"), obj.get("sha256")
    if names != list(features):
        raise RankerError(f"ranker file {where} has features {names!r}, this bot computes {list(features)!r}")
    if (
        not isinstance(weights, list)
        or len(weights) != len(features)
        or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights)
    ):
        raise RankerError(f"ranker file {where} needs {len(features)} finite weights: reinstall the bot")
    if sha != digest(names, weights):
        raise RankerError(f"ranker file {where} is damaged (digest differs): reinstall the bot")
    meta = obj.get("meta")
    return Ranker(np.array(weights, dtype=np.float32), meta if isinstance(meta, dict) else {})


def load_ranker(path: Path | None = None) -> Ranker:
    """The ranker at `path`, or the one shipped with the bot."""
    if path is None:
        return _bundled()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RankerError(f"cannot read ranker file {path}: {exc.strerror or exc}") from None
    return parse(text, str(path))


def _bundled() -> Ranker:
    return load_bundled("ranker.json", FEATURES)


@lru_cache(maxsize=4)
def load_bundled(name: str, features: tuple[str, ...]) -> Ranker:
    """The model file `name` shipped in bot/data, over `features` (checked as `parse` does)."""
    res = files("bot").joinpath("data", name)
    try:
        text = res.read_text(encoding="utf-8")
    except OSError as exc:
        raise RankerError(f"the bundled ranker file {name} is missing ({exc}): reinstall the bot") from None
    return parse(text, f"bot/data/{name}", features)


def reciprocal(ranks: np.ndarray) -> np.ndarray:
    """RRF_K / (RRF_K + rank), 0 for a candidate the retriever did not return (rank inf)."""
    return np.where(np.isfinite(ranks), RRF_K / (RRF_K + np.where(np.isfinite(ranks), ranks, 0.0)), 0.0)
