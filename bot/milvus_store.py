"""Chunk vectors in Milvus, shared by stateless `bot serve` replicas (`BOT_VECTOR_STORE=milvus`).

`bot index` publishes each build's vectors into a collection of its own (named for the build and its
manifest digest), and only when every row is readable switches one collection **alias**
(`BOT_MILVUS_COLLECTION`) onto it: the Milvus way to swap an index atomically. Replicas follow the alias:
their watcher loads the local build the alias names (`EngineHolder`), and a build's `Searcher` searches
that build's own collection by name, so the vectors and the chunk store a replica pairs are always of one
build, also while replicas switch one after another. Collections the alias has left are dropped by a later
`bot index` once `BOT_MILVUS_GRACE_S` has passed (a replica that has not switched yet still reads its own).

Row ids are the local chunk rows, so the chunk store, BM25 and answers work unchanged. Every collection
records the build it holds (build name, manifest digest, model, dimension, rows) in its properties; a
searcher checks them against its local index before its first query, and any difference is one clear
error, never answers from the wrong vectors.

The same code serves Milvus Lite (a local `*.db` path: embedded, one machine, tests) and a Milvus server
(`http://host:19530`). pymilvus is imported only when Milvus is used.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .index import MANIFEST, MANIFEST_DIGEST, IndexError_, IndexMismatch, IndexMissing, read_manifest

if TYPE_CHECKING:
    from .config import Settings
    from .index import Index

log = logging.getLogger(__name__)

INSERT_ROWS = 2000  # rows per insert request: 2000 x 384 floats is ~3 MB, far under gRPC's 64 MB
VARCHAR_MAX = 65_535  # Milvus's longest VARCHAR (bytes)
SECTION_MAX = 1024  # a section path longer than this is cut (it is shown, never filtered on)
READY_TIMEOUT_S = 120.0  # how long a publish waits for every row to be readable before it gives up
UNFINISHED_DROP_S = 3600.0  # a collection left half-written this long ago (a killed publish) is dropped
LOCAL_SUFFIX = ".db"  # pymilvus starts Milvus Lite for a local path ending in .db
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
# what replicas read with: bounded staleness costs no wait per query (Strong waits for the next time tick);
# a publish switches the alias only once a read at this level sees every row
READ_CONSISTENCY = "Bounded"

P_BUILD = "bot.build"
P_DIGEST = "bot.manifest_sha256"
P_MODEL = "bot.model"
P_DIM = "bot.dimension"
P_ROWS = "bot.rows"
P_STATE = "bot.state"  # "loading" while rows are written, "ready" once every row is readable
P_CREATED = "bot.created_at"
P_RETIRED = "bot.retired_at"  # when the alias left this collection (the grace period runs from here)


class MilvusError(IndexError_):
    """Milvus cannot be used as configured; the message says what to do."""


class CollectionFacts(BaseModel):
    """What a published collection says it holds (its properties, read back from Milvus)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    build: str
    digest: str
    model: str
    dimension: int
    rows: int
    state: str
    created_at: float = 0.0
    retired_at: float | None = None

    @field_validator("retired_at", mode="before")
    @classmethod
    def _live(cls, value: object) -> object:
        return None if value in ("", None) else value  # "": the alias came back to it (a rollback)

    @classmethod
    def of(cls, properties: dict[str, Any]) -> CollectionFacts:
        keys = {P_BUILD: "build", P_DIGEST: "digest", P_MODEL: "model", P_DIM: "dimension", P_ROWS: "rows",
                P_STATE: "state", P_CREATED: "created_at", P_RETIRED: "retired_at"}  # fmt: skip
        return cls.model_validate({name: properties[key] for key, name in keys.items() if key in properties})


@dataclass(frozen=True)
class BuildId:
    """The facts a collection must match to serve a local build."""

    build: str  # the build directory's name
    digest: str  # sha256 of its manifest.json
    model: str
    dimension: int
    rows: int

    @classmethod
    def of(cls, build: Path) -> BuildId:
        manifest = read_manifest(build)  # checks the digest too
        return cls(
            build=build.name,
            digest=(build / MANIFEST_DIGEST).read_text().strip(),
            model=str(manifest["model"]),
            dimension=int(manifest["dimension"]),
            rows=int(manifest["counts"]["chunks"]),
        )

    def describe(self) -> str:
        return f"build {self.build} (manifest {self.digest[:12]}, {self.dimension} dimensions, {self.rows} rows)"


@dataclass
class Published:
    """What one publish did."""

    collection: str
    alias: str
    rows: int
    seconds: float
    created: bool  # False: the alias already named this build's collection
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = (
            f"published {self.rows} vectors to Milvus collection {self.collection} in {self.seconds:.1f}s"
            if self.created
            else f"Milvus collection {self.collection} is up to date"
        )
        gone = f"; dropped {len(self.dropped)} old collection(s)" if self.dropped else ""
        return f"{what}; alias {self.alias} -> it{gone}"


def milvus_uri(settings: Settings) -> str:
    """`BOT_MILVUS_URI`, or the Milvus Lite file `BOT_DATA_DIR/milvus.db` when unset."""
    return settings.milvus_uri or str(settings.data_dir / "milvus.db")


_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def connect(uri: str, token: str = "") -> Any:
    """One `MilvusClient` per URI and token in this process (thread-safe; replicas share it across requests)."""
    local = not uri.startswith(SERVER_SCHEMES)
    if local and not uri.endswith(LOCAL_SUFFIX):
        raise MilvusError(
            f"BOT_MILVUS_URI {uri!r} is neither a server URL (http://host:19530) nor a Milvus Lite file ending in .db"
        )
    key = (str(Path(uri).resolve()) if local else uri, token)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            return client
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise MilvusError(
                "BOT_VECTOR_STORE=milvus needs pymilvus and milvus-lite: pip install -e '.[milvus]'"
            ) from None
        # every failure is reported here in one line: pymilvus's own log of each failed call (a traceback)
        # and Milvus Lite's of a file it cannot open would only repeat it
        logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)
        lite_log = logging.getLogger("milvus_lite.server_manager")
        quiet = _Quiet()
        lite_log.addFilter(quiet)
        try:
            if local:
                Path(key[0]).parent.mkdir(parents=True, exist_ok=True)
            client = MilvusClient(uri=key[0], token=token, timeout=30)
        except Exception as exc:
            if local and _locked(Path(key[0])):
                raise MilvusError(
                    f"Milvus Lite file {uri} is open in another process (a running `bot serve` or `bot index`?): a "
                    f".db file serves one process; for several, run `milvus-lite server --data-dir {uri} --port "
                    f"19530` and set BOT_MILVUS_URI=http://127.0.0.1:19530"
                ) from None
            raise MilvusError(f"cannot connect to Milvus at {uri}: {_reason(exc)}") from None
        finally:
            lite_log.removeFilter(quiet)
        _CLIENTS[key] = client
        return client


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def _locked(data_dir: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on `data_dir`."""
    import fcntl

    try:
        with open(data_dir / "LOCK", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def client_of(settings: Settings) -> Any:
    token = settings.milvus_token.get_secret_value() if settings.milvus_token is not None else ""
    return connect(milvus_uri(settings), token)


def collection_name(alias: str, build: BuildId) -> str:
    """The collection of one build: the alias, the build's name and its manifest digest (Milvus names hold
    letters, digits and underscores only)."""
    return f"{alias}__{re.sub(r'[^A-Za-z0-9_]', '_', build.build)}_{build.digest[:12]}"


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())


def _missing(exc: BaseException) -> bool:
    text = _reason(exc).lower()
    return "not exist" in text or "not found" in text or "can't find" in text


def facts_of(client: Any, name: str) -> CollectionFacts | None:
    """The properties of collection `name`; None when it does not exist or is not one of ours."""
    try:
        if not client.has_collection(name):  # (describing a missing one makes pymilvus log an error)
            return None
        described = client.describe_collection(name)
    except Exception as exc:
        if _missing(exc):
            return None
        raise MilvusError(f"Milvus cannot describe collection {name}: {_reason(exc)}") from None
    try:
        return CollectionFacts.of(dict(described.get("properties") or {}))
    except ValidationError:
        return None


def alias_target(client: Any, alias: str) -> str | None:
    """The collection `alias` points at; None when there is no such alias."""
    try:
        if alias not in client.list_aliases().get("aliases", []):
            return None
        return str(client.describe_alias(alias)["collection_name"])
    except Exception as exc:
        if _missing(exc):
            return None
        raise MilvusError(f"Milvus cannot describe alias {alias}: {_reason(exc)}") from None


# ---- publishing (bot index) ----------------------------------------------------------------------------


def publish_settings(build: Path, settings: Settings, *, now: float | None = None) -> Published:
    """`publish` with the configured Milvus; any failure is one `MilvusError` line (the alias is unchanged
    unless the failure came after the switch)."""
    try:
        return publish(
            build, client_of(settings), alias=settings.milvus_collection, grace_s=settings.milvus_grace_s, now=now
        )
    except IndexError_:
        raise
    except Exception as exc:
        raise MilvusError(
            f"index {build} is built, but publishing it to Milvus at {milvus_uri(settings)} failed "
            f"({_reason(exc)}); replicas keep the previous build: run `bot index` again"
        ) from None


def publish(
    build: Path,
    client: Any,
    *,
    alias: str,
    grace_s: float,
    now: float | None = None,
) -> Published:
    """Write `build`'s vectors into a collection of its own (unless a complete one exists), switch `alias`
    onto it, mark the collection the alias left retired, and drop collections retired over `grace_s` ago."""
    t0 = time.perf_counter()
    ident = BuildId.of(build)
    name = collection_name(alias, ident)
    target = alias_target(client, alias)
    facts = facts_of(client, name)
    created = False
    if not (facts is not None and facts.state == "ready" and _matches(facts, ident)):
        if client.has_collection(name):  # a killed publish left it half-written
            log.warning("dropping unfinished Milvus collection %s", name)
            client.drop_collection(name)
        _create(client, name, build, ident)
        created = True
    if target != name:
        if target is None:
            client.create_alias(name, alias)
        else:
            client.alter_alias(name, alias)
        client.alter_collection_properties(name, properties={P_RETIRED: ""})  # live again (a rollback)
        log.info("Milvus alias %s now points at %s (was %s)", alias, name, target)
        if target is not None and facts_of(client, target) is not None:
            client.alter_collection_properties(target, properties={P_RETIRED: str(now or time.time())})
    dropped = sweep(client, alias=alias, grace_s=grace_s, now=now)
    return Published(name, alias, ident.rows, time.perf_counter() - t0, created, dropped)


def _matches(facts: CollectionFacts, ident: BuildId) -> bool:
    return (facts.build, facts.digest, facts.model, facts.dimension, facts.rows) == (
        ident.build,
        ident.digest,
        ident.model,
        ident.dimension,
        ident.rows,
    )


def _create(client: Any, name: str, build: Path, ident: BuildId) -> None:
    import faiss
    from pymilvus import DataType, MilvusClient

    manifest = read_manifest(build)
    db = sqlite3.connect(f"file:{build / 'chunks.sqlite'}?mode=ro&immutable=1", uri=True)
    try:
        doc_bytes, kind_bytes = db.execute(
            "SELECT coalesce(max(length(CAST(doc_id AS BLOB))), 1), coalesce(max(length(CAST(kind AS BLOB))), 1) "
            "FROM chunks"
        ).fetchone()
        schema = MilvusClient.create_schema(auto_id=False, description=f"bot chunk vectors, {ident.describe()}")
        schema.add_field("id", DataType.INT64, is_primary=True, description="chunk row of the local index")
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=ident.dimension)
        schema.add_field("kind", DataType.VARCHAR, max_length=min(VARCHAR_MAX, max(64, int(kind_bytes))))
        schema.add_field("document", DataType.VARCHAR, max_length=min(VARCHAR_MAX, max(64, int(doc_bytes))))
        schema.add_field("section", DataType.VARCHAR, max_length=SECTION_MAX)
        index_params = client.prepare_index_params()
        params = manifest.get("faiss_params") or {}
        if manifest.get("faiss") == "IndexHNSWFlat":  # approximate locally: approximate in Milvus too
            index_params.add_index(
                field_name="vector",
                index_type="HNSW",
                metric_type="IP",
                params={"M": int(params.get("M", 32)), "efConstruction": int(params.get("efConstruction", 80))},
            )
        else:  # exact, as the local IndexFlatIP: the same top results
            index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        properties = {
            P_BUILD: ident.build,
            P_DIGEST: ident.digest,
            P_MODEL: ident.model,
            P_DIM: str(ident.dimension),
            P_ROWS: str(ident.rows),
            P_STATE: "loading",
            P_CREATED: str(time.time()),
        }
        client.create_collection(name, schema=schema, consistency_level=READ_CONSISTENCY, properties=properties)
        vectors = faiss.read_index(str(build / "vectors.faiss"))
        if vectors.ntotal != ident.rows or vectors.d != ident.dimension:
            raise MilvusError(f"index at {build} is inconsistent: rebuild with `bot index`")
        cur = db.execute("SELECT row, doc_id, kind, heading FROM chunks ORDER BY row")
        start = 0
        while batch := cur.fetchmany(INSERT_ROWS):
            block = vectors.reconstruct_n(start, len(batch))
            client.insert(
                name,
                [
                    {"id": row, "vector": block[i], "kind": kind, "document": doc_id,
                     "section": _cut(heading or "", SECTION_MAX)}
                    for i, (row, doc_id, kind, heading) in enumerate(batch)
                ],
            )  # fmt: skip
            start += len(batch)
        if start != ident.rows:
            raise MilvusError(f"index at {build} has {start} chunks, its manifest says {ident.rows}")
    finally:
        db.close()
    client.flush(name)
    # indexed once every row is in; not waited for here (Milvus Lite has no timestamp service for the wait),
    # the readable-count check below is what the alias waits for
    client.create_index(name, index_params, sync=False)
    client.load_collection(name)
    _wait_readable(client, name, ident.rows)
    client.alter_collection_properties(name, properties={P_STATE: "ready"})


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _wait_readable(client: Any, name: str, rows: int) -> None:
    """Wait until a read at the replicas' consistency level counts every row (at once on Milvus Lite; on a
    server, bounded staleness may take a few seconds to cover the last insert)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        got = client.query(name, filter="", output_fields=["count(*)"], consistency_level=READ_CONSISTENCY)
        count = int(got[0]["count(*)"]) if got else 0
        if count == rows:
            return
        if time.monotonic() > deadline:
            raise MilvusError(f"Milvus collection {name} shows {count} of {rows} rows after {READY_TIMEOUT_S:.0f}s")
        time.sleep(0.5)


def sweep(client: Any, *, alias: str, grace_s: float, now: float | None = None) -> list[str]:
    """Drop this alias's collections that it left more than `grace_s` ago (never the one it names), and
    ones a killed publish left half-written long ago. Returns the names dropped."""
    now = time.time() if now is None else now
    target = alias_target(client, alias)
    dropped = []
    for name in client.list_collections():
        if not name.startswith(alias + "__") or name == target:
            continue
        facts = facts_of(client, name)
        if facts is None:
            continue  # not written by this bot: left alone
        if facts.state != "ready":
            due = facts.created_at + max(grace_s, UNFINISHED_DROP_S)
        elif facts.retired_at is None:  # the alias left it but the publish stopped before saying so
            client.alter_collection_properties(name, properties={P_RETIRED: str(now)})
            due = now + grace_s
        else:
            due = facts.retired_at + grace_s
        if now >= due:
            log.info("dropping Milvus collection %s (%s)", name, facts.build)
            client.drop_collection(name)
            dropped.append(name)
    return dropped


# ---- serving (bot serve, bot ask) ----------------------------------------------------------------------


def live_build(settings: Settings) -> Path:
    """The local build directory to serve: the one the alias names (under `BOT_INDEX/builds/`), or
    `BOT_INDEX` itself when it names one build directory."""
    root = settings.index
    if (root / MANIFEST).is_file():
        return root
    client = client_of(settings)
    alias = settings.milvus_collection
    target = alias_target(client, alias)
    if target is None:
        raise MilvusError(
            f"Milvus at {milvus_uri(settings)} has no collection alias {alias}: publish an index with "
            f"`BOT_VECTOR_STORE=milvus bot index`"
        )
    facts = facts_of(client, target)
    if facts is None:
        raise MilvusError(f"Milvus alias {alias} points at {target}, which this bot did not publish")
    build = root / "builds" / facts.build
    if not (build / MANIFEST).is_file():
        raise IndexMissing(
            f"Milvus alias {alias} points at build {facts.build}, which {root / 'builds'} does not hold: copy that "
            f"build to this replica (or run `bot index` here)"
        )
    return build.resolve()


def open_dense(settings: Settings, index: Index) -> MilvusDense:
    """The dense search of `index` in Milvus, checked against the collection first."""
    return MilvusDense.open(client_of(settings), index, alias=settings.milvus_collection, uri=milvus_uri(settings))


class MilvusDense:
    """Dense search of one local build in its Milvus collection (the `DenseStore` a `Searcher` takes)."""

    def __init__(self, client: Any, index: Index, *, collection: str, facts: CollectionFacts, uri: str) -> None:
        self.client = client
        self.index = index
        self.collection = collection
        self.facts = facts
        self.uri = uri
        self.rows = facts.rows
        self.hnsw = index.manifest.get("faiss") == "IndexHNSWFlat"
        self.ef = int((index.manifest.get("faiss_params") or {}).get("efSearch", 96))

    @classmethod
    def open(cls, client: Any, index: Index, *, alias: str, uri: str) -> MilvusDense:
        """Raise `IndexMismatch` (one line) unless the collection of `index`'s build holds exactly it."""
        ident = BuildId.of(index.path)
        name = collection_name(alias, ident)
        facts = facts_of(client, name)
        if facts is None or facts.state != "ready":
            target = alias_target(client, alias)
            live = facts_of(client, target) if target else None
            now = f"alias {alias} points at build {live.build} (manifest {live.digest[:12]})" if live else "no alias"
            raise IndexMismatch(
                f"local index at {index.path} is {ident.describe()}, but Milvus at {uri} holds no finished "
                f"collection of it ({now}): publish it with `BOT_VECTOR_STORE=milvus bot index`"
            )
        if not _matches(facts, ident) or index.size != facts.rows or index.vectors.d != facts.dimension:
            raise IndexMismatch(
                f"Milvus collection {name} at {uri} holds build {facts.build} (manifest {facts.digest[:12]}, "
                f"{facts.dimension} dimensions, {facts.rows} rows, model {facts.model}) but the local index at "
                f"{index.path} is {ident.describe()}: publish it again with `BOT_VECTOR_STORE=milvus bot index`"
            )
        try:
            client.load_collection(name)  # a restarted Milvus (Lite: every new process) holds it released
        except Exception as exc:
            raise MilvusError(f"Milvus at {uri} cannot load collection {name}: {_reason(exc)}") from None
        return cls(client, index, collection=name, facts=facts, uri=uri)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if _missing(exc):
                raise IndexMismatch(
                    f"Milvus collection {self.collection} of build {self.facts.build} is gone (dropped after "
                    f"the grace period?): this replica must load the build the alias names"
                ) from None
            raise MilvusError(f"Milvus {what} in {self.collection} at {self.uri} failed: {_reason(exc)}") from None

    def search(self, qvec: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `k` (rows, inner product) among rows where `mask` is true, best first (ties by row, as FAISS)."""
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        n = self.rows
        allowed = n
        expr = ""
        if n == 0:
            return empty
        if mask is not None:
            allowed = int(np.count_nonzero(mask))
            if allowed == 0:
                return empty
            expr = self.expression(mask) if allowed < n else ""
        k = min(k, allowed)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.hnsw:  # the beam of the FAISS path: at least 2k, widened for what a filter leaves out
            params["params"] = {"ef": min(max(self.ef, 2 * k) * n // allowed, n, 32_768)}
        hits = self._call(
            "search",
            self.client.search,
            self.collection,
            data=[np.asarray(qvec, dtype=np.float32).tolist()],
            limit=k,
            filter=expr,
            output_fields=["id"],  # Milvus Lite returns every field, vectors included, when none is named
            search_params=params,
            consistency_level=READ_CONSISTENCY,
        )[0]
        rows = np.fromiter((int(h["id"]) for h in hits), dtype=np.int64, count=len(hits))
        scores = np.fromiter((float(h["distance"]) for h in hits), dtype=np.float32, count=len(hits))
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of `rows`, in that order (fetched by primary key)."""
        ids = [int(r) for r in rows]
        got = self._call("get", self.client.get, self.collection, ids=ids, output_fields=["vector"])
        by_id = {int(g["id"]): g["vector"] for g in got}
        lost = [r for r in ids if r not in by_id]
        if lost:
            raise IndexMismatch(f"Milvus collection {self.collection} lacks rows {lost[:5]}: publish the index again")
        return np.array([by_id[r] for r in ids], dtype=np.float32).reshape(len(ids), self.facts.dimension)

    def expression(self, mask: np.ndarray) -> str:
        """A Milvus filter expression true exactly for the rows where `mask` is: by kind, then by document,
        else by row id (whichever list is shorter)."""
        index = self.index
        codes = np.unique(index.kinds[mask])
        by_kind = np.isin(index.kinds, codes)
        parts = []
        if len(codes) < len(index.kind_names):
            parts.append(f"kind in {_strings(index.kind_names[int(c)] for c in codes)}")
        if np.array_equal(by_kind, mask):
            return " and ".join(parts)
        left_out = np.unique(index.doc_of_row[by_kind & ~mask])
        by_doc = by_kind & ~np.isin(index.doc_of_row, left_out)
        if np.array_equal(by_doc, mask):
            kept = np.unique(index.doc_of_row[mask])
            if len(kept) < len(left_out):
                parts.append(f"document in {_strings(index.doc_ids[int(d)] for d in kept)}")
            else:
                parts.append(f"document not in {_strings(index.doc_ids[int(d)] for d in left_out)}")
            return " and ".join(parts)
        on = np.flatnonzero(mask)
        if len(on) <= len(mask) - len(on):
            return f"id in {json.dumps(on.tolist())}"
        return f"id not in {json.dumps(np.flatnonzero(~mask).tolist())}"


def _strings(values: Any) -> str:
    """A Milvus list of string literals (double-quoted, backslash escapes)."""
    return "[" + ", ".join(json.dumps(str(v), ensure_ascii=False) for v in values) + "]"
