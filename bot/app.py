"""The FastAPI application: `create_app(settings)` wires the engine, the API and the other channels."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__
from .config import Settings
from .engine import Engine, EngineHolder
from .feedback import FeedbackStore

log = logging.getLogger(__name__)
RELOAD_INTERVAL_S = 1.0


def create_app(settings: Settings | None = None, *, holder: EngineHolder | None = None) -> FastAPI:
    settings = settings or Settings()
    holder = holder or EngineHolder(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from .server import quiet_accept_errors

        quiet_accept_errors(asyncio.get_running_loop())  # out of file descriptors: a line a minute, not a flood
        if holder.engine is None:
            try:
                await asyncio.to_thread(holder.load)
                log.info("serving index %s", holder.engine.index.path if holder.engine else None)
            except Exception as exc:  # keep serving /healthz with the reason
                holder.error = str(exc)
                log.error("index not loaded: %s", exc)
        task = asyncio.create_task(_watch(holder))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="bot",
        version=__version__,
        description="Retrieval QA for clinical evidence. Answers are verbatim quotes from the indexed "
        "sources with numbered citations; no generative model is involved.",
        lifespan=lifespan,
    )
    # No trailing-slash redirects: Starlette builds them from the request's Host header, so `GET /healthz/`
    # with `Host: evil.example` pointed browsers at evil.example. A path with a stray slash is a 404.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.holder = holder
    app.state.feedback = FeedbackStore.from_settings(settings)  # SQLite in data_dir, or BOT_DATABASE_URL

    from .api import install_error_handlers
    from .api import router as api_router
    from .ratelimit import install_limits

    app.include_router(api_router)
    from .slack import install as install_slack

    install_slack(app, settings)
    install_error_handlers(app)
    install_limits(app, settings)
    from .metrics import install_metrics
    from .security import install_security
    from .web import install_web

    install_web(app, settings)  # the chat pages, /source, feedback, /static
    # headers, 413 and 408 (a body too slow to arrive), outside the rate limit
    install_security(app, max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.receive_timeout_s)
    install_metrics(app)  # outermost: counts every request, 413s and 429s too
    return app


async def _watch(holder: EngineHolder) -> None:
    """Pick up a rebuilt index without a restart (the old one answers until the new one is loaded)."""
    while True:
        await asyncio.sleep(RELOAD_INTERVAL_S)
        try:
            await asyncio.to_thread(holder.maybe_reload, min_interval=0)
            if holder.engine is None and holder.error:
                await asyncio.to_thread(_retry_load, holder)
        except Exception as exc:  # never let the watcher die
            log.warning("index watch failed: %s", exc)


def _retry_load(holder: EngineHolder) -> None:
    with contextlib.suppress(Exception):
        holder.load()


def _log_to_stderr(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (used by `bot serve` with several workers)."""
    settings = Settings()
    _log_to_stderr(settings)
    return create_app(settings)


def app_serving(settings: Settings, engine: Engine) -> FastAPI:
    """The app of `bot serve` in one process, serving the engine it has already loaded (and checked)."""
    _log_to_stderr(settings)
    holder = EngineHolder(settings)
    holder.adopt(engine)
    log.info("serving index %s", engine.index.path)
    return create_app(settings, holder=holder)
