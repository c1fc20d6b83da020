"""Compatibility name for `bot.sources` (the corpus readers)."""

from __future__ import annotations

from .sources import CorpusError, LoadReport, Problem, iter_files, kind_sections, load_corpus, make_document

__all__ = ["CorpusError", "LoadReport", "Problem", "iter_files", "kind_sections", "load_corpus", "make_document"]
