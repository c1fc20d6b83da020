"""The web chat: the chat page (`GET /`, no-JS `POST /`), the source viewer, and 👍/👎 feedback.

Pages are Jinja2 templates in `web/templates/` (autoescaped) that include the shared answer fragment
`answer/answer.html.j2`; CSS and JavaScript are files in `web/static/`, served from `/static/`. With
JavaScript the page asks `POST /api/ask` and draws the JSON answer without reloading; without it the
form posts here and the server renders the same answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .config import Settings
from .documents import Answer, kind_heading, kind_order
from .engine import NO_KIND_MESSAGE, Engine, QuestionError
from .render import environment, web_dir
from .schemas import AnswerModel

router = APIRouter()
SOURCE_PREFIX = "/source/"


class FeedbackRequest(BaseModel):
    """A 👍 (1) or 👎 (-1) on one answer, with the question and the answer JSON as shown."""

    model_config = ConfigDict(extra="forbid")

    rating: Literal[1, -1] = Field(..., description="1 for 👍, -1 for 👎.")
    question: str = Field(..., min_length=1, max_length=10_000)
    answer: AnswerModel
    comment: str | None = Field(None, max_length=2_000, description="Optional free text.")


class FeedbackStored(BaseModel):
    id: int
    stored: bool = True


def kind_label(kind: str) -> str:
    """A checkbox label for a source kind: "Guidelines", "FDA Drug Label", "Research", …"""
    return kind_heading(kind).removeprefix("From the ").removeprefix("From ")


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _engine(request: Request) -> Engine | None:
    return request.app.state.holder.engine  # type: ignore[no-any-return]


def when(iso: object) -> str:
    """An ISO timestamp as "2026-11-24 04:02 UTC" (as given when it is not ISO)."""
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo is not None else "")


def page(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page template with the facts every page shows (the index in the header)."""
    engine = _engine(request)
    info = engine.info() if engine is not None else None
    holder_error = request.app.state.holder.error
    html = environment(_settings(request).web_dir).get_template(name).render(
        info=info, built=when(info["built_at"]) if info else "", index_error=holder_error if info is None else None,
        version=__version__, **context
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def kind_choices(engine: Engine | None, chosen: list[str] | None) -> list[dict[str, Any]]:
    kinds: dict[str, int] = engine.info()["kinds"] if engine is not None else {}
    return [
        {"kind": k, "label": kind_label(k), "chunks": n, "checked": not chosen or k in chosen}
        for k, n in sorted(kinds.items(), key=lambda kv: kind_order(kv[0]))
    ]


def chat_page(
    request: Request,
    *,
    status: int = 200,
    question: str = "",
    kinds: list[str] | None = None,
    answer: Answer | None = None,
    error: str | None = None,
) -> HTMLResponse:
    settings = _settings(request)
    return page(
        request,
        "chat.html",
        status=status,
        question=question,
        kinds=kind_choices(_engine(request), kinds),
        answer=answer,
        answer_json=json.dumps(answer.to_dict(), ensure_ascii=False) if answer is not None else "",
        error=error,
        max_chars=settings.max_question_chars,
        answer_id="a",
        source_prefix=SOURCE_PREFIX,
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def chat(request: Request, q: str | None = None) -> HTMLResponse:
    """The chat page; `?q=QUESTION` (the Slack "full answer" link) opens it with that question answered."""
    if q is not None and q.strip():
        return await answer_page(request, q[: _settings(request).max_question_chars * 2], None)
    return chat_page(request)


@router.post("/", response_class=HTMLResponse, include_in_schema=False)
async def chat_form(
    request: Request,
    question: Annotated[str, Form()] = "",
    kinds: Annotated[list[str] | None, Form()] = None,
    kinds_offered: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """The no-JavaScript path: the form posts here and the answer is rendered on the server."""
    if kinds_offered and not kinds:  # the boxes were shown and none was ticked: the same rule as the API
        return chat_page(request, status=422, question=question, kinds=[], error=NO_KIND_MESSAGE)
    return await answer_page(request, question, kinds)


async def answer_page(request: Request, question: str, kinds: list[str] | None) -> HTMLResponse:
    engine = _engine(request)
    if engine is None:
        return chat_page(request, status=503, question=question, kinds=kinds,
                         error="The index is not loaded yet; try again shortly.")  # fmt: skip
    present = set(engine.info()["kinds"])
    chosen = [k for k in kinds or [] if k in present]
    filter_kinds = chosen if chosen and set(chosen) != present else None
    try:
        answer = await asyncio.to_thread(engine.ask, question, kinds=filter_kinds)
    except QuestionError as exc:
        return chat_page(request, status=422, question=question, kinds=chosen, error=str(exc))
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.observe_answer(answer.answered, channel="form")
    return chat_page(request, question="", kinds=chosen, answer=answer)


def _highlight(text: str, start: str | None, end: str | None) -> tuple[int, int] | None:
    try:
        a, b = int(start or ""), int(end or "")
    except ValueError:
        return None
    return (a, b) if 0 <= a < b <= len(text) else None


@router.get("/source/{doc_id:path}", response_class=HTMLResponse, include_in_schema=False)
async def source(request: Request, doc_id: str, start: str | None = None, end: str | None = None) -> HTMLResponse:
    """The whole source document, with the quoted span `[start, end)` highlighted (`#quote` scrolls to it)."""
    engine = _engine(request)
    document = await asyncio.to_thread(engine.index.document, doc_id) if engine is not None else None
    if document is None:
        return page(request, "not_found.html", status=404, doc_id=doc_id)
    span = _highlight(document.text, start, end)
    text = document.text
    parts = (text[: span[0]], text[span[0] : span[1]], text[span[1] :]) if span else (text, "", "")
    url = document.url if document.url and document.url.startswith(("http://", "https://")) else None
    return page(
        request,
        "source.html",
        document=document,
        kind=kind_label(document.kind),
        quoted_from=kind_heading(document.kind_at(span[0])) if span else None,
        before=parts[0],
        quote=parts[1],
        after=parts[2],
        url=url,
        raw_url=document.url if url is None else None,
    )


def _store(request: Request, body: FeedbackRequest) -> int:
    answer = body.answer.model_dump()
    meta = {"user_agent": request.headers.get("user-agent", "")[:200]}
    if body.comment:
        meta["comment"] = body.comment
    row = request.app.state.feedback.add(rating=body.rating, question=body.question, answer=answer,
                                         channel="web", meta=meta)  # fmt: skip
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.observe_feedback(body.rating)
    return int(row)


@router.post(
    "/api/feedback",
    status_code=201,
    response_model=FeedbackStored,
    responses={
        422: {"description": "Not a valid vote"},
        413: {"description": "Request body too large"},
        400: {"description": "The body is not parseable JSON"},
        415: {"description": "The body is not JSON"},
    },
    tags=["feedback"],
    summary="Store a 👍/👎 on an answer",
)
async def feedback_json(body: FeedbackRequest, request: Request) -> FeedbackStored:
    return FeedbackStored(id=await asyncio.to_thread(_store, request, body))


@router.post("/feedback", response_class=HTMLResponse, include_in_schema=False)
async def feedback_form(
    request: Request,
    rating: Annotated[str, Form()] = "",
    question: Annotated[str, Form()] = "",
    answer: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The no-JavaScript vote: the 👍/👎 buttons under a server-rendered answer post here."""
    try:
        body = FeedbackRequest.model_validate(
            {"rating": int(rating), "question": question, "answer": json.loads(answer)}
        )
    except (ValueError, ValidationError, RecursionError):  # RecursionError: `[[[[…` nested past the parser
        return page(request, "message.html", status=422, title="Feedback not stored",
                    message="That vote could not be read. Go back and try again.")  # fmt: skip
    await asyncio.to_thread(_store, request, body)
    return page(request, "message.html", title="Thank you", message="Your feedback was stored.")


@router.get(
    "/api/feedback",
    tags=["feedback"],
    summary="Export all feedback as JSON lines",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per line."}},
)
async def feedback_export(request: Request) -> StreamingResponse:
    rows = await asyncio.to_thread(lambda: list(request.app.state.feedback.export()))

    def lines() -> Iterator[str]:
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"cache-control": "no-store"})  # fmt: skip


def not_found(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
    """404s: a friendly page for browsers, JSON for the API and other clients."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": getattr(exc, "detail", None) or "Not Found"}, status_code=404)
    return page(request, "not_found.html", status=404, doc_id=None)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add the chat pages, the feedback routes and `/static/` to the app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=web_dir(settings.web_dir) / "static"), name="static")
    app.add_exception_handler(404, not_found)
