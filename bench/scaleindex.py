"""A large index for the latency benchmark, built by the real `build_index` from real chunks.

Documents come from the shared corpora (BEIR corpus.jsonl files and the evidence folder), in a fixed
order. When they hold fewer chunks than asked for, copies of documents are added under new ids
(`<id>~copy<k>`), so every chunk text is still real. Vectors: the real model's, from the shared vector
cache (~/.cache/bot, filled by `bot index` / `bot eval` runs) or embedded now with the real model;
with `generate=True`, a text not in the cache gets a generated vector instead (a cached real vector of
another chunk plus noise, cosine about 0.9 to it), so the index has realistic geometry without hours
of embedding. The counts of each are reported; the search, fusion and answer code is the real code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.build import build_index
from bot.cache import VectorCache
from bot.chunking import chunk_document, content_hash, embed_text
from bot.documents import Document
from bot.ingest import load_corpus

MODEL = "all-MiniLM-L6-v2"
DIM = 384


def default_corpora(shared: Path) -> list[Path]:
    names = ["beir-scifact", "beir-nfcorpus", "medquad", "pubmedqa"]
    found = [shared / n / "corpus.jsonl" for n in names if (shared / n / "corpus.jsonl").is_file()]
    if (shared / "evidence").is_dir():
        found.append(shared / "evidence")
    return found


def scale_documents(corpora: list[Path], target_chunks: int, *, chunk_size: int = 800) -> tuple[list[Document], int]:
    """Documents holding at least `target_chunks` chunks (copies added when needed) and the real chunk count."""
    docs: list[Document] = []
    sizes: list[int] = []
    for corpus in corpora:
        for doc in load_corpus(corpus).documents:
            docs.append(doc)
            sizes.append(len(chunk_document(doc, size=chunk_size)))
            if sum(sizes) >= target_chunks:
                return docs, sum(sizes)
    real = sum(sizes)
    if real == 0:
        raise SystemExit(f"no documents in {corpora}")
    out, total, k = list(docs), real, 0
    while total < target_chunks:
        k += 1
        for doc, n in zip(docs, sizes, strict=True):
            copy = Document(f"{doc.id}~copy{k}", doc.title, doc.text, doc.kind, doc.url, doc.date, doc.source,
                            list(doc.sections), doc.cites_inline)  # fmt: skip
            out.append(copy)
            total += n
            if total >= target_chunks:
                break
    return out, real


@dataclass
class CachedEmbedder:
    """Real vectors from the shared cache; misses embedded with the real model, or generated when asked."""

    cache_root: Path | None
    generate: bool = False
    name: str = MODEL
    dim: int = DIM
    counts: dict[str, int] = field(default_factory=lambda: {"cached": 0, "embedded": 0, "generated": 0})
    _pool: np.ndarray | None = None

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        hashes = [content_hash(t) for t in texts]
        store = VectorCache(self.cache_root, MODEL, DIM) if self.cache_root else None
        found = store.get(hashes) if store else {}
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        missing = [i for i, h in enumerate(hashes) if h not in found]
        for i, h in enumerate(hashes):
            if h in found:
                out[i] = found[h]
        self.counts["cached"] += len(texts) - len(missing)
        if missing and self.generate:
            pool = self._pool if self._pool is not None else np.stack(list(found.values())[:5000] or [np.ones(DIM)])
            self._pool = pool
            for i in missing:
                seed = int(hashlib.sha256(texts[i].encode()).hexdigest()[:12], 16)
                rng = np.random.default_rng(seed)
                v = pool[seed % len(pool)] + rng.normal(0, 0.5 / np.sqrt(DIM), DIM)
                out[i] = v / np.linalg.norm(v)
            self.counts["generated"] += len(missing)
        elif missing:
            from bot.embedding import load_embedder

            model = load_embedder(MODEL, cache_dir=self.cache_root)
            fresh = model.encode([texts[i] for i in missing], batch_size=batch_size, progress=progress)
            out[missing] = fresh
            if store is not None:  # real vectors only: they help every later run
                store.put({hashes[i]: fresh[j] for j, i in enumerate(missing)})
            self.counts["embedded"] += len(missing)
        if store is not None:
            store.close()
        return out


def build_scale_index(
    root: Path, corpora: list[Path], target_chunks: int, *, cache_root: Path | None, generate: bool, **kw: Any
) -> dict[str, Any]:
    docs, real_chunks = scale_documents(corpora, target_chunks)
    embedder = CachedEmbedder(cache_root, generate=generate)
    stats = build_index(docs, root, embedder, model=MODEL, chunk_size=800, chunk_overlap=1, progress=False,
                        cache_dir=None, **kw)  # fmt: skip
    return {
        "documents": len(docs),
        "copied_documents": sum(1 for d in docs if "~copy" in d.id),
        "chunks": stats.chunks,
        "real_chunks_before_copies": real_chunks,
        "distinct_texts_vectorised": sum(embedder.counts.values()),
        "vectors": dict(embedder.counts),
        "build_s": round(stats.seconds, 1),
        "up_to_date": stats.up_to_date,
        "path": stats.path,
    }


def chunk_texts(docs: list[Document], *, chunk_size: int = 800) -> list[str]:
    return [embed_text(d, c) for d in docs for c in chunk_document(d, size=chunk_size)]
