"""BM25 over chunks (bm25s, English Snowball stemmer, English stop words), saved as plain .npy/.json."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
K1, B = 1.5, 0.75


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def folded(text: str) -> str:
    """`text` lower-cased with its letters' accents dropped: "opioid-naïve" is searched as a question types
    it, "opioid-naive"; "Sjögren" as "Sjogren"."""
    text = text.lower()
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """Lower-cased, accent-free, stop-word-free, stemmed word tokens."""
    stop = _stopwords()
    words = [w for w in TOKEN_RE.findall(folded(text)) if w not in stop]
    return list(_stemmer().stemWords(words))


def has_words(text: str) -> bool:
    """Whether `tokenize(text)` gives any token (a word of two or more letters or digits that is no stop
    word), found without stemming the whole text: a text of only punctuation or stop words has none."""
    stop = _stopwords()
    return any(m.group() not in stop for m in TOKEN_RE.finditer(text.lower()))


def empty_scores(n_docs: int, dtype: str = "float32") -> dict:  # type: ignore[type-arg]
    """bm25s's score matrix (CSC: a column per word) of `n_docs` rows and no word at all."""
    return {
        "data": np.zeros(0, dtype=dtype),
        "indices": np.zeros(0, dtype=np.int32),
        "indptr": np.zeros(1, dtype=np.int64),
        "num_docs": n_docs,
    }


def index_into(retriever, ids, vocab: dict[str, int], n_docs: int) -> None:  # type: ignore[no-untyped-def]
    """`retriever.index` the token ids `ids` of `n_docs` rows. bm25s cannot index an empty vocabulary (no row,
    or rows of only punctuation and stop words): it fails on `max()` of an empty sequence, or divides by a
    mean length of 0. Such an index is built here as bm25s would lay it out: `n_docs` rows, no word, so
    every query finds nothing (`Lexical.scores` is None)."""
    import bm25s

    if not vocab:
        retriever.build_index_from_ids = lambda **_: empty_scores(n_docs, retriever.dtype)
        retriever.nonoccurrence_array = None
    retriever.index(
        bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), create_empty_token=bool(vocab), show_progress=False
    )


class Lexical:
    """A BM25 index whose document numbers are the chunk rows of the vector index."""

    def __init__(self, retriever, vocab: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
        self.retriever = retriever
        self.vocab = vocab
        self.size = int(retriever.scores["num_docs"])
        self._idf: dict[str, float] | None = None

    @classmethod
    def build(cls, texts: list[str]) -> Lexical:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in tokenize(text)] for text in texts]
        retriever = bm25s.BM25(k1=K1, b=B)
        index_into(retriever, ids, vocab, len(texts))
        return cls(retriever, vocab)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(path), show_progress=False)
        (path / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Lexical:
        import bm25s

        # memory-mapped: a server reads the pages its queries touch, not the whole matrix at start; held as plain
        # arrays over the mapping (numpy's memmap subclass costs a little on every slice of every query)
        retriever = bm25s.BM25.load(str(path), mmap=True, load_corpus=False)
        for key in ("data", "indices", "indptr"):
            retriever.scores[key] = np.asarray(retriever.scores[key])
        vocab = json.loads((path / "vocab.json").read_text())
        return cls(retriever, vocab)

    def query_ids(self, text: str) -> list[int]:
        return [self.vocab[t] for t in dict.fromkeys(tokenize(text)) if t in self.vocab]

    def scores(self, text: str) -> np.ndarray | None:
        """The BM25 score of every row for a query (None when no query word is in the vocabulary)."""
        ids = self.query_ids(text)
        if not ids or self.size == 0:
            return None
        return np.asarray(self.retriever.get_scores(ids), dtype=np.float32)

    def search(self, text: str, k: int, *, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `k` (rows, scores) for a query; rows with score 0 are dropped."""
        scores = self.scores(text)
        if scores is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if mask is not None:
            scores = scores * mask
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)

    def rows_with(self, token: str) -> np.ndarray:
        """The rows whose text holds a stemmed token (empty when the token is unknown)."""
        i = self.vocab.get(token)
        if i is None:
            return np.zeros(0, dtype=np.int64)
        indptr = self.retriever.scores["indptr"]
        return np.asarray(self.retriever.scores["indices"][indptr[i] : indptr[i + 1]], dtype=np.int64)

    def idf(self, token: str) -> float:
        """Inverse document frequency of a stemmed token (0 when unknown)."""
        if self._idf is None:
            indptr = np.asarray(self.retriever.scores["indptr"])
            df = np.diff(indptr)
            n = max(self.size, 1)
            inv = {i: t for t, i in self.vocab.items()}
            self._idf = {inv[i]: float(np.log(1 + (n - d + 0.5) / (d + 0.5))) for i, d in enumerate(df) if i in inv}
        return self._idf.get(token, 0.0)
