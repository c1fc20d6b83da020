"""The `bot` command as users run it: real subprocesses, exit codes, and one clear line on errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from tests.conftest import OFF_TOPIC_QUESTION, SEED_QUESTION, make_corpus

BOT = [sys.executable, "-m", "bot.cli"]


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([*BOT, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def test_help_is_instant_and_imports_no_torch() -> None:
    code = "import sys; from bot.cli import app; print('torch' in sys.modules or 'faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    result = run("--help")
    assert result.returncode == 0
    for command in ("index", "ask", "serve"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["index", "ask", "serve"])
def test_subcommand_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0 and "--index" in result.stdout


def test_ask_json_and_text(built: Settings) -> None:
    result = run("ask", SEED_QUESTION, "--index", str(built.index), "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answered"] is True
    assert set(answer) >= {"question", "answered", "sections", "references", "took_ms"}
    bullet = answer["sections"][0]["bullets"][0]
    assert set(bullet) >= {"quote", "citations", "doc_id", "start", "end", "section"}
    assert set(answer["references"][0]) >= {"n", "doc_id", "title", "kind", "url", "source", "date", "locator"}

    text = run("ask", SEED_QUESTION, "--index", str(built.index), "--kind", "research")
    assert text.returncode == 0
    assert text.stdout.startswith("From the Research\n- ") and "References\n[1] " in text.stdout

    declined = run("ask", OFF_TOPIC_QUESTION, "--index", str(built.index))
    assert declined.returncode == 0 and declined.stdout.startswith("I could not find this")


def test_index_command_reports_counts_and_problems(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    (corpus / "broken.jsonl").write_text('{"_id": "x", "text": "fine text here"}\n{oops\n')
    env = {"BOT_CACHE_DIR": str(tmp_path / "cache"), "BOT_MODEL": "hash:64"}
    args = ("index", "--corpus", str(corpus), "--index", str(tmp_path / "idx"))
    first = run(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "indexed 6 documents" in first.stdout and "6 added" in first.stdout
    assert "broken.jsonl:2" in first.stderr and "1 problems reported" in first.stdout
    second = run(*args, "--json", env=env)
    stats = json.loads(second.stdout)
    assert stats["up_to_date"] is True and stats["chunks_embedded"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "anything", "--index", "{tmp}/missing"), "no index at"),
        (("index", "--corpus", "{tmp}/nope", "--index", "{tmp}/i"), "corpus not found"),
        (("ask", "  ", "--index", "{built}"), "question is empty"),
        (("ask", "anything", "--index", "{built}", "--model", "hash:64"), "rebuild with `bot index --model hash:64`"),
        (("serve", "--index", "{tmp}/missing", "--no-build"), "no index at"),
    ],
)
def test_errors_are_one_clear_line(built: Settings, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    argv = [a.format(tmp=tmp_path, built=built.index) for a in args]
    result = run(*argv, env={"BOT_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run("--debug", "ask", "x", "--index", str(tmp_path / "missing"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_version_needs_no_command() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("bot ")


def test_a_bad_format_is_refused_before_any_work(tmp_path: Path) -> None:
    result = run("ask", "anything", "--format", "pdf", "--index", str(tmp_path / "no-index"))
    assert result.returncode == 2
    assert "unknown format 'pdf'" in result.stderr and "Traceback" not in result.stderr


def test_ask_prints_no_model_chatter(built: Settings) -> None:
    result = run("ask", SEED_QUESTION, "--index", str(built.index))
    assert result.returncode == 0, result.stderr
    assert "ONNX" not in result.stderr and " INFO " not in result.stderr


def _help(*args: str, env: dict[str, str] | None = None) -> str:
    result = run(*args, "--help", env={"COLUMNS": "100", **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", [(), ("index",), ("ask",), ("serve",), ("eval",)])
def test_help_shows_flags_as_flags(command: tuple[str, ...]) -> None:
    """Before: `--json <bool>`, `--force <bool>`, `--help <bool>`, as if each took a value."""
    text = _help(*command)
    assert "<bool>" not in text and "<list[" not in text, text
    flag_lines = [line.split()[0] for line in text.splitlines() if line.strip().startswith("--help")]
    assert flag_lines == ["--help"]
    if command == ("index",):
        for flag in ("--force", "--json"):
            (line,) = [ln for ln in text.splitlines() if ln.strip().startswith(flag)]
            assert line.split()[1][0].isupper(), line  # straight to its help text, no value placeholder


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        ("index", ["--index <path> Index root directory [env: BOT_INDEX; default: index]",
                   "[env: BOT_CORPUS; default: corpus]", "[env: BOT_MODEL; default: all-MiniLM-L6-v2, bundled]",
                   "[default: 800]"]),
        ("ask", ["[env: BOT_INDEX; default: index]", "[env: BOT_MODEL; default: all-MiniLM-L6-v2, bundled]"]),
        ("serve", ["[env: BOT_INDEX; default: index]", "[env: BOT_HOST; default: 127.0.0.1]",
                   "[env: BOT_PORT; default: 8000]", "[default: corpus]",
                   "[env: BOT_MODEL; default: all-MiniLM-L6-v2, bundled]"]),
    ],
)  # fmt: skip
def test_help_shows_defaults(command: str, defaults: list[str]) -> None:
    """Before: Rich read each "[env: …; default: …]" note as a markup tag and dropped it."""
    text = " ".join(_help(command).split())
    for default in defaults:
        assert default in text, (default, text)


def test_ask_help_lists_the_kinds(tmp_path: Path) -> None:
    text = " ".join(_help("ask", env={"BOT_INDEX": str(tmp_path / "none")}).split())
    assert (
        "-k, --kind <kind> Only quote sources of this kind (repeatable): guideline, drug_label, research or other"
        in text
    )
    assert "has:" not in text

    corpus = make_corpus(tmp_path / "corpus")
    (corpus / "leaflet.md").write_text("---\nkind: consumer\n---\n# Gout\n\nAllopurinol lowers urate.\n")
    env = {"BOT_CACHE_DIR": "off", "BOT_MODEL": "hash:64"}
    assert run("index", "--corpus", str(corpus), "--index", str(tmp_path / "idx"), env=env).returncode == 0
    text = "".join(_help("ask", env={"BOT_INDEX": str(tmp_path / "idx")}).split())  # a long path wraps anywhere
    expected = f"the index at {tmp_path / 'idx'} has: consumer, drug_label, guideline, other, research"
    assert "".join(expected.split()) in text

    # listing them reads the manifest only: no FAISS, no model, no numpy
    code = (
        "import sys; from typer.testing import CliRunner; from bot.cli import app; "
        "out = CliRunner().invoke(app, ['ask', '--help']).stdout; assert 'consumer' in out, out; "
        "print(sorted(m for m in ('faiss', 'torch', 'numpy', 'onnxruntime') if m in sys.modules))"
    )
    env = {**os.environ, "BOT_INDEX": str(tmp_path / "idx")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_in_one_process_serves_the_engine_it_loaded(built: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # `bot serve` loads the index before it starts the server (a bad index is one clear line at once); with one
    # worker that engine is the one served: the index is not loaded a second time (at 100k chunks, ~1.3 s)
    import uvicorn
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from bot.cli import app
    from bot.engine import Engine

    loads: list[Engine] = []
    real_load = Engine.load.__func__  # type: ignore[attr-defined]

    def counting_load(cls: type[Engine], settings: Settings, **kw: object) -> Engine:
        engine = real_load(cls, settings, **kw)
        loads.append(engine)
        return engine

    served: list[object] = []
    monkeypatch.setattr(Engine, "load", classmethod(counting_load))
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: served.append(target))
    before = dict(os.environ)
    try:
        result = CliRunner().invoke(app, ["serve", "--index", str(built.index), "--no-build"])
    finally:  # the command exports its settings (BOT_*) for worker processes: not for the other tests
        os.environ.clear()
        os.environ.update(before)
    assert result.exit_code == 0, result.output
    assert len(served) == 1 and not isinstance(served[0], str)  # an app object, not a factory to import
    with TestClient(served[0]) as client:  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 200
        assert client.post("/api/ask", json={"question": SEED_QUESTION}).json()["answered"] is True
    assert len(loads) == 1
