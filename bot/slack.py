"""Slack: a slash command, the Events API (mentions and DMs) and the 👍/👎 buttons, answering in threads.

`install(app, settings)` mounts the routes only when `BOT_SLACK_SIGNING_SECRET` is set; without it
`/slack/*` is 404 and the startup log says so. Each request is verified with slack_sdk's
`SignatureVerifier` before anything else is done (401 otherwise), and a request whose signature was
already seen (a replay) is not acted on again. Payloads are then read through `slack_payloads` (bounded
JSON, pydantic models): a malformed one is a 400, never a 500. Slack gets its reply at once; the
CPU-bound answering runs in a thread pool and the answer follows through `response_url` or
`chat.postMessage` in the asking message's thread, so Slack's 3-second limit always holds.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from .config import Settings
from .engine import EngineHolder, QuestionError
from .slack_blocks import ACTION_DOWN, ACTION_UP, SlackMessage, answer_message, notice
from .slack_ledger import SlackLedger
from .slack_payloads import (
    ANSWERED_EVENTS,
    BlockActions,
    EventCallback,
    MessageEvent,
    PayloadError,
    SlashCommand,
    UrlVerification,
    parse,
)
from .slack_payloads import json_object as _payload_object

log = logging.getLogger(__name__)
# slack_sdk logs whole requests at DEBUG, response_url included (a credential): keep its loggers at INFO.
http_log = logging.getLogger(__name__ + ".http")
http_log.setLevel(logging.INFO)

INLINE_WAIT_S = 1.5  # a slash command answered this fast gets the answer as its reply, else "Searching…"
ANSWER_THREADS = 4
HTTP_TIMEOUT_S = 15
EXAMPLE = "what does the boxed warning for Humira say?"
HELP = "Ask me a question about the indexed clinical sources, for example: {how} " + EXAMPLE
SEARCHING = "Searching the sources…"
NOT_READY = "The bot is still loading its index; please ask again in a minute."
FAILED = "Sorry, something went wrong while answering (reference {rid}). Please try again later."
REPLAYED = "This Slack request was already received; a replayed request is not acted on again."
SIGNATURE_MAX_AGE_S = 300  # slack_sdk's SignatureVerifier: a timestamp more than 5 minutes off is refused
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() also reads "١٢" and 309-digit numbers
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # what Slack sends; hmac.compare_digest raises on non-ASCII text
THANKS = {1: "Thanks for the 👍, it is recorded.", -1: "Thanks for the 👎, it is recorded and helps improve the bot."}

router = APIRouter(prefix="/slack", tags=["slack"])


@dataclass
class Reply:
    message: SlackMessage
    public: bool = False  # shown to the channel (answers) or only to the asker (declines, errors)

    def body(self) -> dict[str, Any]:
        return {"response_type": "in_channel" if self.public else "ephemeral", **self.message.payload()}


def _origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased ("" when it has none)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}" if parts.scheme and parts.netloc else ""


class SlackService:
    """What the Slack routes share: the verifier, the Web API client, the ledger and a thread pool."""

    def __init__(self, settings: Settings, holder: EngineHolder, *, state: Any = None) -> None:
        assert settings.slack_signing_secret is not None
        self.verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        api_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
        self.client = (
            WebClient(token=token, base_url=api_url, timeout=HTTP_TIMEOUT_S, logger=http_log) if token else None
        )
        self.ledger = SlackLedger.from_settings(settings)
        self.pool = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="slack")
        self.holder = holder
        self.public_url = settings.public_url
        self.api_origin = _origin(api_url)
        self.state = state  # the app's state, for its optional Prometheus metrics

    def observe(self, what: str, value: Any) -> None:
        """Count an answer or a vote in `/metrics` when the app has them; never fails the request."""
        metrics = getattr(self.state, "metrics", None)
        try:
            if metrics is not None and what == "answer":
                metrics.observe_answer(bool(value), channel="slack")
            elif metrics is not None and what == "feedback":
                metrics.observe_feedback(int(value))
        except Exception as exc:
            log.warning("slack: metrics not updated: %s", exc)

    def compose(self, question: str, rid: str) -> Reply:
        """The reply to a question (an answer, a decline or one friendly line); never raises."""
        try:
            engine = self.holder.engine
            if engine is None:
                return Reply(notice(NOT_READY))
            answer = engine.ask(question)
            self.observe("answer", answer.answered)
            if not answer.answered:
                return Reply(answer_message(answer, public_url=self.public_url))
            answer_id = self.ledger.remember(answer.question, answer.to_dict())
            return Reply(answer_message(answer, public_url=self.public_url, answer_id=answer_id), public=True)
        except QuestionError as exc:
            return Reply(notice(str(exc)))
        except Exception:
            log.exception("slack %s: answering failed", rid)
            return Reply(notice(FAILED.format(rid=rid)))

    def answer_in_thread(self, question: str, *, channel: str, thread_ts: str, rid: str) -> None:
        reply = self.compose(question, rid) if question else Reply(notice(HELP.format(how="mention me and ask,")))
        if self.client is None:
            log.error("slack %s: cannot post to %s: BOT_SLACK_BOT_TOKEN is not set", rid, channel)
            return
        message = reply.message
        for attempt in (1, 2):
            try:
                self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=message.text,
                                             blocks=message.blocks, unfurl_links=False, unfurl_media=False)  # fmt: skip
                log.info("slack %s: answered in %s, thread %s", rid, channel, thread_ts)
                return
            except Exception as exc:  # SlackApiError or the network
                log.error("slack %s: chat.postMessage to %s failed (attempt %d): %s", rid, channel, attempt,
                          _describe(exc))  # fmt: skip
                message = notice(FAILED.format(rid=rid))

    def response_url_allowed(self, url: str) -> bool:
        """Slack's own hosts (`https://hooks.slack.com/…`, any `https://*.slack.com`) or the configured Web
        API host (a proxy, the tests' fake): a signed request cannot make the bot POST anywhere else."""
        origin = _origin(url)
        if origin == self.api_origin:
            return True
        scheme, _, host = origin.partition("://")
        host = host.split(":")[0]
        return scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))

    def respond(self, response_url: str, reply: Reply, rid: str) -> None:
        """Post to a command's or an action's `response_url` (never logged: it is a credential)."""
        if not self.response_url_allowed(response_url):
            log.warning("slack %s: response_url is not a Slack URL: not posted", rid)
            return
        try:
            resp = WebhookClient(response_url, timeout=HTTP_TIMEOUT_S, logger=http_log).send_dict(
                {**reply.body(), "replace_original": False}
            )
            if resp.status_code != 200:
                log.error("slack %s: response_url post failed: HTTP %s %s", rid, resp.status_code, resp.body[:200])
        except Exception as exc:
            log.error("slack %s: response_url post failed: %s", rid, _describe(exc))

    def respond_when_done(self, job: Future[Reply] | asyncio.Future[Reply], response_url: str, rid: str) -> None:
        try:
            reply = job.result()
        except BaseException:  # compose() never raises; this is for cancellation at shutdown
            log.exception("slack %s: answer job ended without a reply", rid)
            reply = Reply(notice(FAILED.format(rid=rid)))
        self.pool.submit(self.respond, response_url, reply, rid)


def install(app: FastAPI, settings: Settings) -> bool:
    """Mount /slack/* when a signing secret is configured; returns whether it did."""
    secret = settings.slack_signing_secret
    if secret is None or not secret.get_secret_value().strip():
        log.info("Slack is off: set BOT_SLACK_SIGNING_SECRET to enable /slack/commands, /slack/events, "
                 "/slack/interactions (they answer 404 until then)")  # fmt: skip
        return False
    service = SlackService(settings, app.state.holder, state=app.state)
    app.state.slack = service
    app.include_router(router)
    if service.client is None:
        log.warning("Slack: BOT_SLACK_BOT_TOKEN is not set; slash commands work, mentions and DMs cannot be answered")
    log.info("Slack is on: /slack/commands, /slack/events, /slack/interactions (Web API %s)", settings.slack_api_url)
    return True


def _service(request: Request) -> SlackService:
    return request.app.state.slack  # type: ignore[no-any-return]


def signature_ok(verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's check (slack_sdk), after the headers' shapes are checked here: a timestamp of ASCII digits
    within 5 minutes of now and a `v0=` + 64 hex digits signature. Never raises."""
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_S:
        return False
    try:
        return verifier.is_valid(body, timestamp, signature)
    except (ValueError, TypeError, OverflowError):  # a body that is not UTF-8 cannot be verified
        return False


async def verified_body(request: Request) -> bytes:
    """The raw body, once Slack's signature and timestamp check out (slack_sdk); 401 otherwise.

    Also records the signature (until its timestamp leaves the 5-minute window) and sets
    `request.state.slack_replayed` when it was seen before: the routes then do nothing (`fresh_body`).
    """
    body = await request.body()
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise HTTPException(401, "Missing Slack signature headers.")
    service = _service(request)
    if not signature_ok(service.verifier, body, timestamp, signature):
        log.warning("slack: rejected a request to %s: invalid signature or stale timestamp", request.url.path)
        raise HTTPException(401, "Invalid Slack signature or stale timestamp.")
    expires = int(timestamp) + SIGNATURE_MAX_AGE_S + 1
    # the ledger may be a database server (BOT_DATABASE_URL): its round trips stay off the event loop
    request.state.slack_replayed = not await asyncio.to_thread(service.ledger.first_signature, signature, expires)
    if request.state.slack_replayed:
        log.warning("slack: a replayed request to %s (its signature was already used): not acted on",
                    request.url.path)  # fmt: skip
    return body


async def fresh_body(request: Request, body: bytes = Depends(verified_body)) -> bytes:
    """A verified body that was not seen before; 409 for a replay (slash commands and buttons: Slack never
    sends those twice, so only a replay repeats one)."""
    if request.state.slack_replayed:
        raise HTTPException(409, REPLAYED)
    return body


def _form(body: bytes) -> dict[str, str]:
    try:
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "Expected a form-encoded body.") from exc


def _json_object(raw: str | bytes, what: str) -> dict[str, Any]:
    """A JSON object within the depth limit, finite numbers and valid Unicode only; 400 otherwise."""
    try:
        return _payload_object(raw, what)
    except PayloadError as exc:
        raise HTTPException(400, str(exc)) from None


def _parse(model: type[Any], data: Any, what: str) -> Any:
    try:
        return parse(model, data, what)
    except PayloadError as exc:
        raise HTTPException(400, str(exc)) from None


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


@router.post("/commands", summary="Slash command, e.g. `/ask how is calcinosis cutis treated?`")
async def commands(request: Request, body: bytes = Depends(fresh_body)) -> Any:
    cmd: SlashCommand = _parse(SlashCommand, _form(body), "slash command")
    response_url = cmd.response_url
    question = plain_text(cmd.text)
    if question.lower() in ("", "help"):
        return Reply(notice(HELP.format(how=f"{cmd.command or '/ask'}"))).body()
    service, rid = _service(request), new_request_id()
    log.info("slack %s: %s from %s in %s", rid, cmd.command or "command", cmd.user_id, cmd.channel_id)
    job = asyncio.get_running_loop().run_in_executor(service.pool, service.compose, question, rid)
    try:
        reply = await asyncio.wait_for(asyncio.shield(job), INLINE_WAIT_S)
    except TimeoutError:
        job.add_done_callback(lambda done: service.respond_when_done(done, response_url, rid))
        return Reply(notice(SEARCHING)).body()
    return reply.body()


@router.post("/events", summary="Events API: url_verification, app_mention, message.im")
async def events(request: Request, body: bytes = Depends(verified_body)) -> Any:
    if request.state.slack_replayed:  # Slack's own convention for what was already handled: 200, nothing done
        return {"ok": True, "ignored": "already handled"}
    payload = _json_object(body, "event payload")
    kind = payload.get("type")
    if kind == "url_verification":
        return {"challenge": _parse(UrlVerification, payload, "url_verification payload").challenge}
    if kind != "event_callback":
        return {"ok": True, "ignored": f"payload type {_short(kind)}"}
    envelope: EventCallback = _parse(EventCallback, payload, "event_callback")
    event, event_id = envelope.event, envelope.event_id
    message: MessageEvent | None = None
    if event.get("type") in ANSWERED_EVENTS:
        message = _parse(MessageEvent, event, "event")
    why = ignore_reason(event, envelope.bot_users())
    if why or message is None:
        return {"ok": True, "ignored": why or "not a message"}
    if not message.channel:
        raise HTTPException(400, "The event has no `channel`.")
    if not message.ts:
        raise HTTPException(400, "The event has no `ts`.")
    channel, ts, text = message.channel, message.ts, message.text
    thread_ts = message.thread_ts or ts
    service, rid = _service(request), new_request_id()
    retry = request.headers.get("x-slack-retry-num")
    # The same event (a retry) or the same message (a mention in a DM also arrives as message.im): once.
    if not await asyncio.to_thread(service.ledger.first_time, f"event:{event_id}", f"message:{channel}:{ts}"):
        log.info("slack %s: %s already handled (retry %s)", rid, event_id, retry or "-")
        return {"ok": True, "ignored": "already handled"}
    log.info("slack %s: %s %s from %s in %s", rid, event_id, message.type, message.user, channel)
    service.pool.submit(service.answer_in_thread, plain_text(text), channel=channel, thread_ts=thread_ts, rid=rid)
    return {"ok": True}


@router.post("/interactions", summary="Interactivity: the 👍/👎 buttons under answers")
async def interactions(request: Request, body: bytes = Depends(fresh_body)) -> Response:
    form = _form(body)
    if "payload" not in form:
        raise HTTPException(400, "The interaction has no `payload`.")
    payload = _json_object(form["payload"], "interaction payload")
    if payload.get("type") != "block_actions":
        return Response(status_code=200)
    click: BlockActions = _parse(BlockActions, payload, "block_actions payload")
    ratings = [(action, {ACTION_UP: 1, ACTION_DOWN: -1}.get(action.action_id or "")) for action in click.actions]
    if any(rating is not None and not action.value for action, rating in ratings):
        raise HTTPException(400, "The feedback action has no `value`.")  # checked before any vote is stored
    service, rid = _service(request), new_request_id()
    for action, rating in ratings:
        if rating is None or not action.value:
            continue
        answer_id = action.value
        record = await asyncio.to_thread(service.ledger.recall, answer_id)
        question, answer = record if record else (click.message.header_text() if click.message else "", {})
        meta: dict[str, Any] = {"answer_id": answer_id, "request_id": rid, "known_answer": bool(record)}
        meta.update({key: ref.id if ref else None for key, ref in
                     (("user", click.user), ("team", click.team), ("channel", click.channel))})  # fmt: skip
        await asyncio.to_thread(
            request.app.state.feedback.add, rating=rating, question=question, answer=answer, channel="slack", meta=meta
        )
        service.observe("feedback", rating)
        log.info("slack %s: feedback %+d on answer %s", rid, rating, answer_id)
        if click.response_url:
            service.pool.submit(service.respond, click.response_url, Reply(notice(THANKS[rating])), rid)
    return Response(status_code=200)


def bot_users(payload: dict[str, Any]) -> set[str]:
    """The bot's own user ids, from the event's `authorizations` (and the older `authed_users`); the ones
    that are strings in lists of the right shapes (anything else is no user id)."""
    auths, authed = payload.get("authorizations"), payload.get("authed_users")
    users = [a.get("user_id") for a in auths if isinstance(a, dict)] if isinstance(auths, list) else []
    users += authed if isinstance(authed, list) else []
    return {u for u in users if isinstance(u, str) and u}


def _short(value: Any, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters: what an ignored payload's type or subtype was."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ignore_reason(event: dict[str, Any], own_users: set[str]) -> str | None:
    """Why an event gets no answer (None: answer it). Only mentions and direct messages from people.
    Never raises, whatever the event's fields hold."""
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in ("app_mention", "message"):
        return f"event type {_short(kind)}"
    if event.get("bot_id") or event.get("bot_profile") or event.get("subtype") == "bot_message":
        return "a bot's message"
    user = event.get("user")
    if isinstance(user, str) and user in own_users:
        return "the bot's own message"
    if event.get("subtype"):
        return f"message subtype {_short(event.get('subtype'))}"
    if kind == "message" and event.get("channel_type") != "im":
        return "a channel message without a mention"
    if not event.get("user"):
        return "no user"
    return None


_MENTION = re.compile(r"<[@!][^>]*>")
_LINK = re.compile(r"<([^>|]*)(?:\|([^>]*))?>")


def plain_text(text: str) -> str:
    """A Slack message's text as the user typed it: mentions dropped, links and entities undone."""
    text = _MENTION.sub(" ", text)
    text = _LINK.sub(
        lambda m: ("#" if m.group(1).startswith("#") else "") + (m.group(2) or m.group(1).lstrip("#")), text
    )
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def _describe(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack API error {exc.response.get('error')!r} (HTTP {exc.response.status_code})"
    return f"{type(exc).__name__}: {exc}"
