"""The web chat: the chat page (`GET /`, no-JS `POST /`), the source viewer, and 👍/👎 feedback.

Pages are Jinja2 templates in `web/templates/` (autoescaped) that include the shared answer fragment
`answer/answer.html.j2`; CSS and JavaScript are files in `web/static/`, served from `/static/`. With
JavaScript the page asks `POST /api/ask` and draws the JSON answer without reloading; without it the
form posts here and the server renders the same answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .config import Settings
from .documents import Answer, kind_heading, kind_order
from .engine import NO_KIND_MESSAGE, Engine, QuestionError
from .render import environment, web_dir
from .schemas import AnswerModel, ErrorModel
from .security import ThrottledLog, cross_site, json_too_deep

router = APIRouter()
log = logging.getLogger(__name__)
SOURCE_PREFIX = "/source/"
MAX_VOTE_BYTES = 32_768  # question + answer JSON + comment of one stored vote (an answer is a few KB)
VOTE_TOKEN_TTL_S = 24 * 3600  # a no-JavaScript vote form is good for a day after the answer was shown
EXPORT_PAGE = 200  # feedback rows read from SQLite and sent per step of the export
REFUSED_EXPORTS = ThrottledLog(log)
ADMIN = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The server's `BOT_ADMIN_TOKEN`, sent as `Authorization: Bearer <token>`. Without "
    "`BOT_ADMIN_TOKEN` the export is off (404).",
)


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


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")  # browsers send form values with CRLF line breaks


def _vote_mac(key: bytes, issued: int, question: str, answer_json: str) -> str:
    signed = "\0".join(("vote", str(issued), _newlines(question), _newlines(answer_json)))
    return hmac.new(key, signed.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def vote_token(key: bytes, question: str, answer_json: str, *, now: float | None = None) -> str:
    """The hidden `token` of a server-rendered vote form: when it was made, and an HMAC (the key lives in the
    feedback database) of that time with the question and answer JSON of the form. `POST /feedback` stores only
    votes whose token matches: another site cannot make one, and it cannot be reused for other text."""
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_vote_mac(key, issued, question, answer_json)}"


def vote_token_ok(key: bytes, token: str, question: str, answer_json: str, *, now: float | None = None) -> bool:
    issued_text, _, mac = token.partition(".")
    if not re.fullmatch(r"[0-9]{1,12}", issued_text):
        return False
    issued, now = int(issued_text), time.time() if now is None else now
    if not now - VOTE_TOKEN_TTL_S <= issued <= now + 300:
        return False
    expected = _vote_mac(key, issued, question, answer_json)
    return hmac.compare_digest(mac.encode("utf-8", "replace"), expected.encode())


def _cross_site(request: Request) -> str | None:
    return cross_site(request.headers, host=request.headers.get("host"), public_url=_settings(request).public_url)


def _vote_size(body: FeedbackRequest) -> int:
    answer = json.dumps(body.answer.model_dump(), ensure_ascii=False)
    return sum(len(t.encode("utf-8", "surrogatepass")) for t in (body.question, answer, body.comment or ""))


def _too_large(size: int) -> str:
    return (f"The vote is too large to store ({size:,} bytes of question, answer and comment; "
            f"the limit is {MAX_VOTE_BYTES:,}).")  # fmt: skip


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
    answer_json = json.dumps(answer.to_dict(), ensure_ascii=False) if answer is not None else ""
    token = vote_token(request.app.state.vote_key, answer.question, answer_json) if answer is not None else ""
    return page(
        request,
        "chat.html",
        status=status,
        question=question,
        kinds=kind_choices(_engine(request), kinds),
        answer=answer,
        answer_json=answer_json,
        vote_token=token,
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
        422: {"model": ErrorModel, "description": "Not a valid vote"},
        413: {"model": ErrorModel, "description": "The request body, or the vote it holds, is too large"},
        400: {"model": ErrorModel, "description": "The body is not parseable JSON, or nested too deeply"},
        403: {"model": ErrorModel, "description": "Sent by a page of another site"},
        415: {"model": ErrorModel, "description": "The body is not JSON"},
        429: {"model": ErrorModel, "description": "Too many votes from this client; see the Retry-After header"},
    },
    tags=["feedback"],
    summary="Store a 👍/👎 on an answer",
    description=f"At most {MAX_VOTE_BYTES:,} bytes of question, answer and comment per vote; votes are rate "
    "limited per client (`BOT_FEEDBACK_PER_MINUTE`). A browser request from a page of another site is refused.",
)
async def feedback_json(body: FeedbackRequest, request: Request) -> Any:
    refused = _cross_site(request)
    if refused is not None:
        return JSONResponse({"detail": "Votes are only accepted from this site's own pages."}, status_code=403)
    size = _vote_size(body)
    if size > MAX_VOTE_BYTES:
        return JSONResponse({"detail": _too_large(size)}, status_code=413)
    return FeedbackStored(id=await asyncio.to_thread(_store, request, body))


@router.post("/feedback", response_class=HTMLResponse, include_in_schema=False)
async def feedback_form(
    request: Request,
    rating: Annotated[str, Form()] = "",
    question: Annotated[str, Form()] = "",
    answer: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The no-JavaScript vote: the 👍/👎 buttons under a server-rendered answer post here, with the form's token."""

    def refused(status: int, message: str) -> HTMLResponse:
        return page(request, "message.html", status=status, title="Feedback not stored", message=message)

    if _cross_site(request) is not None:
        return refused(403, "This vote was sent from a page of another site, so it was not stored.")
    if not vote_token_ok(request.app.state.vote_key, token, question, answer):
        return refused(403, "This vote could not be verified (the page may be more than a day old). "
                            "Ask the question again and vote on the new answer.")  # fmt: skip
    if json_too_deep(answer):  # checked before parsing: `[[[[…` would take the parser past the recursion limit
        return refused(422, "That vote could not be read. Go back and try again.")
    try:
        body = FeedbackRequest.model_validate(
            {"rating": int(rating), "question": question, "answer": json.loads(answer)}
        )
    except (ValueError, ValidationError, RecursionError):
        return refused(422, "That vote could not be read. Go back and try again.")
    size = _vote_size(body)
    if size > MAX_VOTE_BYTES:
        return refused(413, _too_large(size))
    await asyncio.to_thread(_store, request, body)
    return page(request, "message.html", title="Thank you", message="Your feedback was stored.")


@router.get(
    "/api/feedback",
    tags=["feedback"],
    summary="Export all feedback as JSON lines (admin token)",
    description="Every stored vote, oldest first, one JSON object per line, streamed from the database. Needs "
    "`Authorization: Bearer <BOT_ADMIN_TOKEN>`; without `BOT_ADMIN_TOKEN` set on the server the export is off.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per line."},
        401: {"model": ErrorModel, "description": "No admin token, or the wrong one"},
        404: {"model": ErrorModel, "description": "The export is off: BOT_ADMIN_TOKEN is not set"},
    },
)
async def feedback_export(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ADMIN)]
) -> Response:
    token = _settings(request).admin_token
    if token is None:
        return JSONResponse(
            {"detail": "The feedback export is off; set BOT_ADMIN_TOKEN on the server to turn it on."},
            status_code=404,
            headers={"cache-control": "no-store"},
        )
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.get_secret_value().encode()):
        if given:
            client = request.client.host if request.client else "?"
            REFUSED_EXPORTS.note("refused a feedback export to %s: wrong admin token", client)
        return JSONResponse(
            {"detail": "The feedback export needs the admin token: Authorization: Bearer <BOT_ADMIN_TOKEN>."},
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="feedback export"', "cache-control": "no-store"},
        )
    rows = request.app.state.feedback.export(page=EXPORT_PAGE)

    async def lines() -> AsyncIterator[str]:
        while chunk := await asyncio.to_thread(_next_lines, rows):
            yield chunk

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"cache-control": "no-store"})  # fmt: skip


def _next_lines(rows: Iterator[dict[str, Any]]) -> str:
    """The next EXPORT_PAGE rows as JSON lines ("" at the end)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in itertools.islice(rows, EXPORT_PAGE))


def not_found(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
    """404s: a friendly page for browsers, JSON for the API and other clients."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": getattr(exc, "detail", None) or "Not Found"}, status_code=404)
    return page(request, "not_found.html", status=404, doc_id=None)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add the chat pages, the feedback routes and `/static/` to the app."""
    app.state.vote_key = app.state.feedback.secret("vote-form")
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=web_dir(settings.web_dir) / "static"), name="static")
    app.add_exception_handler(404, not_found)
