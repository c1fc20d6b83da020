"""The `bot` command: build the index, ask from the terminal, serve the web chat and API."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

from . import __version__
from .config import Settings
from .documents import KNOWN_KINDS
from .indexing import do_index

app = typer.Typer(
    help="Retrieval QA bot for clinical evidence: answers quote their sources verbatim, with numbered "
    "citations. No generative model.\n\nEvery option can also be set with a BOT_* environment variable "
    "(e.g. BOT_INDEX, BOT_MODEL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: Rich's markup read the "[env: …; default: …]" notes as tags and dropped them, and its
    # option table showed flags as taking a value (`--json <bool>`).
    rich_markup_mode=None,
)
log = logging.getLogger("bot")
STATE: dict[str, Any] = {"debug": False}


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


def default_of(name: str) -> str:
    """A setting's default, as help shows it ("[env: BOT_X; default: …]")."""
    return str(Settings.model_fields[name].default)


IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", "-i", help=f"Index root directory [env: BOT_INDEX; default: {default_of('index')}]"),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=f"sentence-transformers model name or path [env: BOT_MODEL; default: {default_of('model')}, bundled]",
    ),
]
KIND_HELP = (
    f"Only quote sources of this kind (repeatable): {', '.join(KNOWN_KINDS)} or other, or a kind the corpus "
    "names (front matter `kind:`, corpus.yaml)"
)


def index_kinds(root: Path) -> list[str] | None:
    """The kinds an index holds, from its manifest as it stands (for help text only: not verified)."""
    for build in (root, root / "current"):
        try:
            kinds = json.loads((build / "manifest.json").read_text())["kinds"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(kinds, dict):
            return sorted(str(k) for k in kinds)
    return None


class AskCommand(TyperCommand):
    """`bot ask`, whose `--kind` help also lists the kinds of the configured index when there is one
    (read when the help is shown, never when the command runs)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        try:
            root = Settings().index
        except Exception:  # a bad setting is reported when the command runs, not in its help
            root = Path(default_of("index"))
        kinds = index_kinds(root)
        for param in self.params:
            if param.name == "kind" and isinstance(param, TyperOption):
                param.help = KIND_HELP + (f"; the index at {root} has: {', '.join(kinds)}" if kinds else "")
        super().format_help(ctx, formatter)


def settings_from(**overrides: Any) -> Settings:
    """Settings from flags over `BOT_*` variables; a bad value is one clear line (its value is not echoed)."""
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        if STATE["debug"]:
            raise
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])} (BOT_{'_'.join(str(p) for p in e['loc']).upper()}): {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid setting {problems}")
        raise  # unreachable: fail() exits


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def run_guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run `fn`, turning the bot's own errors into one clear line (a traceback only with --debug)."""
    from .build import BuildError
    from .drugs import DrugListError
    from .embedding import ModelError
    from .engine import QuestionError
    from .index import IndexError_
    from .ranker import RankerError

    try:
        return fn(*args, **kwargs)
    except KeyboardInterrupt:
        if STATE["debug"]:
            raise
        fail("interrupted; an index being built was not swapped in, the previous one is unchanged", code=130)
    except (
        IndexError_,
        ModelError,
        BuildError,
        QuestionError,
        RankerError,
        DrugListError,
        FileNotFoundError,
        PermissionError,
        OSError,
    ) as exc:
        if STATE["debug"]:
            raise
        if isinstance(exc, OSError) and exc.strerror is not None:  # no ": None" when it names no file
            fail(exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}")
        fail(str(exc))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"bot {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    STATE["debug"] = debug
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss", "bm25s", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not debug else logging.INFO)
    if not debug:
        # Quiet transformers' progress bars and warnings through the environment it reads when (and only
        # if) it is loaded: importing it here cost ~2 s on every command, and the ONNX path never needs it.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class IndexCommand(TyperCommand):
    """`bot index`, whose `--ray` may come without an address: then `auto`, the Ray cluster of this machine."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)
        for i in reversed(range(len(given))):
            if given[i] == "--ray" and (i + 1 == len(given) or given[i + 1].startswith("-")):
                given.insert(i + 1, "auto")
        return super().parse_args(ctx, given)


@app.command("index", cls=IndexCommand)
def index_cmd(
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            "--corpus",
            "-c",
            metavar="<path>",
            help="Corpus directory or file; repeat to index several together "
            f"[env: BOT_CORPUS; default: {default_of('corpus')}]",
        ),
    ] = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    chunk_size: Annotated[
        int | None, typer.Option(help=f"Maximum characters per chunk [default: {default_of('chunk_size')}]")
    ] = None,
    chunk_overlap: Annotated[
        int | None,
        typer.Option(help=f"Sentences shared by neighbouring chunks [default: {default_of('chunk_overlap')}]"),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Embedding batch size [default: {default_of('batch_size')}]")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when nothing changed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the build summary as JSON.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Embed the chunks on a Ray cluster: its address (host:6379, ray://host:10001), or alone for the "
            "cluster started on this machine ('off': this machine only) [env: BOT_RAY_ADDRESS; needs the ray extra]",
        ),
    ] = None,
) -> None:
    """Build (or incrementally update) the index of a corpus. Unchanged chunks are not embedded again;
    the new index replaces the old one atomically when it is complete."""
    settings = settings_from(corpus=corpus[0] if corpus else None, extra_corpora=corpus[1:] if corpus else None,
                             index=index, model=model, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                             batch_size=batch_size, ray_address=ray)  # fmt: skip
    stats = run_guarded(do_index, settings, progress=progress and not as_json, force=force, say=echo_err)
    if as_json:
        typer.echo(json.dumps(stats.to_dict(), indent=2))
        return
    for p in stats.problems:
        typer.secho(f"skipped {p.path}: {p.reason}", fg=typer.colors.YELLOW, err=True)
    s = stats
    if s.up_to_date:
        typer.echo(f"index is up to date: {s.documents} documents, {s.chunks} chunks, nothing re-embedded ({s.path})")
    else:
        typer.echo(
            f"indexed {s.documents} documents into {s.chunks} chunks in {s.seconds:.1f}s -> {s.path}\n"
            f"documents: {s.added} added, {s.changed} changed, {s.removed} removed, {s.unchanged} unchanged\n"
            f"chunks: {s.chunks_embedded} embedded, {s.chunks_reused} reused"
            + (f"; vector index {s.vectors_written}" if s.vectors_written else "")
            + (f" ({s.rows_removed} rows out, {s.rows_added} in)" if s.vectors_written == "patched" else "")
        )
    if stats.problems:
        typer.echo(f"{len(stats.problems)} problems reported (files or lines skipped); see above")


@app.command("ask", cls=AskCommand)
def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    index: IndexOpt = None,
    model: ModelOpt = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", "-k", metavar="<kind>", help=KIND_HELP),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer JSON (the API contract).")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, markdown or html")] = "text",
) -> None:
    """Answer a question from the terminal with quotes and numbered references."""
    from .engine import Engine, clean_question
    from .render import FORMATS, render

    if fmt not in FORMATS:  # checked before the work, not after it
        fail(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}", code=2)
    settings = settings_from(index=index, model=model)
    run_guarded(clean_question, question, max_chars=settings.max_question_chars)  # before the index is loaded
    engine = run_guarded(Engine.load, settings)
    answer = run_guarded(engine.ask, question, kinds=kind)
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render(answer, fmt).rstrip())


@app.command("serve")
def serve_cmd(
    index: IndexOpt = None,
    model: ModelOpt = None,
    corpus: Annotated[
        Path | None,
        typer.Option("--corpus", "-c", help="Corpus indexed first when the index is missing [default: corpus]"),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address [env: BOT_HOST; default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: BOT_PORT; default: 8000]")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes sharing the index read-only.")] = 1,
    build: Annotated[
        bool, typer.Option("--build/--no-build", help="Index the corpus first if there is no index.")
    ] = True,
) -> None:
    """Serve the web chat and the JSON API (POST /api/ask, GET /healthz, OpenAPI at /docs)."""
    import os

    import uvicorn

    from .index import resolve_build

    settings = settings_from(index=index, model=model, corpus=corpus, host=host, port=port)
    from .database import check as check_database

    run_guarded(check_database, settings)  # BOT_DATABASE_URL unreachable: one line naming its host, at once
    if resolve_build(settings.index) is None:
        if not build:
            fail(f"no index at {settings.index}: build one with `bot index --index {settings.index}`")
        typer.echo(f"no index at {settings.index}: indexing {settings.corpus} first")
        stats = run_guarded(do_index, settings, say=echo_err)
        typer.echo(f"indexed {stats.documents} documents into {stats.chunks} chunks")
    from .engine import Engine

    engine = run_guarded(Engine.load, settings)  # fail fast, with one clear line, on a bad index or model
    from pydantic import SecretStr

    from .server import uvicorn_options

    for key, value in settings.model_dump(exclude_none=True).items():
        if not isinstance(value, SecretStr):  # secrets stay in the variables they came from (str() is "****")
            os.environ[f"BOT_{key.upper()}"] = str(value)
    typer.echo(f"serving on http://{settings.host}:{settings.port} (API docs at /docs)")
    # Bounded time to send a request, bounded connections, proxy headers only when trusted: bot/server.py.
    options: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_level": settings.log_level.lower()}
    if workers == 1:  # this process serves: the engine just loaded is the one it serves, not loaded twice
        from .app import app_serving

        uvicorn.run(app_serving(settings, engine), **options, **uvicorn_options(settings))
    else:  # each worker process loads the index itself
        uvicorn.run("bot.app:app_from_env", factory=True, workers=workers, **options, **uvicorn_options(settings))


@app.command("eval")
def eval_cmd(
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            "--corpus",
            "-c",
            metavar="<path>",
            help="Corpus file or directory (BEIR corpus.jsonl). With --questions, repeat it to "
            "index several corpora together (without it, --questions uses the configured index).",
        ),
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option("--queries", help="BEIR queries.jsonl (`_id`, `text`; SciFact `metadata` for --evidence)."),
    ] = None,
    qrels: Annotated[
        Path | None,
        typer.Option("--qrels", help="BEIR qrels TSV: query-id, corpus-id, score (--evidence: only these claims)."),
    ] = None,
    methods: Annotated[
        str,
        typer.Option("--methods", help="Comma-separated retrieval methods: bm25, dense, hybrid, final, learned."),
    ] = "bm25,dense,hybrid,final,learned",
    answers: Annotated[
        bool, typer.Option("--answers", help="Also build every answer: citation hit rate, declines, quote fidelity.")
    ] = False,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            help="Clinician questions (JSON lines: q, answered, expect_any, forbid_any): "
            "ask each and report PASS/FAIL.",
        ),
    ] = None,
    evidence: Annotated[
        bool,
        typer.Option("--evidence", help="SciFact: do the answers' quotes land on the gold rationale sentences?"),
    ] = False,
    sentences: Annotated[
        Path | None,
        typer.Option("--sentences", help="Sentence spans for --evidence [default: <corpus>/sentences.jsonl]"),
    ] = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N judged queries (claims, questions).", min=1)
    ] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Abstention threshold for answers [env: BOT_MIN_SCORE]")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="--questions: print each answer's quotes under its line.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Measure retrieval on a BEIR-layout benchmark: nDCG@10, Recall@10/100, MRR@10 and latency per method.

    The corpus is indexed as `bot index` would (kept under the cache directory, so a second run only
    loads it); chunk hits count for their document at its best chunk's rank.

    --questions FILE asks clinician questions and checks each answer's quotes for expected and forbidden
    phrases; --evidence (SciFact) measures how often the quotes land on gold rationale sentences."""
    from .evaluate import EvalError, format_report, report_json, run_eval
    from .qa_eval import format_evidence, format_questions, run_evidence, run_questions, to_json

    corpora = list(corpus or [])
    settings = settings_from(model=model, min_score=min_score, index=index)
    say = (lambda msg: None) if as_json else (lambda msg: typer.echo(msg, err=True))
    show = progress and not as_json
    try:
        if questions is not None and evidence:
            raise EvalError("--questions and --evidence are separate modes: give one")
        if questions is not None:
            qreport = run_guarded(run_questions, settings, questions, corpora, limit=limit, progress=show, say=say)
            typer.echo(to_json(qreport) if as_json else format_questions(qreport, verbose=verbose))
            return
        if len(corpora) != 1:
            raise EvalError("give one --corpus" if corpora else "--corpus is required (except with --questions)")
        if evidence:
            if queries is None:
                raise EvalError("--evidence needs --queries (SciFact queries.jsonl with gold `metadata`)")
            ereport = run_guarded(run_evidence, settings, corpora[0], queries, qrels, sentences, limit=limit,
                                  progress=show, say=say)  # fmt: skip
            typer.echo(to_json(ereport) if as_json else format_evidence(ereport))
            return
        if queries is None or qrels is None:
            raise EvalError("--queries and --qrels are required (or use --questions FILE or --evidence)")
        chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
        report = run_guarded(run_eval, settings, corpora[0], queries, qrels, methods=chosen, answers=answers,
                             limit=limit, progress=show, say=say)  # fmt: skip
    except EvalError as exc:
        fail(str(exc))
    typer.echo(report_json(report) if as_json else format_report(report))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
