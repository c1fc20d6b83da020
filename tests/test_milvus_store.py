"""BOT_VECTOR_STORE=milvus against a real Milvus Lite (a .db file in a temporary folder) and the real model:
`bot index` publishes each build to its own collection and moves the alias; answers equal FAISS's; replicas
follow the alias; old collections go after the grace period; a mismatch is one clear error."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.config import Settings
from tests.conftest import OFF_TOPIC_QUESTION, SEED_QUESTION, make_corpus, make_settings, stop

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from bot.cli import do_index  # noqa: E402
from bot.engine import Engine, EngineHolder  # noqa: E402
from bot.index import IndexError_, IndexMismatch, IndexMissing, load_index, resolve_build  # noqa: E402
from bot.milvus_store import (  # noqa: E402
    P_DIGEST,
    P_DIM,
    BuildId,
    MilvusDense,
    alias_target,
    client_of,
    collection_name,
    facts_of,
    publish_settings,
)

pytestmark = pytest.mark.slow
QUESTIONS = [SEED_QUESTION, OFF_TOPIC_QUESTION, "Can children take aspirin for a viral infection?"]
ZINC = "Zinc deficiency\n\nZinc deficiency causes hair loss, diarrhoea and slow wound healing in children.\n"


def with_(settings: Settings, **changes: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


def answer_of(engine: Engine, question: str, kinds: list[str] | None = None) -> dict[str, Any]:
    d = engine.ask(question, kinds=kinds).to_dict()
    d.pop("took_ms")
    return d


@pytest.fixture(scope="module")
def mv(built: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The tiny corpus indexed and published to Milvus Lite (vectors from the session's cache: no embedding)."""
    tmp = tmp_path_factory.mktemp("milvus")
    make_corpus(tmp / "corpus")
    settings = make_settings(tmp, cache_dir=built.cache_dir, vector_store="milvus",
                             milvus_uri=str(tmp / "milvus.db"), milvus_grace_s=3600)  # fmt: skip
    do_index(settings, progress=False)
    return settings


def test_publish_writes_the_build_its_fields_and_facts(mv: Settings) -> None:
    build = resolve_build(mv.index)
    assert build is not None
    client, ident = client_of(mv), BuildId.of(build)
    name = collection_name(mv.milvus_collection, ident)
    assert alias_target(client, mv.milvus_collection) == name
    facts = facts_of(client, name)
    assert facts is not None and facts.state == "ready"
    assert (facts.build, facts.digest, facts.dimension, facts.rows) == (build.name, ident.digest, 384, ident.rows)
    index = load_index(build)
    try:
        store = MilvusDense.open(client, index, alias=mv.milvus_collection, uri=str(mv.milvus_uri))
        rows = np.arange(index.size)
        assert np.array_equal(store.vectors(rows), index.vectors.reconstruct_n(0, index.size))  # bit for bit
        got = {r["id"]: r for r in client.query(name, filter="", output_fields=["kind", "document", "section"])}
        for chunk in index.chunks(rows.tolist()).values():
            assert (got[chunk.id]["kind"], got[chunk.id]["document"]) == (chunk.kind, chunk.doc_id)
            assert got[chunk.id]["section"] == chunk.heading
    finally:
        index.close()
    # publishing the same build again writes nothing
    again = publish_settings(build, mv)
    assert not again.created and again.collection == name


def test_answers_equal_faiss(mv: Settings) -> None:
    local, remote = Engine.load(with_(mv, vector_store="faiss")), Engine.load(mv)
    assert remote.searcher.dense_store is not None and local.searcher.dense_store is None
    for q in QUESTIONS:
        qvec = local.searcher.embed(q)
        (lr, ls), (rr, rs) = local.searcher.dense(qvec, 100), remote.searcher.dense(qvec, 100)
        assert lr.tolist() == rr.tolist()
        assert np.allclose(ls, rs, atol=1e-5)
        assert answer_of(local, q) == answer_of(remote, q)
        assert answer_of(local, q, ["research", "other"]) == answer_of(remote, q, ["research", "other"])
    assert answer_of(remote, SEED_QUESTION)["answered"]


def test_kind_document_and_row_filters_become_milvus_expressions(mv: Settings) -> None:
    local, remote = Engine.load(with_(mv, vector_store="faiss")), Engine.load(mv)
    store = remote.searcher.dense_store
    assert isinstance(store, MilvusDense)
    index = local.index
    qvec = local.searcher.embed(SEED_QUESTION)
    seed_doc = index.doc_ids.index("calcinosis-cutis-dermatomyositis")
    masks = {f"kind {k}": index.kind_mask([k]) for k in index.kind_names}
    masks["less a document"] = index.kind_mask(["guideline", "other"]) & (index.doc_of_row != seed_doc)
    masks["rows"] = np.arange(index.size) % 3 == 0
    for what, mask in masks.items():
        assert mask is not None
        expr = store.expression(mask)
        if what.startswith("kind"):
            assert expr.startswith("kind in [") and "document" not in expr, expr
        elif what == "rows":
            assert expr.startswith("id "), expr
        else:
            assert "kind in [" in expr and "document" in expr, expr
        rows, scores = remote.searcher.dense(qvec, 100, mask)
        expected, expected_scores = local.searcher.dense(qvec, 100, mask)
        assert len(rows) == int(mask.sum()) and mask[rows].all(), what
        assert rows.tolist() == expected.tolist() and np.allclose(scores, expected_scores, atol=1e-5), what
    assert store.expression(np.ones(index.size, bool)) == ""
    assert len(remote.searcher.dense(qvec, 100, np.zeros(index.size, bool))[0]) == 0


def test_a_mismatch_is_one_clear_line(mv: Settings, tmp_path: Path) -> None:
    build = resolve_build(mv.index)
    assert build is not None
    client = client_of(mv)
    name = collection_name(mv.milvus_collection, BuildId.of(build))
    digest = BuildId.of(build).digest
    try:
        for key, value, shown in ((P_DIGEST, "0" * 64, "manifest 000000000000"), (P_DIM, "768", "768 dimensions")):
            client.alter_collection_properties(name, properties={key: value})
            with pytest.raises(IndexMismatch) as err:
                Engine.load(mv)
            message = str(err.value)
            assert "\n" not in message and shown in message and digest[:12] in message and "bot index" in message
            client.alter_collection_properties(name, properties={P_DIGEST: digest, P_DIM: "384"})
    finally:
        client.alter_collection_properties(name, properties={P_DIGEST: digest, P_DIM: "384"})
    # a replica whose index folder lacks the build the alias names
    with pytest.raises(IndexMissing, match="does not hold") as missing:
        Engine.load(with_(mv, index=tmp_path / "empty"))
    assert "\n" not in str(missing.value)
    # a local build never published (this replica pinned to it)
    other = with_(mv, index=tmp_path / "other", vector_store="faiss", corpus=mv.corpus / "hypertension.txt")
    do_index(other, progress=False)
    lone = resolve_build(other.index)
    assert lone is not None
    with pytest.raises(IndexMismatch, match="holds no finished collection of it") as unpublished:
        Engine.load(with_(mv, index=lone))
    assert "\n" not in str(unpublished.value) and build.name in str(unpublished.value)
    # and on the command line: one `error:` line, exit 1
    from typer.testing import CliRunner

    from bot.cli import app

    env = {"BOT_VECTOR_STORE": "milvus", "BOT_MILVUS_URI": str(mv.milvus_uri), "BOT_CACHE_DIR": str(mv.cache_dir)}
    result = CliRunner().invoke(app, ["ask", SEED_QUESTION, "--index", str(lone)], env=env)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "holds no finished collection" in errors[0], result.output


def test_a_rebuild_moves_the_alias_replicas_follow_and_old_collections_go_after_the_grace(mv: Settings) -> None:
    client = client_of(mv)
    holder = EngineHolder(mv)
    old = holder.load()
    first = alias_target(client, mv.milvus_collection)
    before = answer_of(old, SEED_QUESTION)
    (mv.corpus / "zinc.txt").write_text(ZINC)
    do_index(mv, progress=False)  # a second `bot index`: a new build, a new collection, the alias moved
    second = alias_target(client, mv.milvus_collection)
    assert second != first and client.has_collection(first)  # kept for the grace period
    # a replica that has not switched yet still answers from its own build's collection, consistently
    assert answer_of(old, SEED_QUESTION) == before
    # its next look at the alias switches it (`bot serve` looks every second)
    assert holder.maybe_reload(min_interval=0)
    new = holder.engine
    assert new is not None and new is not old
    assert isinstance(new.searcher.dense_store, MilvusDense) and new.searcher.dense_store.collection == second
    zinc = answer_of(new, "What does zinc deficiency cause?")
    assert zinc["answered"] and any(r["doc_id"] == "zinc" for r in zinc["references"]), zinc
    assert not holder.maybe_reload(min_interval=0)  # nothing new

    # the grace period: a third build retires the second; it stays until the grace has passed
    short = with_(mv, milvus_grace_s=1.5)
    do_index(short, progress=False, force=True)
    third = alias_target(client, mv.milvus_collection)
    retired = time.time()
    assert third not in (first, second) and client.has_collection(second)
    do_index(short, progress=False)  # up to date: only sweeps, and the grace has not passed
    assert client.has_collection(second) or time.time() - retired >= 1.5
    time.sleep(max(0.0, retired + 1.6 - time.time()))
    do_index(short, progress=False)  # any later `bot index` drops what is past its grace
    names = client.list_collections()
    assert second not in names and first not in names and third in names
    # a replica still on a dropped build gets a clear error, and switches on its next look
    with pytest.raises(IndexMismatch, match="is gone"):
        new.ask(SEED_QUESTION)
    assert holder.maybe_reload(min_interval=0) and holder.engine is not None
    assert holder.engine.ask(SEED_QUESTION).answered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_milvus_server_url_is_the_same_code(mv: Settings, tmp_path: Path) -> None:
    """A Milvus server over gRPC (milvus-lite's own server process; a Milvus standalone speaks the same API)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("milvus-lite")), "server", "--data-dir", str(tmp_path / "srv"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        served = with_(mv, milvus_uri=f"http://127.0.0.1:{port}", milvus_collection="served")
        build = resolve_build(mv.index)
        assert build is not None
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "milvus-lite server did not start"
                time.sleep(0.2)
        published = publish_settings(build, served)
        assert published.created and published.collection.startswith("served__")
        local, remote = Engine.load(with_(mv, vector_store="faiss")), Engine.load(served)
        assert answer_of(local, SEED_QUESTION) == answer_of(remote, SEED_QUESTION)
    finally:
        stop(proc, timeout=10)


def test_unreachable_or_misnamed_milvus_is_one_line() -> None:
    with pytest.raises(ValueError, match="ending in .db"):
        Settings(vector_store="milvus", milvus_uri="/tmp/milvus.sqlite")
    with pytest.raises(ValueError):
        Settings(milvus_collection="no-dashes")
    from bot.milvus_store import MilvusError, connect

    with pytest.raises(MilvusError, match="neither a server URL"):
        connect("relative/path")
    assert issubclass(MilvusError, IndexError_)
