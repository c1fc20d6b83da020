"""Block Kit messages built from an `Answer`, inside Slack's limits.

Every line a user reads is fixed template text or an exact quote; a quote is only ever shortened
(at the end, marked with "…") when it alone would break a limit, and then the message says it was
trimmed and links to the full answer in the web chat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .documents import Answer, Bullet, Reference
from .render import label, reference_details

MAX_BLOCKS = 50  # blocks in one message
MAX_SECTION_TEXT = 3000  # characters in a section's (or a context element's) text
MAX_HEADER_TEXT = 150  # characters in a header block
MAX_FALLBACK_TEXT = 3000  # our own cap on the notification text
MAX_LABEL_TEXT = 300  # our own cap on a quote's section label and a reference's details (before escaping)
ELLIPSIS = "…"

FEEDBACK_BLOCK_ID = "bot_feedback"
ACTION_UP = "bot_feedback_up"
ACTION_DOWN = "bot_feedback_down"
TRIMMED_NOTE = "Trimmed to fit in Slack."
FULL_ANSWER = "Open the full answer in the web chat"


@dataclass
class SlackMessage:
    """A message ready for `chat.postMessage` or a `response_url`: `text` is the notification fallback."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    trimmed: bool = False

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class Links:
    """Where citations and the "full answer" link point: the web chat at `BOT_PUBLIC_URL`."""

    public_url: str

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    def source(self, doc_id: str, start: int | None = None, end: int | None = None) -> str:
        url = f"{self.base}/source/{quote(doc_id, safe='')}"
        if start is not None and end is not None:
            url += "?" + urlencode({"start": start, "end": end})
        return url

    def chat(self, question: str) -> str:
        return f"{self.base}/?" + urlencode({"q": question})


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves (`&`, `<`, `>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """An mrkdwn link; the label must already be escaped. In the URL `&`, `<` and `>` are escaped as Slack
    specifies and `|` (which would end the URL part) is percent-encoded."""
    return f"<{escape(url).replace('|', '%7C')}|{label}>"


def linkable(url: str | None) -> bool:
    """Only http(s) URLs become links (never `javascript:` and the like), as on the web page."""
    return bool(url) and str(url).lower().startswith(("https://", "http://"))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def notice(text: str) -> SlackMessage:
    """One short line of fixed text (a decline, an error, "Searching…")."""
    line = clip(escape(text), MAX_SECTION_TEXT)
    return SlackMessage(text=line, blocks=[section(line)])


def answer_message(
    answer: Answer, *, public_url: str, answer_id: str | None = None, max_blocks: int = MAX_BLOCKS
) -> SlackMessage:
    """The answer as Block Kit: header, a section per source kind, references, feedback buttons.

    A decline is one short message. When the answer does not fit in `max_blocks`, the last quotes are
    left out (and references nobody cites any more) and a note links to the full answer.
    """
    if not answer.answered:
        return notice(answer.message or "I could not find this in the sources I have.")
    links = Links(public_url)
    bullets = [(s.kind, s.heading, b) for s in answer.sections for b in s.bullets]
    keep = len(bullets)
    while True:
        blocks, clipped = _layout(answer, bullets[:keep], links, answer_id)
        trimmed = clipped or keep < len(bullets)
        if trimmed:
            blocks = _with_note(blocks, links.chat(answer.question), has_buttons=answer_id is not None)
        if len(blocks) <= max_blocks or keep == 0:
            break
        keep -= 1
    n_refs = len({n for _, _, b in bullets[:keep] for n in b.citations})
    text = f"{answer.question} ({_count(keep, 'quote')} from {_count(n_refs, 'source')})"
    return SlackMessage(text=clip(escape(text), MAX_FALLBACK_TEXT), blocks=blocks[:max_blocks], trimmed=trimmed)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _layout(
    answer: Answer, bullets: list[tuple[str, str, Bullet]], links: Links, answer_id: str | None
) -> tuple[list[dict[str, Any]], bool]:
    header = {"type": "header", "text": {"type": "plain_text", "text": clip(answer.question, MAX_HEADER_TEXT)}}
    blocks: list[dict[str, Any]] = [header]
    clipped = False
    kind = None
    cited: set[int] = set()
    for bullet_kind, heading, bullet in bullets:
        if bullet_kind != kind:
            kind = bullet_kind
            blocks.append(section(f"*{escape(heading)}*"))
        text, was_clipped = _quote_text(bullet, links)
        clipped |= was_clipped
        cited.update(bullet.citations)
        blocks.append(section(text))
    references = [r for r in answer.references if r.n in cited]
    if references:
        blocks += [{"type": "divider"}, section("*References*")]
        blocks += [{"type": "context", "elements": [mrkdwn(_reference_text(r, links))]} for r in references]
    if answer_id is not None:
        blocks.append(feedback_actions(answer_id))
    return blocks, clipped


def _quote_text(bullet: Bullet, links: Links) -> tuple[str, bool]:
    """`>quote [1]` with the citation linking to the quoted span in the source viewer, and under it the
    quote's place in its source in italics (`_Boxed Warning › …_`) when it has one."""
    cites = " ".join(link(links.source(bullet.doc_id, bullet.start, bullet.end), f"[{n}]") for n in bullet.citations)
    where = label(bullet.section)
    after = f"\n_{escape(clip(where, MAX_LABEL_TEXT))}_" if where else ""
    room = MAX_SECTION_TEXT - len(cites) - 2 - len(after)
    quote_ = bullet.quote
    clipped = _quoted_len(quote_) > room
    if clipped:
        quote_ = _fit(quote_, room - len(ELLIPSIS), _quoted_len).rstrip() + ELLIPSIS
    return ">" + escape(quote_).replace("\n", "\n>") + " " + cites + after, clipped


def _quoted_len(text: str) -> int:
    return len(escape(text)) + text.count("\n")


def _fit(text: str, room: int, cost: Callable[[str], int]) -> str:
    """The longest prefix of `text` whose `cost` is at most `room` (cost grows with length)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if cost(text[:mid]) <= room else (lo, mid - 1)
    return text[:lo]


def _reference_text(ref: Reference, links: Links) -> str:
    """`*[1]* title — FDA label, Boxed Warning, 2013-09-30 · drug label · original`: the title links to the
    source viewer; the details (source, locator, date) show when the reference has them."""
    details = reference_details(ref)
    tail = f" — {escape(clip(details, MAX_LABEL_TEXT))}" if details else ""
    tail += f" · {escape(ref.kind.replace('_', ' '))}"
    if ref.url and linkable(ref.url):
        tail += " · " + link(ref.url, "original")
    head = f"*[{ref.n}]* "
    url = links.source(ref.doc_id)
    room = MAX_SECTION_TEXT - len(head) - len(tail) - len(url) - 3
    title = ref.title
    if len(escape(title)) > room:
        title = _fit(title, room - len(ELLIPSIS), lambda t: len(escape(t))) + ELLIPSIS
    text = head + link(url, escape(title)) + tail
    if len(text) > MAX_SECTION_TEXT or not title.strip():  # absurd URLs: the title alone, unlinked
        text = head + escape(_fit(ref.title, MAX_SECTION_TEXT - len(head), lambda t: len(escape(t))))
    return text


def _with_note(blocks: list[dict[str, Any]], chat_url: str, *, has_buttons: bool) -> list[dict[str, Any]]:
    note = f"{TRIMMED_NOTE} {link(chat_url, FULL_ANSWER)}"
    if len(note) > MAX_SECTION_TEXT:  # a very long question: link to the chat itself
        note = f"{TRIMMED_NOTE} {link(chat_url.split('?')[0], FULL_ANSWER)}"
    block = {"type": "context", "elements": [mrkdwn(note)]}
    at = len(blocks) - 1 if has_buttons else len(blocks)
    return blocks[:at] + [block] + blocks[at:]


def feedback_actions(answer_id: str) -> dict[str, Any]:
    def button(label: str, action_id: str) -> dict[str, Any]:
        return {"type": "button", "text": {"type": "plain_text", "text": label, "emoji": True},
                "action_id": action_id, "value": answer_id}  # fmt: skip

    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [button("👍 Helpful", ACTION_UP), button("👎 Not helpful", ACTION_DOWN)],
    }


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn/plain text in the blocks (for limit checks)."""
    out: list[str] = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") in ("mrkdwn", "plain_text"):
                out.append(element["text"])
    return out
