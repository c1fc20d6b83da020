"""Slack's payloads, checked at the edge: bounded JSON, then pydantic models of the fields the bot uses.

A request whose signature checks out still carries whatever its sender put in it, so every payload is read
here before any route looks at it. JSON is scanned for its nesting depth before it is parsed (a 50,000-deep
array would otherwise exhaust the parser's recursion), must hold finite numbers only (no `NaN`, `Infinity`
or `1e999`) and valid Unicode (no lone surrogates, which SQLite cannot store), and is then validated
against a model. The models are lenient: every field Slack adds and the bot ignores is allowed and kept as
it is; only the fields the bot reads are typed, strictly (a `user` that is a list, `authorizations: 5` or
`message.blocks: 5` are refused, not coerced). Anything refused raises `PayloadError`, which the routes
answer with 400 and the one line it carries; the input itself is never echoed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_JSON_DEPTH = 64  # Slack's own payloads nest about 10 deep (a rated message's blocks included)

M = TypeVar("M", bound=BaseModel)


class PayloadError(ValueError):
    """A verified Slack request whose payload the bot cannot use (the routes answer it with 400)."""


# The characters that matter for nesting outside strings, and a whole string (possessive: linear time).
_STRUCTURE = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'(?:[^"\\]++|\\.)*+"', re.S)


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep `text`'s brackets nest outside strings, counting only up to `limit + 1` (it stops there).

    One pass over the text that skips strings whole, so it is linear whatever the input; text that is not
    JSON gets some number and is refused by the parser afterwards.
    """
    depth = deepest = 0
    pos = 0
    while (found := _STRUCTURE.search(text, pos)) is not None:
        char, pos = found.group(), found.end()
        if char == '"':
            rest = _STRING_REST.match(text, pos)
            if rest is None:  # an unterminated string: nothing after it is structure
                break
            pos = rest.end()
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth = max(depth - 1, 0)
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError("numbers must be finite")
    return value


def _no_constant(name: str) -> float:
    raise PayloadError(f"{name} is not a JSON number")


def loads(raw: str | bytes, what: str) -> Any:
    """Parse a payload's JSON within the depth limit; PayloadError (saying what is wrong) otherwise."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise PayloadError(f"The {what} is not valid UTF-8.") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise PayloadError(f"The {what} nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except PayloadError as exc:
        raise PayloadError(f"The {what} is not valid JSON ({exc}).") from None
    except (ValueError, RecursionError):  # RecursionError cannot happen within the depth limit; kept as a net
        raise PayloadError(f"The {what} is not valid JSON.") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # one pass in C over every key and string
    except UnicodeEncodeError:
        raise PayloadError(f"The {what} is not valid Unicode text (it contains lone surrogates).") from None
    return data


def json_object(raw: str | bytes, what: str) -> dict[str, Any]:
    data = loads(raw, what)
    if not isinstance(data, dict):
        raise PayloadError(f"The {what} must be a JSON object.")
    return data


def parse(model: type[M], data: Any, what: str) -> M:
    """`data` as `model`; PayloadError naming the first field that does not fit (never its value)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] in ("missing", "string_too_short") and where:
            raise PayloadError(f"The {what} has no `{where}`.") from None
        if not where:
            raise PayloadError(f"The {what} must be a JSON object.") from None
        raise PayloadError(f"The {what}'s `{where}` is malformed: {error['msg']}.") from None


class SlackPayload(BaseModel):
    """Extra fields allowed and kept; the typed ones are checked strictly (no coercion)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


# --- slash commands (form-encoded) ---------------------------------------------------------------------


class SlashCommand(SlackPayload):
    response_url: str = Field(min_length=1)
    text: str
    command: str | None = None
    user_id: str | None = None
    channel_id: str | None = None


# --- Events API (JSON) ---------------------------------------------------------------------------------


class UrlVerification(SlackPayload):
    type: Literal["url_verification"]
    challenge: str = Field(min_length=1)


class Authorization(SlackPayload):
    user_id: str | None = None


class EventCallback(SlackPayload):
    type: Literal["event_callback"]
    event_id: str = Field(min_length=1)
    event: dict[str, Any]
    authorizations: list[Authorization] | None = None
    authed_users: list[str] | None = None  # the older form of `authorizations`

    def bot_users(self) -> set[str]:
        """The bot's own user ids, from `authorizations` (and the older `authed_users`)."""
        users = {a.user_id for a in self.authorizations or [] if a.user_id}
        return users | set(self.authed_users or [])


ANSWERED_EVENTS = ("app_mention", "message")


class MessageEvent(SlackPayload):
    """An `app_mention` or `message` event: the only ones the bot may answer, so the only ones it reads."""

    type: str
    user: str | None = None
    text: str = ""
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    channel_type: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    bot_profile: dict[str, Any] | None = None


# --- interactivity (a form field `payload` holding JSON) -----------------------------------------------


class Ref(SlackPayload):
    id: str | None = None


class Action(SlackPayload):
    action_id: str | None = None
    value: str | None = None


class RatedMessage(SlackPayload):
    blocks: list[dict[str, Any]] | None = None

    def header_text(self) -> str:
        """The text of the first `header` block (the question, on the bot's answers); "" when none."""
        for block in self.blocks or []:
            text = block.get("text") if block.get("type") == "header" else None
            if isinstance(text, dict) and isinstance(text.get("text"), str):
                return str(text["text"])
        return ""


class BlockActions(SlackPayload):
    type: Literal["block_actions"]
    actions: list[Action]
    response_url: str | None = None
    user: Ref | None = None
    team: Ref | None = None
    channel: Ref | None = None
    message: RatedMessage | None = None
