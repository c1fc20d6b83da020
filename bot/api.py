"""JSON API: POST /api/ask and GET /healthz."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from . import __version__
from .engine import Engine, EngineHolder, QuestionError
from .schemas import AnswerModel, AskRequest, ErrorModel, HealthModel

router = APIRouter()
log = logging.getLogger(__name__)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorModel, "description": text}
    for code, text in [
        (400, "The body is not parseable JSON."),
        (413, "The body is too large."),
        (415, "The body is not JSON."),
        (422, "The question or filters are not acceptable; `detail` says why."),
        (429, "Too many questions from this client; see the Retry-After header."),
        (503, "The index is not loaded yet."),
        (504, "The question took too long to answer."),
    ]
}


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
    responses=ERRORS,
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


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """Validation errors as `{"detail": "<one readable line>", "errors": [...]}`, never echoing the input back
    (it may be huge, binary, or not even valid JSON, e.g. NaN)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    content_type = request.headers.get("content-type", "")
    if (
        request.method in {"POST", "PUT", "PATCH"}
        and not _is_json(content_type)
        and any(e.get("loc", ("",))[0] == "body" for e in errors)
    ):
        return JSONResponse(
            {"detail": f"Send the question as JSON (Content-Type: application/json), not {content_type[:60]!r}."},
            status_code=415,
        )
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "The request body is not valid JSON."}, status_code=400)
    parts = []
    cleaned = []
    for e in errors[:10]:
        loc = [str(p)[:60] for p in e.get("loc", ()) if p != "body"]
        msg = str(e.get("msg", "invalid"))[:200]
        parts.append(f"{'.'.join(loc) or 'body'}: {msg}")
        cleaned.append({"loc": loc, "msg": msg, "type": str(e.get("type", ""))})
    return JSONResponse({"detail": "; ".join(parts) or "Invalid request.", "errors": cleaned}, status_code=422)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    from .security import HEADERS, csp_for

    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Starlette sends this from its outermost layer, past the security middleware: add its headers here.
    headers = {"content-security-policy": csp_for(request.url.path), **{k.decode(): v.decode() for k, v in HEADERS}}
    return JSONResponse(
        {"detail": "Internal error; it has been logged. Please try again."}, status_code=500, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error a client can see is a JSON body with `detail`; no traceback or input echo leaves the server."""
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _server_error)
