"""JSON API: POST /api/ask and GET /healthz."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from . import __version__
from .engine import Engine, EngineHolder, QuestionError
from .schemas import AnswerModel, AskRequest, ErrorModel, HealthModel

router = APIRouter()


def holder_of(request: Request) -> EngineHolder:
    return request.app.state.holder  # type: ignore[no-any-return]


def engine_of(request: Request) -> Engine:
    engine = holder_of(request).engine
    if engine is None:
        raise HTTPException(503, "The index is not loaded yet; try again shortly.")
    return engine


@router.post(
    "/api/ask",
    response_model=AnswerModel,
    responses={422: {"model": ErrorModel}, 413: {"model": ErrorModel}, 503: {"model": ErrorModel}},
    summary="Answer a question with verbatim, cited quotes",
    tags=["answers"],
)
async def ask(body: AskRequest, request: Request) -> Any:
    engine = engine_of(request)
    try:
        answer = await asyncio.to_thread(engine.ask, body.question, kinds=body.kinds)
    except QuestionError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return answer.to_dict()


@router.get("/healthz", response_model=HealthModel, tags=["service"], summary="Readiness and index facts")
async def healthz(request: Request) -> Any:
    holder = holder_of(request)
    engine = holder.engine
    if engine is None:
        return JSONResponse(
            HealthModel(status="unavailable", ready=False, version=__version__, error=holder.error).model_dump(),
            status_code=503,
        )
    return HealthModel(status="ok", ready=True, version=__version__, error=holder.error, **engine.info())
