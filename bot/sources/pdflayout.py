"""Page layout of a PDF's text layer: positioned text runs (pypdf's visitor) -> lines -> reading order
(columns, full-width blocks) -> paragraphs with their font, with running heads and footers removed and
end-of-line hyphenation undone. Used by `pdf.py`."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BOLD_RE = re.compile(r"bold|semibold|demi|black|heavy", re.IGNORECASE)
BULLET_RE = re.compile(r"^[•●▪■◦‣∙·\-–—*]\s")
MARKER_RE = re.compile(r"^(?:[•●▪■◦‣∙·\-–—*]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
NOISE_RE = re.compile(r"^\(?continued( on (the )?next page)?\.?\)?$", re.IGNORECASE)
# A line-final hyphen before one of these stays: "non-\nopioid" -> "non-opioid".
COMPOUND_PREFIXES = frozenset(
    "non self long short well high low co re pre post anti multi semi sub inter intra over under "
    "cross full half part evidence risk cost age dose time".split()
)
WORD_RE = re.compile(r"[^\W\d_][\w’'-]*[^\W\d_]|[^\W\d_]", re.UNICODE)


@dataclass
class Run:
    x: float
    y: float
    size: float
    bold: bool
    text: str
    width: float


@dataclass
class Line:
    x0: float
    x1: float
    y: float
    size: float
    bold: bool
    text: str
    runs: list[Run] = field(default_factory=list, repr=False)
    indent: float = 0.0  # from the left edge of its column


@dataclass
class Para:
    """A paragraph (or heading candidate) of one page: its lines' text joined into one line."""

    text: str
    size: float
    bold: bool
    page: int
    y: float
    lines: int = 1


def _mult(m: list[float], n: list[float]) -> list[float]:
    return [
        m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5],
    ]  # fmt: skip


class _Widths:
    """Text width in font units from the font's own metrics (pypdf >= 6), else an estimate."""

    def __init__(self) -> None:
        self._fonts: dict[int, Any] = {}

    def __call__(self, font: Any, text: str) -> float:
        key = id(font)
        if key not in self._fonts:
            metric = None
            try:
                from pypdf.generic._font import Font  # noqa: PLC0415

                metric = Font.from_font_resource(font)
            except Exception:  # older pypdf or an odd font: estimate
                metric = None
            self._fonts[key] = (font, metric)
        metric = self._fonts[key][1]
        if metric is not None:
            try:
                return float(metric.get_text_width(text)) / 1000
            except Exception:
                pass
        return 0.48 * len(text)


def page_runs(page: Any, widths: _Widths) -> list[Run]:
    """The upright text runs of a page with their position, size, weight and width (page space)."""
    runs: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        text = text.replace("\n", "")
        if not text:
            return
        m = _mult(tm, cm)
        if abs(m[1]) > 1e-3 or abs(m[2]) > 1e-3 or m[3] <= 0 or m[0] <= 0:
            return  # rotated or mirrored text (margin notes, vertical labels)
        scale = math.hypot(m[2], m[3])
        eff = (size or 0) * scale
        if eff <= 0.5:
            return
        name = ""
        if font is not None:
            try:
                name = str(font.get("/BaseFont", ""))
            except Exception:
                name = ""
        w = widths(font, text) * (size or 0) * m[0] if font is not None else 0.48 * len(text) * eff
        runs.append(Run(m[4], m[5], eff, bool(BOLD_RE.search(name)), text, w))

    page.extract_text(visitor_text=visit)
    return runs


def _finish(runs: list[Run]) -> Line:
    text = ""
    for i, r in enumerate(runs):
        if i and text and not text[-1].isspace() and not r.text[0].isspace():
            prev = runs[i - 1]
            if r.x - (prev.x + prev.width) > 0.15 * r.size:
                text += " "
        text += r.text
    main = max(runs, key=lambda r: len(r.text.strip()))
    return Line(
        x0=min((r.x for r in runs if r.text.strip()), default=runs[0].x),
        x1=max(r.x + r.width for r in runs),
        y=main.y,
        size=round(main.size, 1),
        bold=all(r.bold for r in runs if r.text.strip()),
        text=" ".join(text.split()),
        runs=runs,
    )


def make_lines(runs: list[Run]) -> list[Line]:
    """Group runs (in content-stream order) into lines: same baseline (or a super/subscript just right)."""
    lines: list[Line] = []
    cur: list[Run] = []
    for r in runs:
        if cur:
            last = cur[-1]
            end = last.x + last.width
            same = abs(r.y - last.y) < 0.3 * max(r.size, last.size)
            script = abs(r.y - last.y) < 0.7 * max(r.size, last.size) and -1 <= r.x - end < 2 * r.size
            if same and r.x < end - 2 * r.size and any(abs(r.x - c.x) < 1 for c in cur):
                r.x = end  # pypdf gives a run after a font change within a line its line's start
            if (same and r.x >= end - 2 * r.size) or script:
                cur.append(r)
                continue
            lines.append(_finish(cur))
        cur = [r]
    if cur:
        lines.append(_finish(cur))
    return [ln for ln in lines if ln.text and not NOISE_RE.match(ln.text)]


def _order_band(lines: list[Line], mid: float) -> list[Line]:
    out: list[Line] = []
    for column in ([ln for ln in lines if ln.x0 < mid], [ln for ln in lines if ln.x0 >= mid]):
        edge = min((ln.x0 for ln in column), default=0.0)
        for ln in column:
            ln.indent = ln.x0 - edge
        out += sorted(column, key=lambda ln: -ln.y)
    return out


def reading_order(lines: list[Line], left: float, right: float) -> list[Line]:
    """Lines in reading order: full-width lines (crossing the middle of the page) and wide horizontal gaps
    cut the page into bands; in a band, the left column top to bottom, then the right column."""
    if not lines:
        return []
    mid = (left + right) / 2
    slack = 0.02 * (right - left)
    sizes: Counter[float] = Counter()
    for ln in lines:
        sizes[ln.size] += len(ln.text)
    body = sizes.most_common(1)[0][0]
    ordered: list[Line] = []
    band: list[Line] = []
    prev_bottom: float | None = None
    for ln in sorted(lines, key=lambda ln: -ln.y):
        spanning = ln.x0 < mid - slack and ln.x1 > mid + slack
        gap = prev_bottom is not None and prev_bottom - (ln.y + ln.size) > 1.25 * body
        if spanning or gap:
            ordered += _order_band(band, mid)
            band = []
        if spanning:
            ordered.append(ln)
        else:
            band.append(ln)
        prev_bottom = ln.y if prev_bottom is None else min(prev_bottom, ln.y)
    return ordered + _order_band(band, mid)


def _furniture_key(text: str) -> str:
    return re.sub(r"[^a-z]+", "", text.lower())


def drop_furniture(pages: list[list[Line]], top: list[float], bottom: list[float]) -> list[list[Line]]:
    """Remove running heads and footers: lines near the top or bottom edge whose text (digits aside)
    repeats on several pages, and page numbers alone."""
    counts: Counter[str] = Counter()
    for lines, hi, lo in zip(pages, top, bottom, strict=True):
        margin = 0.1 * (hi - lo)
        counts.update({_furniture_key(ln.text) for ln in lines if ln.y > hi - margin or ln.y < lo + margin})
    repeated = {k for k, n in counts.items() if n >= max(3, len(pages) // 10)}
    long_ones = [k for k in repeated if len(k) >= 12]

    def furniture(text: str) -> bool:
        key = _furniture_key(text)
        return key in repeated or any(k in key for k in long_ones) or bool(re.fullmatch(r"[\divxlc]{1,5}", key or text))

    out = []
    for lines, hi, lo in zip(pages, top, bottom, strict=True):
        margin = 0.1 * (hi - lo)
        out.append([ln for ln in lines if not ((ln.y > hi - margin or ln.y < lo + margin) and furniture(ln.text))])
    return out


def vocabulary(texts: list[str]) -> Counter[str]:
    """Words (lower case, hyphenated compounds whole) that occur inside lines, not at their ends."""
    vocab: Counter[str] = Counter()
    for text in texts:
        words = text.split()
        for w in words[:-1]:
            for m in WORD_RE.finditer(w.lower()):
                vocab[m.group()] += 1
    return vocab


def tidy(text: str) -> str:
    """Spaces the text layer puts inside brackets: "( 99)" -> "(99)"."""
    text = re.sub(r"\s+([)\]])", r"\1", re.sub(r"([(\[])\s+", r"\1", text))
    return re.sub(r"(?<=\w) +([:;,])(?= )", r"\1", text)


def join_lines(a: str, b: str, vocab: Counter[str]) -> str:
    """Join two lines of a paragraph, undoing end-of-line hyphenation ("opi-" + "oid" -> "opioid") but
    keeping compounds ("evidence-" + "based" -> "evidence-based")."""
    a = a.rstrip().removesuffix("\u00ad")
    if not a:
        return b
    if re.search(r"(?:https?://|www\.)\S*[/.]$", a):
        return a + b  # a URL broken after a slash or dot
    if not a.endswith("-") or len(a) < 2 or not a[-2].isalpha():
        return a + " " + b
    m = re.search(r"([^\W\d_][\w’'-]*)-$", a)
    left = m.group(1) if m else ""
    nxt = re.match(r"[^\W\d_][\w’']*", b)
    if not left or not nxt or not b[0].islower():
        return a + b  # "COVID-" + "19", "cancer-" + "Related": a real hyphen
    right = nxt.group()
    joined, hyphened = (left + right).lower(), f"{left}-{right}".lower()
    if vocab[hyphened] > vocab[joined]:
        return a + b
    if vocab[joined] or left.lower().rsplit("-", 1)[-1] not in COMPOUND_PREFIXES:
        return a[:-1] + b
    return a + b


def _is_marker(text: str) -> bool:
    return bool(MARKER_RE.match(text))


def paragraphs(lines: list[Line], page: int, vocab: Counter[str], body: float) -> list[Para]:
    """Split a page's ordered lines into paragraphs: a new one at a change of font size or weight, a
    vertical gap, a jump to another column, an indented first line, a list marker, or after a short line
    ending a sentence."""
    paras: list[Para] = []
    prev: Line | None = None
    right = 0.0
    for ln in lines:
        new = prev is None
        if prev is not None:
            step = prev.y - ln.y
            lead = max(ln.size, prev.size)
            hanging = paras[-1].lines == 1 and _is_marker(paras[-1].text)
            ended = paras[-1].text[-1:] in ".:;?!"
            jump = step < 0.3 * lead or abs(ln.x0 - prev.x0) > 10 * lead  # to the next column or band
            item = bool(BULLET_RE.match(ln.text)) or (
                _is_marker(ln.text) and (ended or abs(ln.x0 - prev.x0) > 0.6 * ln.size)
            )
            new = (
                abs(ln.size - prev.size) > 0.6
                or ln.bold != prev.bold
                or item
                or (jump and (ended or (ln.indent > 0.6 * ln.size and not ln.text[:1].islower())))
                or (
                    not jump
                    and (
                        step > 1.75 * lead
                        or (ln.x0 > prev.x0 + 0.6 * ln.size and not hanging)  # indented first line
                        or (ln.x0 < prev.x0 - 0.6 * ln.size and ended and paras[-1].lines > 1)  # outdented
                        or (prev.x1 < right - 4 * ln.size and ended)  # short last line
                    )
                )
            )
        if new:
            right = ln.x1
            paras.append(Para(ln.text, ln.size, ln.bold, page, ln.y))
        else:
            para = paras[-1]
            para.text = join_lines(para.text, ln.text, vocab)
            para.lines += 1
            right = max(right, ln.x1)
        prev = ln
    return paras


def is_heading(para: Para, body: float) -> bool:
    """A short paragraph in a bigger or bold font that does not read like a sentence."""
    text = para.text
    if len(text) > 160 or para.lines > 3 or not any(c.isalpha() for c in text):
        return False
    if para.size > body + 0.6:
        return True
    return para.bold and not text.endswith((".", ",", ";")) and len(text) < 120
