"""ONNX Runtime sentence embedder, exported locally (offline) from the installed model's own weights.

The sentence-transformers pipeline (transformer, mean pooling, L2 normalisation) is exported once with
`torch.onnx.export`, fused with ONNX Runtime's BERT optimizer where the architecture allows, checked
against sentence-transformers on probe texts (cosine >= 0.9999), and stored in the cache directory under
a key of the weights, the export recipe and the onnxruntime version. Later processes load it without
torch: a query embeds in a few milliseconds instead of tens.

Documents are batched length-exactly: texts are tokenised once, sorted by length and run in groups of
equal length, so no padding token is ever computed and the result equals encoding each text alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the export recipe changes: old exports are then ignored
FUSABLE_TYPES = {"bert"}  # architectures ONNX Runtime's transformer optimizer fuses (attention, layer norm)
MIN_COSINE = 0.9999
PROBES = [
    "How is calcinosis cutis treated in dermatomyositis?",
    "Metformin is the first-line pharmacologic treatment for type 2 diabetes.",
    "Randomised controlled trials showed no significant difference in mortality between the two arms "
    "(hazard ratio 0.97; 95% CI 0.85-1.10), although adverse events were more frequent with the drug.",
    "x",
]


class OnnxUnavailable(RuntimeError):
    """The ONNX path cannot be used for this model here; the caller falls back to torch."""


@dataclass(frozen=True)
class ModelSpec:
    """A sentence-transformers model directory whose pipeline the export reproduces exactly."""

    path: Path
    transformer: Path  # directory of the Hugging Face transformer (config.json, weights, tokenizer.json)
    model_type: str
    hidden_size: int
    num_heads: int
    max_seq_length: int
    normalize: bool


@dataclass
class EncodeStats:
    """What the last `encode` call computed: texts, useful tokens, tokens run (useful + padding), calls."""

    texts: int = 0
    tokens: int = 0
    computed: int = 0
    calls: int = 0
    tokenize_s: float = 0.0
    run_s: float = 0.0

    @property
    def padding(self) -> float:
        return 1.0 - self.tokens / self.computed if self.computed else 0.0


def inspect_model(path: Path) -> ModelSpec:
    """Read a local sentence-transformers directory; raise `OnnxUnavailable` unless it is transformer +
    mean pooling (+ normalise), the pipeline the export reproduces."""
    try:
        modules = json.loads((path / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise OnnxUnavailable(f"{path} is not a local sentence-transformers model ({exc})") from None
    types = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if types not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise OnnxUnavailable(f"unsupported module pipeline {types}")
    transformer = path / str(modules[0].get("path", ""))
    pooling = json.loads((path / str(modules[1]["path"]) / "config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise OnnxUnavailable(f"unsupported pooling {modes}")
    config = json.loads((transformer / "config.json").read_text())
    st_config_file = path / "sentence_bert_config.json"
    st_config = json.loads(st_config_file.read_text()) if st_config_file.is_file() else {}
    if not (transformer / "tokenizer.json").is_file():
        raise OnnxUnavailable(f"no fast tokenizer (tokenizer.json) in {transformer}")
    max_len = int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
    return ModelSpec(
        path=path,
        transformer=transformer,
        model_type=str(config.get("model_type", "")),
        hidden_size=int(config.get("hidden_size", 0)),
        num_heads=int(config.get("num_attention_heads", 0)),
        max_seq_length=min(max_len, int(config.get("max_position_embeddings", max_len))),
        normalize=types[-1] == "Normalize",
    )


def export_key(spec: ModelSpec) -> str:
    """Changes whenever the weights, the tokenizer, the configuration, the recipe or onnxruntime change."""
    import onnxruntime

    h = hashlib.sha256(f"v{EXPORT_VERSION}|ort {onnxruntime.__version__}|{spec}".encode())
    for f in sorted(spec.path.rglob("*")):
        if not f.is_file() or f.name.startswith("."):
            continue
        h.update(str(f.relative_to(spec.path)).encode())
        if f.stat().st_size <= 4 << 20:
            h.update(f.read_bytes())
        else:  # the weights: size and modification time, not 90 MB of hashing on every start
            st = f.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def onnx_path(cache_root: Path, name: str, spec: ModelSpec) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-60:] or "model"
    return cache_root / "onnx" / f"{safe}-{export_key(spec)}.onnx"


def export(spec: ModelSpec, dest: Path) -> Path:
    """Export the model to `dest` (atomically), fuse it, and check it against sentence-transformers."""
    import torch
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(spec.path), device="cpu")
    model: Any = reference[0].auto_model
    try:  # eager attention exports the pattern ONNX Runtime's optimizer fuses into one Attention op
        model.set_attn_implementation("eager")
    except Exception:
        model.config._attn_implementation = "eager"

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module, normalize: bool) -> None:
            super().__init__()
            self.inner = inner
            self.normalize = normalize

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            vec = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(vec, p=2.0, dim=1) if self.normalize else vec

    wrapper = Pooled(model, spec.normalize).eval()  # eval(): no dropout in the traced graph
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        dummy = torch.ones((2, 8), dtype=torch.long)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes fixed at export; the dynamic axes hold
            torch.onnx.export(
                wrapper,
                (dummy, dummy),
                str(raw),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )  # fmt: skip
        final = Path(tmp) / "model.onnx"
        if spec.model_type in FUSABLE_TYPES and spec.num_heads and spec.hidden_size:
            from onnxruntime.transformers import optimizer

            logging.getLogger("onnx_model").setLevel(logging.WARNING)
            fused = optimizer.optimize_model(
                str(raw), model_type=spec.model_type, num_heads=spec.num_heads, hidden_size=spec.hidden_size
            )
            fused.save_model_to_file(str(final))
        else:
            os.replace(raw, final)
        embedder = OnnxEmbedder(final, spec, name=str(spec.path))
        want = reference.encode(
            PROBES, normalize_embeddings=spec.normalize, convert_to_numpy=True, show_progress_bar=False
        )
        for got in (embedder.encode(PROBES), embedder.run_padded(PROBES)):
            cos = _cosines(np.asarray(want), got)
            if cos.min() < MIN_COSINE:
                raise OnnxUnavailable(f"exported model differs from sentence-transformers (cosine {cos.min():.6f})")
        os.replace(final, dest)
    return dest


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(1))


class OnnxEmbedder:
    """Sentence vectors from an exported model with ONNX Runtime: thread-safe, no torch."""

    def __init__(self, model_file: Path, spec: ModelSpec, *, name: str, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise OnnxUnavailable(f"onnxruntime is not installed ({exc}): pip install -e '.[fast]'") from None
        self.name = name
        self.spec = spec
        self.file = model_file
        self.threads = threads
        self._ort = ort
        self.session = self._new_session(1)  # one query: one thread is fastest, and leaves cores to others
        self._bulk: Any = None
        self.tokenizer = Tokenizer.from_file(str(spec.transformer / "tokenizer.json"))
        self.tokenizer.enable_truncation(spec.max_seq_length)
        self.tokenizer.no_padding()
        self.dim = int(self.session.get_outputs()[0].shape[-1] or spec.hidden_size)
        self.last = EncodeStats()
        self._lock = threading.Lock()

    def _new_session(self, threads: int) -> Any:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per physical core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self._ort.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])

    def _bulk_session(self) -> Any:
        """A second session using every core, for batches of documents (created on first use)."""
        with self._lock:
            if self._bulk is None:
                self._bulk = self._new_session(self.threads or 0)
            return self._bulk

    def _run(self, ids: np.ndarray, mask: np.ndarray, *, bulk: bool = False) -> np.ndarray:
        session = self._bulk_session() if bulk else self.session
        return np.asarray(session.run(None, {"input_ids": ids, "attention_mask": mask})[0], dtype=np.float32)

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, row i for texts[i]. Equal-length groups: zero padding."""
        stats = EncodeStats(texts=len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            self.last = stats
            return out
        t0 = time.perf_counter()
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        stats.tokenize_s = time.perf_counter() - t0
        budget = max(1, batch_size) * 256  # tokens per run: big enough to keep the matrix units busy
        groups = list(_equal_length_groups(lengths, budget))
        bulk = int(lengths.sum()) > 512  # more than a few queries' worth: use every core
        bar = _bar(len(groups), progress and len(texts) >= 200)
        t1 = time.perf_counter()
        for group in groups:
            batch = np.stack([ids[i] for i in group])
            out[group] = self._run(batch, np.ones_like(batch), bulk=bulk)
            stats.calls += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        stats.run_s = time.perf_counter() - t1
        stats.tokens = stats.computed = int(lengths.sum())
        self.last = stats
        return out

    def run_padded(self, texts: list[str]) -> np.ndarray:
        """One padded batch, as sentence-transformers runs it (used to check the attention mask)."""
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return self._run(ids, mask)

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        return np.array([len(e.ids) for e in self.tokenizer.encode_batch(texts)], dtype=np.int64)


def _equal_length_groups(lengths: np.ndarray, budget: int) -> Any:
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < len(order):
        size = int(lengths[order[i]])
        take = max(1, budget // max(size, 1))
        j = i
        while j < len(order) and j - i < take and lengths[order[j]] == size:
            j += 1
        yield order[i:j]
        i = j


def _bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="embedding", unit="batch")


_EXPORT_LOCK = threading.Lock()


def default_cache_root() -> Path | None:
    """BOT_CACHE_DIR when set (None when it is off), else ~/.cache/bot, as the settings default."""
    value = os.environ.get("BOT_CACHE_DIR")
    if value is None:
        return Path.home() / ".cache" / "bot"
    if value.strip().lower() in {"", "off", "none", "0", "false"}:
        return None
    return Path(value)


def load_onnx_embedder(
    name: str, model_path: str, *, cache_dir: Path | None = None, threads: int | None = None
) -> OnnxEmbedder:
    """The ONNX embedder for a local sentence-transformers model, exporting it on first use.

    With no cache directory the export goes to a temporary directory for this process only.
    Raises `OnnxUnavailable` when the model or this installation cannot take the ONNX path.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime is not installed ({exc})") from None
    path = Path(model_path)
    if not path.is_dir():
        raise OnnxUnavailable(f"{model_path} is not a local model directory")
    spec = inspect_model(path)
    root = cache_dir if cache_dir is not None else Path(tempfile.mkdtemp(prefix="bot-onnx-"))
    target = onnx_path(root, name, spec)
    with _EXPORT_LOCK:
        if not target.is_file():
            t0 = time.perf_counter()
            log.info("exporting %s to ONNX at %s (once)", name, target)
            try:
                export(spec, target)
            except OnnxUnavailable:
                raise
            except Exception as exc:  # no onnx package, an unsupported op, a read-only cache …
                raise OnnxUnavailable(f"ONNX export of {name} failed: {type(exc).__name__}: {exc}") from None
            log.info("exported %s in %.1fs", name, time.perf_counter() - t0)
    try:
        return OnnxEmbedder(target, spec, name=name, threads=threads)
    except OnnxUnavailable:
        raise
    except Exception as exc:  # a damaged file: drop it so the next start exports again
        target.unlink(missing_ok=True)
        raise OnnxUnavailable(f"cannot load {target}: {exc}") from None
