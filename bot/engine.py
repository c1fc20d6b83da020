"""The answer engine every channel shares: a loaded index, the model, and `ask()`.

`EngineHolder` keeps one engine live and swaps in a rebuilt index when `current` points elsewhere (with
BOT_VECTOR_STORE=milvus: when the Milvus alias does), after the new one is fully loaded; requests in flight
finish on the engine they started with.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from . import quote_rank
from .answer import AnswerPolicy, build_answer
from .config import Settings
from .documents import Answer
from .drugs import drug_names
from .embedding import load_embedder
from .index import Index, IndexError_, IndexMismatch, load_index, resolve_build
from .ranker import load_bundled
from .search import Searcher

log = logging.getLogger(__name__)


class QuestionError(ValueError):
    """A question the bot will not take (empty, too long, unreadable)."""


def clean_question(question: str, *, max_chars: int) -> str:
    """Collapse whitespace and check limits; raise `QuestionError` with a message for the user."""
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in question):
        raise QuestionError("The question contains control characters.")
    if any(unicodedata.category(ch) == "Cs" for ch in question):
        raise QuestionError("The question is not valid Unicode text (it contains lone surrogates).")
    text = " ".join(question.split())
    if not text:
        raise QuestionError("The question is empty.")
    if len(text) > max_chars:
        raise QuestionError(f"The question is too long ({len(text)} characters; the limit is {max_chars}).")
    return text


NO_KIND_MESSAGE = "Tick at least one kind of source to quote from."


def check_kinds(kinds: list[str] | None, known: list[str]) -> list[str] | None:
    """Normalised kind filters (None: every kind); raise `QuestionError` naming the known kinds for one the
    index lacks, and for an empty list (no kind chosen is not every kind)."""
    if kinds is None:
        return None
    if not kinds:
        raise QuestionError(NO_KIND_MESSAGE)
    wanted = list(dict.fromkeys(str(k).strip().lower().replace(" ", "_") for k in kinds))
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise QuestionError(
            f"Unknown source kind {', '.join(repr(k[:40]) for k in unknown[:5])}; this index has: {', '.join(known)}."
        )
    return wanted


class Engine:
    def __init__(self, settings: Settings, index: Index) -> None:
        self.settings = settings
        self.index = index
        embedder = load_embedder(
            settings.model, device=settings.device, backend=settings.backend, cache_dir=settings.cache_dir
        )
        if embedder.dim != index.vectors.d:
            raise IndexMismatch(
                f"index at {index.path} holds {index.vectors.d}-dimensional vectors but model {settings.model!r} "
                f"makes {embedder.dim}-dimensional ones: rebuild with `bot index --model {settings.model}`"
            )
        dense_store = None
        if settings.vector_store == "milvus":  # the dense side in this build's Milvus collection, checked
            from .milvus_store import open_dense

            dense_store = open_dense(settings, index)
        self.searcher = Searcher(
            index, embedder, candidates=settings.candidates, ranker_file=settings.ranker_file, dense_store=dense_store
        )
        if settings.ranking == "learned":
            self.searcher.ranker  # noqa: B018 - a damaged ranker file is an error at load, not at the first question
        # so are the other files the answers read: the drug names and the order of abstract quotes
        drug_names()
        load_bundled(quote_rank.FILE, quote_rank.FEATURES)
        self.policy = AnswerPolicy(
            method=settings.ranking,
            top_k=settings.top_k,
            max_bullets=settings.max_bullets,
            max_bullets_per_section=settings.max_bullets_per_section,
            min_score=settings.min_score,
        )

    @classmethod
    def load(cls, settings: Settings, *, verify: bool = True) -> Engine:
        root = settings.index
        if settings.vector_store == "milvus":  # replicas serve the build the Milvus alias names
            from .milvus_store import live_build

            root = live_build(settings)
        return cls(settings, load_index(root, model=settings.model, verify=verify))

    def ask(self, question: str, *, kinds: list[str] | None = None) -> Answer:
        t0 = time.perf_counter()
        question = clean_question(question, max_chars=self.settings.max_question_chars)
        kinds = check_kinds(kinds, self.index.kind_names)
        answer = build_answer(question, self.searcher, self.policy, kinds=kinds)
        answer.took_ms = round((time.perf_counter() - t0) * 1000, 2)
        return answer

    def info(self) -> dict[str, Any]:
        m = self.index.manifest
        return {
            "documents": m["counts"]["documents"],
            "chunks": m["counts"]["chunks"],
            "model": m["model"],
            "dimension": m["dimension"],
            "built_at": m["built_at"],
            "kinds": m.get("kinds", {}),
            "build": self.index.path.name,
        }


RETRY_FAILED_S = 30.0  # how long a build that failed to load waits before it is tried again


class EngineHolder:
    """Holds the live engine; `maybe_reload()` swaps in a newer build once it has loaded completely."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._build: Path | None = None
        self._lock = threading.Lock()
        self.error: str | None = None
        self.last_check = 0.0
        self._alias_error: str | None = None
        self._failed: tuple[Path, float] | None = None  # a build that did not load, and when

    @property
    def engine(self) -> Engine | None:
        return self._engine

    def load(self) -> Engine:
        with self._lock:
            return self.adopt(Engine.load(self.settings))

    def adopt(self, engine: Engine) -> Engine:
        """Serve `engine`, loaded elsewhere (`bot serve` loads it before it starts the server)."""
        self._engine, self._build, self.error = engine, engine.index.path, None
        return engine

    def maybe_reload(self, *, min_interval: float = 1.0) -> bool:
        """Load the build `current` points at (the Milvus alias names), if it changed. Returns True when a new
        engine went live."""
        now = time.monotonic()
        if now - self.last_check < min_interval:
            return False
        self.last_check = now
        build = self._alias_build() if self.settings.vector_store == "milvus" else resolve_build(self.settings.index)
        if build is None or build == self._build:
            return False
        if self._failed is not None and self._failed[0] == build and now - self._failed[1] < RETRY_FAILED_S:
            return False  # a build that failed to load is tried again now and then, not every second
        if not self._lock.acquire(blocking=False):
            return False
        try:
            engine = Engine.load(self.settings)
        except Exception as exc:
            self.error = str(exc)
            log.error("new index at %s not loaded, still serving %s: %s", build, self._build, exc)
            # retried later: a build copied in file by file (rsync) may be complete at the next try
            self._failed = (build, now)
            return False
        finally:
            self._lock.release()
        old = self._engine
        self._engine, self._build, self.error, self._failed = engine, engine.index.path, None, None
        log.info("now serving index %s (%s chunks)", engine.index.path.name, engine.index.size)
        if old is not None:
            timer = threading.Timer(30.0, old.index.close)  # requests in flight finish on the old index
            timer.daemon = True
            timer.start()
        return True

    def _alias_build(self) -> Path | None:
        """The build the Milvus alias names; None (and `error` set, logged once) while that cannot be told."""
        from .milvus_store import live_build

        try:
            build = live_build(self.settings)
        except IndexError_ as exc:  # Milvus unreachable, or the alias names a build this replica lacks
            if str(exc) != self.error:
                log.error("cannot tell which build to serve, still serving %s: %s", self._build, exc)
            self.error = self._alias_error = str(exc)
            return None
        if self._alias_error is not None and self.error == self._alias_error:
            self.error = None  # Milvus answers again
        self._alias_error = None
        return build
