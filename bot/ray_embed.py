"""`bot index --ray`: the chunk embedding of a build, spread over a Ray cluster with Ray Data.

The driver (the `bot index` process) reads and chunks the corpus and writes the index exactly as a
single-machine build does; only the texts that need vectors (not in the vector cache nor in the previous
build) are sent. They go through one Ray Data job: `map_batches` over a fixed pool of actors, each holding
one embedder from `load_embedder` (ONNX Runtime where available, as on one machine) whose session runs as
many threads as the CPUs Ray gave the actor. Actors are sized to the nodes: each takes the CPUs of the
smallest node with any, and the pool holds as many as the nodes' CPUs fit (one per node on a cluster of
equal machines). An actor whose process dies (a lost node, the OOM killer) is restarted by Ray and its
batches retried: Ray Data's actor pools restart actors and retry their tasks by default, with no limit. An
error raised by the embedding itself is not retried: the job fails, and `build_index` swaps nothing in.

Every node must run the same installation (the bot with its `ray` extra and the model package), so that the
actors load the same model the driver would. Ray is imported only when a build uses it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .build import BuildError
from .embedding import HASH_MODEL_RE, load_embedder, resolve_model
from .onnx import EncodeStats, default_cache_root, inspect_model

log = logging.getLogger(__name__)

ROWS_PER_BATCH = 512  # texts per actor call: long enough that the call's overhead does not count
BATCHES_PER_ACTOR = 4  # at least this many batches per actor, so a small job still spreads evenly
ACTOR_START_S = 600  # how long the whole pool may take to start before the build fails


class RayBuildError(BuildError):
    """The Ray cluster cannot be reached or the embedding job failed; the current index is unchanged."""


@dataclass(frozen=True)
class WorkerSpec:
    """What each actor needs to load the embedder the driver would load on one machine."""

    model: str
    backend: str = "auto"
    cache_dir: str | None = None  # where the node keeps the ONNX export (the node's default when unusable)


class EmbedWorker:
    """A Ray Data actor: one embedder (one ONNX Runtime session) using the `threads` CPUs Ray gave it."""

    def __init__(self, spec: WorkerSpec, threads: int, batch_size: int = 32) -> None:
        os.environ["RAYON_NUM_THREADS"] = str(threads)  # the tokenizer's thread pool, before it starts
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # an export's or torch's loading bars
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import ray

        self.batch_size = batch_size
        self.embedder = load_embedder(spec.model, backend=spec.backend, cache_dir=_node_cache(spec.cache_dir))
        if hasattr(self.embedder, "threads"):  # the ONNX embedder: its bulk session, created on first use
            self.embedder.threads = threads
        elif hasattr(self.embedder, "model"):  # torch
            import torch

            torch.set_num_threads(threads)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        vectors = self.embedder.encode(texts, batch_size=self.batch_size, progress=False)
        last = getattr(self.embedder, "last", None)
        tokens = np.zeros(len(texts), dtype=np.int64)  # the call's totals, on its first row (sums are exact)
        computed = np.zeros(len(texts), dtype=np.int64)
        if last is not None and texts:
            tokens[0], computed[0] = last.tokens, last.computed
        return {
            "row": np.asarray(batch["row"], dtype=np.int64),
            "vector": np.ascontiguousarray(vectors, dtype=np.float32),
            "tokens": tokens,
            "computed": computed,
            "node": np.array([self.node] * len(texts), dtype=object),
        }


def _model_dim(name: str) -> int | None:
    """The vector size of a hashing model or of a transformer + mean pooling model, read without loading it."""
    m = HASH_MODEL_RE.match(name)
    if m:
        return int(m.group(1) or 256)
    try:
        return inspect_model(Path(resolve_model(name))).hidden_size or None
    except Exception:  # another pipeline, a model name to download, no model package: load it to know
        return None


def _check_reachable(address: str, *, timeout: float = 5.0) -> None:
    """Fail at once when nothing listens at a `host:port` address (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # `auto`: Ray finds the cluster of this machine, or says it has none
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise RayBuildError(f"cannot reach the Ray cluster at {address!r}: {why}") from None


def _node_cache(path: str | None) -> Path | None:
    """The cache folder the driver named when this node can use it, else this node's own default."""
    if path is None:
        return None
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path) if os.access(path, os.W_OK) else default_cache_root()
    except OSError:
        return default_cache_root()


@dataclass
class RayEmbedder:
    """An embedder for `build_index` whose vectors are computed on a Ray cluster.

    `encode_stream` embeds every slice `build_index` hands it in one Ray Data job and yields each slice's
    vectors in order as soon as they are all back, so the build's progress bar and vector cache advance as
    on one machine. Connects on first use; `close` disconnects (when it connected).
    """

    address: str
    model: str
    backend: str = "auto"
    cache_dir: Path | None = None
    cpus_per_actor: int | None = None  # default: the CPUs of the smallest node that has any
    rows_per_batch: int = ROWS_PER_BATCH
    worker: type = EmbedWorker  # the actor class (a subclass of EmbedWorker)
    name: str = field(init=False)
    last: EncodeStats = field(init=False, default_factory=EncodeStats)  # tokens of the last slice yielded
    nodes: dict[str, int] = field(init=False, default_factory=dict)  # node id -> texts it embedded (last job)
    _dim: int | None = field(init=False, default=None)
    _connected: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.name = self.model

    @property
    def dim(self) -> int:
        """The model's dimension (when no previous build recorded it): from its configuration where the
        pipeline is transformer + mean pooling, else from the model loaded here once."""
        if self._dim is None:
            self._dim = _model_dim(self.model) or int(
                load_embedder(self.model, backend=self.backend, cache_dir=self.cache_dir).dim
            )
        return self._dim

    def connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise RayBuildError(
                "Ray is not installed: pip install -e '.[ray]' (on every node of the cluster)"
            ) from None
        if ray.is_initialized():
            return
        _check_reachable(self.address)
        try:
            ray.init(address=self.address, logging_level=logging.WARNING, configure_logging=False)
        except Exception as exc:  # ConnectionError, a bad address, a version mismatch …
            if self.address == "auto" and isinstance(exc, ConnectionError):
                raise RayBuildError(
                    "no Ray cluster runs on this machine: start one (`ray start --head`) or give the address of "
                    "one (--ray HOST:PORT)"
                ) from None
            raise RayBuildError(f"cannot connect to the Ray cluster at {self.address!r}: {exc}") from None
        self._connected = True

    def close(self) -> None:
        if self._connected:
            import ray

            ray.shutdown()
            self._connected = False

    def pool(self) -> tuple[int, int]:
        """(CPUs per actor, actors): actors as large as the smallest node, as many as the nodes hold."""
        import ray

        cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
        cpus = [c for c in cpus if c > 0]
        if not cpus:
            raise RayBuildError(f"the Ray cluster at {self.address!r} has no node with a CPU")
        size = max(1, self.cpus_per_actor or min(cpus))
        actors = sum(c // size for c in cpus)
        if actors == 0:
            raise RayBuildError(f"no node of the Ray cluster has {size} CPUs for one embedding actor")
        return size, actors

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        (vectors,) = self.encode_stream([texts], batch_size=batch_size)
        return vectors

    def encode_stream(self, slices: list[list[str]], *, batch_size: int = 32) -> Iterator[np.ndarray]:
        """The vectors of each slice of texts, in order, from one Ray Data job over all of them."""
        sizes = [len(s) for s in slices]
        starts = np.cumsum([0, *sizes])
        total = int(starts[-1])
        if total == 0:
            for n in sizes:
                yield np.zeros((n, self.dim), dtype=np.float32)
            return
        dim = self.dim
        self.connect()
        try:
            yield from self._stream(slices, dim, batch_size=batch_size)
        finally:
            self.close()

    def _stream(self, slices: list[list[str]], dim: int, *, batch_size: int) -> Iterator[np.ndarray]:
        sizes = [len(s) for s in slices]
        starts = np.cumsum([0, *sizes])
        total = int(starts[-1])
        ds, actors = self._dataset([t for s in slices for t in s], batch_size=batch_size)
        log.info("embedding %d chunks on the Ray cluster at %s with %d actors", total, self.address, actors)
        self.nodes = {}
        pending: dict[int, np.ndarray] = {}
        filled = [0] * len(slices)
        tokens = computed = 0
        done = 0
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                rows, vectors = batch["row"], batch["vector"]
                if len(rows) and vectors.shape[1] != dim:
                    raise RayBuildError(f"a Ray worker's model gives {vectors.shape[1]} dimensions, not {dim}")
                tokens += int(batch["tokens"].sum())
                computed += int(batch["computed"].sum())
                for node in batch["node"]:
                    self.nodes[str(node)] = self.nodes.get(str(node), 0) + 1
                which = np.searchsorted(starts, rows, side="right") - 1
                for k in np.unique(which).tolist():
                    sel = which == k
                    if k not in pending:
                        pending[k] = np.zeros((sizes[k], dim), dtype=np.float32)
                    pending[k][rows[sel] - starts[k]] = vectors[sel]
                    filled[k] += int(sel.sum())
                while done < len(slices) and filled[done] == sizes[done]:
                    self.last = EncodeStats(texts=sizes[done], tokens=tokens, computed=computed)
                    tokens = computed = 0
                    yield pending.pop(done) if sizes[done] else np.zeros((0, dim), dtype=np.float32)
                    done += 1
        except RayBuildError:
            raise
        except Exception as exc:
            import ray.exceptions

            if not isinstance(exc, ray.exceptions.RayError) and type(exc).__module__.split(".")[0] != "ray":
                raise
            raise RayBuildError(f"the embedding job on Ray failed: {_reason(exc)}") from exc
        if done < len(slices):
            raise RayBuildError(f"the embedding job on Ray returned {sum(filled)} of {total} vectors")
        log.info("embedded %d chunks on %d Ray nodes", total, len(self.nodes))

    def _dataset(self, texts: list[str], *, batch_size: int) -> tuple[Any, int]:
        """The Ray Data job: blocks of texts, mapped by a fixed pool of embedding actors."""
        import pyarrow as pa
        import ray.data
        from ray.data import ActorPoolStrategy, DataContext

        size, actors = self.pool()
        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False  # the build's own bar counts the chunks
        ctx.print_on_execution_start = False
        for name in ("ray.data", "ray.data._internal.progress"):  # its "execution finished" notes, its note
            logging.getLogger(name).setLevel(logging.WARNING if name == "ray.data" else logging.ERROR)  # on bars
        ctx.wait_for_min_actors_s = ACTOR_START_S  # every actor ready before work is handed out
        rows = max(1, min(self.rows_per_batch, math.ceil(len(texts) / (actors * BATCHES_PER_ACTOR))))
        ids = np.arange(len(texts), dtype=np.int64)
        blocks = [
            pa.table({"row": ids[i : i + rows], "text": pa.array(texts[i : i + rows], type=pa.large_string())})
            for i in range(0, len(texts), rows)
        ]
        actors = min(actors, len(blocks))  # a few texts (an incremental build): no idle actors to start
        spec = WorkerSpec(
            self.model, self.backend, str(self.cache_dir.expanduser().resolve()) if self.cache_dir else None
        )
        ds = ray.data.from_arrow(blocks).map_batches(
            self.worker,
            batch_size=rows,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=actors),
            num_cpus=size,
            fn_constructor_kwargs={"spec": spec, "threads": size, "batch_size": batch_size},
        )
        return ds, actors


def _reason(exc: BaseException) -> str:
    """What went wrong on the cluster: the worker's own error (`RuntimeError: …`) that Ray's error carries as
    text, else the first line of Ray's message."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"^(?!ray\.)[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\w*: .+$", text, re.MULTILINE)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = found.group(0) if found else lines[0] if lines else type(exc).__name__
    return reason[:300]
