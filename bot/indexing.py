"""Building the index of the configured corpora: what `bot index`, `bot serve --build` and `bot eval` run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import Settings

log = logging.getLogger("bot")


def do_index(
    settings: Settings, *, progress: bool = True, force: bool = False, say: Callable[[str], None] | None = None
) -> Any:
    """Build (or incrementally update) the index of `settings.corpora` at `settings.index`, as `bot index`
    does: read the corpora, skip what cannot be indexed (logged, and kept among the build's problems), embed on
    this machine or a Ray cluster, publish to Milvus where that is the vector store (`say` gets its summary
    line; the log, without). Returns the build's stats."""
    from .build import build_index, indexable
    from .embedding import load_embedder
    from .ingest import load_corpus

    corpora = settings.corpora
    report = load_corpus(corpora if len(corpora) > 1 else corpora[0])
    report.documents, skipped = indexable(report.documents)  # a title only, or no searchable word: skipped too
    for problem in skipped:
        log.warning("skipped %s: %s", problem.path, problem.reason)
    report.problems.extend(skipped)
    if not report.documents:
        from .build import BuildError

        where = ", ".join(str(c) for c in corpora)
        raise BuildError(f"no readable documents in {where} ({len(report.problems)} problems)")
    embedder: Any = lambda: load_embedder(  # noqa: E731  (loaded only when something must be embedded)
        settings.model, device=settings.device, backend=settings.backend, cache_dir=settings.cache_dir
    )
    if settings.ray_address:  # the chunks are embedded on a Ray cluster (bot/ray_embed.py)
        from .ray_embed import RayEmbedder

        embedder = RayEmbedder(
            settings.ray_address, settings.model, backend=settings.backend, cache_dir=settings.cache_dir
        )
    if settings.vector_store == "milvus":  # Milvus must answer before anything is built
        from .milvus_store import client_of

        client_of(settings)
    stats = build_index(
        report.documents,
        settings.index,
        embedder,
        model=settings.model,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        batch_size=settings.batch_size,
        progress=progress,
        force=force,
        problems=report.problems,
        cache_dir=settings.cache_dir,
        vector_index=settings.vector_index,
        hnsw_threshold=settings.hnsw_threshold,
    )
    if settings.vector_store == "milvus":  # the build's vectors into Milvus, then the replicas' alias onto them
        from .milvus_store import publish_settings

        (say or log.info)(publish_settings(Path(stats.path), settings).summary())
    return stats
