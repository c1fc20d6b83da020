"""The ONNX Runtime embedder: exported locally from the bundled weights, identical vectors to torch,
length-exact batching with zero padding, a cached export, and a clean fallback to torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.embedding import ModelError, SentenceTransformerEmbedder, load_embedder, resolve_model
from bot.onnx import OnnxEmbedder, OnnxUnavailable, inspect_model, load_onnx_embedder, onnx_path

pytestmark = pytest.mark.slow
MODEL = "all-MiniLM-L6-v2"
TEXTS = {
    "question": "How is calcinosis cutis treated in dermatomyositis?",
    "one letter": "x",
    "empty": "",
    "numbers": "Hazard ratio 0.97; 95% CI 0.85-1.10; p = 0.04 (n = 1,234).",
    "unicode": "Les patients atteints de dermatomyosite juvénile – ≥ 5 mg/kg/jour – ont répondu.",
    "long, truncated at 256 word pieces": "Intravenous sodium thiosulfate reduced calcinosis. " * 80,
    "chunk": (
        "Calcinosis cutis\nCalcinosis is a common complication of juvenile dermatomyositis. Treatment options "
        "include diltiazem, bisphosphonates, intravenous immunoglobulin and surgical excision of lesions."
    ),
}


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    """Exported once per session into a temporary cache (the real export, from the bundled weights)."""
    return load_onnx_embedder(MODEL, resolve_model(MODEL), cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def torch_embedder() -> SentenceTransformerEmbedder:
    embedder = load_embedder(MODEL, backend="torch")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder


@pytest.mark.parametrize("name", list(TEXTS))
def test_vectors_identical_to_sentence_transformers(
    name: str, onnx_embedder: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    ours = onnx_embedder.encode([TEXTS[name]])
    ref = torch_embedder.encode([TEXTS[name]])
    assert ours.shape == ref.shape == (1, 384) and ours.dtype == np.float32
    assert float(ours[0] @ ref[0]) >= 0.9999
    assert np.allclose(ours, ref, atol=1e-4)
    assert abs(float(np.linalg.norm(ours[0])) - 1.0) < 1e-5


def test_batch_keeps_order_and_equals_one_at_a_time(onnx_embedder: OnnxEmbedder) -> None:
    texts = list(TEXTS.values()) * 3 + ["short one", "another short one", "short two"]
    together = onnx_embedder.encode(texts, batch_size=2)
    alone = np.vstack([onnx_embedder.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_length_exact_batching_computes_no_padding(onnx_embedder: OnnxEmbedder) -> None:
    texts = [f"Patient {i} received {'high ' * (i % 7)}dose therapy." for i in range(60)]
    onnx_embedder.encode(texts, batch_size=4)
    stats = onnx_embedder.last
    lengths = onnx_embedder.token_lengths(texts)
    assert stats.texts == 60 and stats.tokens == int(lengths.sum())
    assert stats.computed == stats.tokens and stats.padding == 0.0
    assert len(set(lengths.tolist())) <= stats.calls < 60  # equal lengths share a run


def test_padded_batches_match_exact_ones(onnx_embedder: OnnxEmbedder) -> None:
    """The attention mask works: a padded batch (as sentence-transformers runs it) gives the same vectors."""
    texts = [TEXTS["question"], TEXTS["one letter"], TEXTS["chunk"]]
    assert np.allclose(onnx_embedder.run_padded(texts), onnx_embedder.encode(texts), atol=1e-5)


def test_empty_input(onnx_embedder: OnnxEmbedder) -> None:
    out = onnx_embedder.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32
    assert onnx_embedder.last.calls == 0 and onnx_embedder.last.padding == 0.0


def test_export_is_cached_and_loads_without_torch(onnx_embedder: OnnxEmbedder, onnx_cache: Path) -> None:
    target = onnx_path(onnx_cache, MODEL, inspect_model(Path(resolve_model(MODEL))))
    assert onnx_embedder.file == target and target.is_file()
    before = target.stat().st_mtime_ns
    again = load_onnx_embedder(MODEL, resolve_model(MODEL), cache_dir=onnx_cache)
    assert target.stat().st_mtime_ns == before  # loaded, not exported again
    assert np.allclose(again.encode([TEXTS["question"]]), onnx_embedder.encode([TEXTS["question"]]))
    assert not list(target.parent.glob(".export-*"))  # no temporary files left behind


def test_damaged_export_falls_back_and_is_dropped(onnx_embedder: OnnxEmbedder, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    target = onnx_path(cache, MODEL, onnx_embedder.spec)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model")
    with pytest.raises(OnnxUnavailable):
        load_onnx_embedder(MODEL, resolve_model(MODEL), cache_dir=cache)
    assert not target.exists()  # the next start exports it again


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}, "unsupported pooling"),
        (None, "not a local sentence-transformers model"),
    ],
)
def test_unsupported_models_are_refused(tmp_path: Path, change: dict[str, bool] | None, reason: str) -> None:
    src = Path(resolve_model(MODEL))
    model = tmp_path / "model"
    shutil.copytree(src, model, ignore=shutil.ignore_patterns("*.safetensors"))
    if change is None:
        (model / "modules.json").unlink()
    else:
        cfg = model / "1_Pooling" / "config.json"
        cfg.write_text(json.dumps({**json.loads(cfg.read_text()), **change}))
    with pytest.raises(OnnxUnavailable, match=reason):
        inspect_model(model)


def test_backend_choice(monkeypatch: pytest.MonkeyPatch, onnx_cache: Path) -> None:
    with pytest.raises(ModelError, match="unknown embedding backend"):
        load_embedder(MODEL, backend="tensorflow")
    with pytest.raises(ModelError, match="cpu only"):
        load_embedder(MODEL, backend="onnx", device="cuda")
    assert Settings(backend="torch").backend == "torch"
    with pytest.raises(ValueError):
        Settings(backend="tensorflow")
    monkeypatch.setenv("BOT_BACKEND", "torch")
    assert isinstance(load_embedder(MODEL), SentenceTransformerEmbedder)


def test_auto_backend_falls_back_to_torch_for_a_model_it_cannot_export(tmp_path: Path) -> None:
    src = Path(resolve_model(MODEL))
    model = tmp_path / "cls-model"
    shutil.copytree(src, model)
    cfg = model / "1_Pooling" / "config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "pooling_mode_mean_tokens": False,
                               "pooling_mode_cls_token": True}))  # fmt: skip
    embedder = load_embedder(str(model), backend="auto", cache_dir=tmp_path / "cache")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    with pytest.raises(ModelError, match="ONNX backend unavailable"):
        load_embedder(str(model), backend="onnx", cache_dir=tmp_path / "cache")


def test_search_results_identical_with_either_backend(built: Settings, onnx_embedder: OnnxEmbedder) -> None:
    """The same index answers the same: dense rows and scores from ONNX equal those from torch."""
    from bot.index import load_index
    from bot.search import Searcher

    index = load_index(built.index)
    try:
        torch_search = Searcher(index, load_embedder(built.model, backend="torch"))
        onnx_search = Searcher(index, onnx_embedder)
        for question in ("How is calcinosis cutis treated in dermatomyositis?", "metformin starting dose"):
            rows_t, scores_t = torch_search.dense(torch_search.embed(question), 10)
            rows_o, scores_o = onnx_search.dense(onnx_search.embed(question), 10)
            assert rows_t.tolist() == rows_o.tolist()
            assert np.allclose(scores_t, scores_o, atol=1e-5)
    finally:
        index.close()
