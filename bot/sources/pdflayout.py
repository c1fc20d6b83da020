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
# List bullets; the text keeps every one as "•" (so chunking knows a list item by it), whatever glyph the
# PDF draws: "›" sub-bullets, a symbol font's code (see `page_runs`), or the "ï" a Latin-1 text layer
# makes of a sub-bullet glyph (a lone "ï" cannot start an English line).
BULLETS = "•●▪■◦‣∙·›»○◆◇➢➤✓✔"
BULLET_GLYPH_RE = re.compile(rf"^(?:[{BULLETS}]|ï)\s+(?=\S)")
BULLET_RE = re.compile(rf"^[{BULLETS}\-–—*]\s")
MARKER_RE = re.compile(rf"^(?:[{BULLETS}\-–—*†‡§¶]|\(?\d{{1,2}}[.)]|\(?[a-z][.)])\s")
NOISE_RE = re.compile(r"^\(?continued( on (the )?next page)?\.?\)?$", re.IGNORECASE)
# A line-final hyphen after one of these stays when the document has neither form of the word elsewhere:
# "non-\nopioid" -> "non-opioid" (see `join_lines`).
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
    lead_bold: bool = False  # its first word is bold (a glossary term running on from a bold line)


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
    """Text width in font units from the font's own metrics (pypdf >= 6), else an estimate; used where the
    operators could not be followed (`_TextState`), and to load each font's metrics once.

    The metrics are keyed by character code (a byte of a simple font, a CID of a composite one) while the
    visitor hands over Unicode text, so the text is mapped back to codes through the font's own
    code-to-Unicode map first ("fi" -> the ligature's CID); without that an Identity-H font's widths are
    the widths of unrelated glyphs and a column's line seems to run across the page."""

    def __init__(self) -> None:
        self._fonts: dict[int, tuple[Any, Any, dict[str, str], int]] = {}

    def load(self, font: Any) -> tuple[Any, Any, dict[str, str], int]:
        key = id(font)
        if key not in self._fonts:
            metric = None
            codes: dict[str, str] = {}
            try:
                from pypdf.generic._font import Font  # noqa: PLC0415

                metric = Font.from_font_resource(font)
                if isinstance(metric.encoding, dict):
                    codes = {ch: chr(code) for code, ch in metric.encoding.items() if isinstance(ch, str)}
                codes.update({str(u): str(c) for c, u in metric.character_map.items() if u})
            except Exception:  # older pypdf or an odd font: estimate
                metric = None
            self._fonts[key] = (font, metric, codes, max(map(len, codes), default=1))
        return self._fonts[key]

    def __call__(self, font: Any, text: str) -> float:
        _font, metric, codes, longest = self.load(font)
        if metric is not None:
            try:
                widths = metric.character_widths
                default = widths["default"]
                total, i = 0.0, 0
                while i < len(text):
                    for n in range(min(longest, len(text) - i), 0, -1):
                        code = codes.get(text[i : i + n])
                        if code is not None:
                            break
                    else:
                        n, code = 1, text[i]
                    total += widths.get(code, default)
                    i += n
                return total / 1000
            except Exception:
                pass
        return 0.48 * len(text)


class _TextState:
    """Follows the text operators (pypdf's operator visitors) to measure what pypdf's text visitor leaves
    out: where a run ends. Each shown string advances the pen by its glyph widths (looked up by character
    code in the font's own metrics), character and word spacing (Tc, Tw), horizontal scaling (Tz) and the
    kerning numbers of TJ arrays; without them a justified line looks 5% wider than it is and seems to
    cross into the next column.

    It also catches one of pypdf's guesses going wrong: a TJ array that opens with a large offset makes
    pypdf put a space before its first glyph, right when the offset only brings the pen back to the end
    of the glyph before (a first letter set apart, as in "* M ultiply the dose"). Such a glyph pair that
    touches is recorded and the space taken out of the run's text (`page_runs`)."""

    TEXT_OPS = (b"Tj", b"TJ", b"'", b'"')
    POSITION_OPS = (b"Tm", b"Td", b"TD", b"T*", b"'", b'"', b"BT", b"ET")

    def __init__(self, page: Any, widths: _Widths) -> None:
        self.widths = widths
        self.fonts: list[dict[str, Any]] = [_font_resources(page)]
        self.xobjects = _resource(page, "/XObject")
        self.tc = self.tw = self.tfs = 0.0
        self.tz = 1.0
        self.font: Any = None  # pypdf's metrics of the current font, None when unknown
        self.stack: list[tuple[float, float, float, float, Any]] = []
        self.moved = True
        self.pen = 0.0  # where the last glyph shown ended (page space), on `self.pen_y`
        self.pen_y = math.nan
        self.ink = 0.0  # the end of its last glyph that is not a space
        self.last_text = ""
        self.start: float | None = None  # the run being collected: where its first glyph starts
        self.start_y = math.nan
        self.main = (0, 0.0, 0.0)  # its string with the most characters: (characters, size, baseline)
        self.end: float | None = None  # and where its ink ends; None when unknown
        self.known = True
        self.glue: list[tuple[str, str]] = []

    def before(self, op: bytes, args: list[Any], cm: Any, tm: Any) -> None:
        try:
            if op == b"q":
                self.stack.append((self.tc, self.tw, self.tz, self.tfs, self.font))
            elif op == b"Q" and self.stack:
                self.tc, self.tw, self.tz, self.tfs, self.font = self.stack.pop()
            elif op == b"Tc" and args:
                self.tc = float(args[0])
            elif op == b"Tw" and args:
                self.tw = float(args[0])
            elif op == b"Tz" and args:
                self.tz = float(args[0]) / 100
            elif op == b"Tf" and len(args) >= 2:
                self.tfs = float(args[1])
                font = self.fonts[-1].get(str(args[0]))
                self.font = self.widths.load(font)[1] if font is not None else None
            elif op == b'"' and len(args) >= 2:
                self.tw, self.tc = float(args[0]), float(args[1])
        except (TypeError, ValueError, AttributeError, KeyError):
            pass
        if op == b"Do":  # a form's operators come next, with the form's own fonts; `after` pops them
            form = self.xobjects.get(str(args[0])) if args else None
            self.fonts.append((_font_resources(form.get_object()) if form is not None else {}) or self.fonts[-1])
        if op in self.POSITION_OPS:
            self.moved = True

    def after(self, op: bytes, args: list[Any], cm: Any, tm: Any) -> None:
        if op == b"Do" and len(self.fonts) > 1:
            self.fonts.pop()
        if op not in self.TEXT_OPS or not args:
            return
        if self.font is None:
            self.known = False
            return
        try:
            self._show(op, args, cm, tm, self.font)
        except Exception:  # an odd font or operand: this run's extent is estimated instead
            self.known = False

    def _show(self, op: bytes, args: list[Any], cm: Any, tm: Any, font: Any) -> None:
        m = _mult(list(tm), list(cm))
        scale = m[0]
        pen = m[4] if self.moved or abs(m[5] - self.pen_y) > 0.5 else self.pen
        prev_end, prev_text = (self.pen, self.last_text) if abs(m[5] - self.pen_y) <= 0.5 else (math.nan, "")
        self.moved = False
        if self.start is None:
            self.start, self.start_y = pen, m[5]
        first = True
        lead = 0.0
        items = list(args[0]) if op == b"TJ" else [args[-1]]
        for item in items:
            if isinstance(item, (int, float)):
                shift = -float(item) / 1000 * self.tfs * self.tz * scale
                pen += shift
                if first:
                    lead -= float(item)
                continue
            if not isinstance(item, (str, bytes)):
                continue
            raw = getattr(item, "original_bytes", item)
            raw = raw if isinstance(raw, bytes) else str(item).encode("latin-1", "replace")
            text = _decode(font, raw)
            if first and prev_text and lead >= 0.95 * font.space_width / 2 and text:
                if abs(pen - prev_end) < 0.15 * self.tfs * scale and not prev_text[-1].isspace():
                    self.glue.append((prev_text[-8:], text[:8]))  # pypdf's space between touching glyphs
            first = False
            wide = isinstance(font.encoding, str)
            codes = raw.decode(font.encoding, "replace") if wide else [chr(b) for b in raw]
            widths = font.character_widths
            for code, char in zip(codes, text if len(text) == len(codes) else codes, strict=False):
                pen += (widths.get(code, widths["default"]) / 1000 * self.tfs + self.tc) * self.tz * scale
                if code == " " and not wide:
                    pen += self.tw * self.tz * scale  # Tw applies to the single-byte code 32 only
                if not char.isspace():
                    self.ink = pen
            prev_text = text or prev_text
            if len(text.strip()) > self.main[0]:
                self.main = (len(text.strip()), self.tfs * math.hypot(m[2], m[3]), m[5])
        self.pen, self.pen_y, self.last_text = pen, m[5], prev_text
        self.end = self.ink

    def take(self, y: float) -> tuple[float | None, float | None, tuple[float, float] | None, list[tuple[str, str]]]:
        """Where the run just reported (on baseline `y`) starts and ends, the size and baseline of most of
        its text (a bullet set smaller and higher than its item's text may open it), all None when
        unknown (a font not found, another baseline), and the spaces to take out of its text."""
        known = self.known and self.start is not None and abs(self.start_y - y) < 0.5
        start, end = (self.start, self.end) if known else (None, None)
        main = (self.main[1], self.main[2]) if known and self.main[0] else None
        glue, self.glue, self.start, self.end, self.known = self.glue, [], None, None, True
        self.main = (0, 0.0, 0.0)
        return start, end, main, glue


def _resource(obj: Any, key: str) -> dict[str, Any]:
    try:
        found = obj["/Resources"].get_object()[key].get_object()
        return {str(name): value for name, value in found.items()}
    except Exception:
        return {}


def _font_resources(obj: Any) -> dict[str, Any]:
    return {name: font.get_object() for name, font in _resource(obj, "/Font").items()}


def _decode(font: Any, raw: bytes) -> str:
    """A string's text the way pypdf's layout mode decodes it (encoding, then the font's Unicode map)."""
    if isinstance(font.encoding, str):
        chars = raw.decode(font.encoding, "replace")
    else:
        chars = "".join(font.encoding.get(b, chr(b)) for b in raw)
    return "".join(str(font.character_map.get(c, c)) for c in chars)


SYMBOL_FONT_RE = re.compile(r"wingdings|dingbats|webdings", re.IGNORECASE)


def page_runs(page: Any, widths: _Widths) -> list[Run]:
    """The upright text runs of a page with their position, size, weight and width (page space)."""
    runs: list[Run] = []
    state = _TextState(page, widths)

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        m = _mult(tm, cm)
        start, end, main, glue = state.take(m[5])
        text = text.replace("\n", "")
        if not text:
            return
        if abs(m[1]) > 1e-3 or abs(m[2]) > 1e-3 or m[3] <= 0 or m[0] <= 0:
            return  # rotated or mirrored text (margin notes, vertical labels)
        scale = math.hypot(m[2], m[3])
        eff = (size or 0) * scale
        if eff <= 0.5:
            return
        for left, right in glue:
            text = text.replace(f"{left} {right}", left + right, 1)
        name = ""
        if font is not None:
            try:
                name = str(font.get("/BaseFont", ""))
            except Exception:
                name = ""
        if SYMBOL_FONT_RE.search(name) and text.strip():
            text = "•"  # a bullet drawn with a symbol font: its code reads as a stray letter
        x = m[4]
        if start is not None and end is not None and start > x - 1 and end > start:
            x, w = start, end - start  # pypdf gives a run after a font change an earlier run's start
        elif font is not None:  # an estimate: trailing spaces are the gap to the next run, not this one
            w = widths(font, text.rstrip()) * (size or 0) * m[0]
        else:
            w = 0.48 * len(text) * eff
        y = m[5]
        if main is not None and main[0] > 0.5 and abs(main[1] - y) < eff:
            eff, y = main
        runs.append(Run(x, y, eff, bool(BOLD_RE.search(name)), text, w))

    page.extract_text(visitor_text=visit, visitor_operand_before=state.before, visitor_operand_after=state.after)
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
    text = BULLET_GLYPH_RE.sub("• ", " ".join(text.split()))
    return Line(
        x0=min((r.x for r in runs if r.text.strip()), default=runs[0].x),
        x1=max(r.x + r.width for r in runs),
        y=main.y,
        size=round(main.size, 1),
        bold=all(r.bold for r in runs if r.text.strip()),
        text=text,
        runs=runs,
        lead_bold=next((r.bold for r in runs if r.text.strip()), False),
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
            if same and r.x < end - 0.5 and any(abs(r.x - c.x) < 1 for c in cur):
                r.x = end  # pypdf gives a run after a font change within a line an earlier run's start
            if (same and r.x >= end - 2 * r.size) or script:
                cur.append(r)
                continue
            lines.append(_finish(cur))
        cur = [r]
    if cur:
        lines.append(_finish(cur))
    return [ln for ln in lines if ln.text and not NOISE_RE.match(ln.text)]


# Reading order (a recursive XY cut): whitespace cuts a page into horizontal slices; consecutive slices
# stay one segment while a vertical gutter (a strip no line crosses) still runs down all of them, or while
# none of them has one; a gap this many body sizes high ends a segment anyway (a box above the text: a
# paragraph gap that happens to line up in both columns is ~2 body sizes, a box or table end ~2.5-4).
CUT_GAP = 2.4
GUTTER = 0.35  # narrowest gutter between columns, in body sizes (the WHO guideline's is 8 pt at 9 pt)


def _gutters(lines: list[Line], width: float) -> list[float]:
    """The x of each vertical strip at least `width` wide that no line crosses, between the lines."""
    cuts: list[float] = []
    spans = sorted((ln.x0, ln.x1) for ln in lines)
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= width:
            cuts.append((x0 + reach) / 2)
        reach = max(reach, x1)
    return cuts


def _slices(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped top to bottom into slices: a slice ends where a horizontal strip crosses the page
    that no line (from a little below its baseline to its x-height) reaches into."""
    out: list[list[Line]] = []
    bottom = 0.0
    for ln in sorted(lines, key=lambda ln: -ln.y):
        top = ln.y + 0.7 * ln.size
        if out and top > bottom:
            out[-1].append(ln)
        else:
            out.append([ln])
            bottom = math.inf
        bottom = min(bottom, ln.y - 0.1 * ln.size)
    return out


def _leaf(lines: list[Line]) -> list[Line]:
    edge = min(ln.x0 for ln in lines)
    for ln in lines:
        ln.indent = ln.x0 - edge
    return sorted(lines, key=lambda ln: -ln.y)


def _xy_order(lines: list[Line], body: float, depth: int = 0) -> list[Line]:
    if len(lines) < 2 or depth > 4:
        return _leaf(lines) if lines else []
    width = GUTTER * body
    segments: list[list[Line]] = []
    last_bottom = 0.0
    for piece in _slices(lines):
        top = max(ln.y + 0.7 * ln.size for ln in piece)
        if segments and last_bottom - top < CUT_GAP * body:
            seg = segments[-1]
            both = seg + piece
            if _gutters(both, width) or not (_gutters(seg, width) or _gutters(piece, width)):
                seg += piece
                last_bottom = min(ln.y - 0.1 * ln.size for ln in piece)
                continue
        segments.append(list(piece))
        last_bottom = min(ln.y - 0.1 * ln.size for ln in piece)
    out: list[Line] = []
    for seg in segments:
        cuts = _gutters(seg, width)
        if not cuts:
            out += _leaf(seg)
            continue
        bounds = [-math.inf, *cuts, math.inf]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            column = [ln for ln in seg if lo < ln.x0 < hi]
            out += _xy_order(column, body, depth + 1) if len(column) < len(seg) else _leaf(column)
    return out


def reading_order(lines: list[Line], left: float, right: float) -> list[Line]:
    """Lines in reading order: the page cut into segments of the same column layout (full-width lines,
    a change in the number or place of columns, a wide gap: see `_xy_order`), top to bottom; in a
    segment, its columns left to right, each top to bottom (cut again if it holds columns of its own)."""
    if not lines:
        return []
    sizes: Counter[float] = Counter()
    for ln in lines:
        sizes[ln.size] += len(ln.text)
    body = sizes.most_common(1)[0][0]
    return _xy_order(lines, body)


def _furniture_key(text: str) -> str:
    return re.sub(r"[^a-z]+", "", text.lower())


def drop_furniture(
    pages: list[list[Line]], top: list[float], bottom: list[float], body: float = 0.0
) -> list[list[Line]]:
    """Remove running heads and footers: lines near the top or bottom edge whose text (digits aside)
    repeats on several pages, page numbers alone, and lines at the very top of a page (above the text,
    in its top 6%) set smaller than the body text: a chapter's running head ("EXECUTIVE SUMMARY") that
    tops only a few pages."""
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
        head = hi - 0.06 * (hi - lo)
        text_top = max((ln.y for ln in lines if ln.y <= head), default=lo)
        out.append(
            [
                ln
                for ln in lines
                if not ((ln.y > hi - margin or ln.y < lo + margin) and furniture(ln.text))
                and not (ln.y > max(head, text_top) and ln.size < body - 1)
            ]
        )
    return out


def vocabulary(texts: list[str]) -> Counter[str]:
    """The document's words (lower case, hyphenated compounds whole: "opioid-induced", "patient-to-bed"),
    from its lines in reading order, leaving out the pieces of words broken at a line end: a last word
    ending in a hyphen and the first word of the line after it."""
    vocab: Counter[str] = Counter()
    broken = False
    for text in texts:
        words = text.split()
        if broken and words:
            words = words[1:]
        broken = text.endswith("-")
        if broken and words:
            words = words[:-1]
        for w in words:
            for m in WORD_RE.finditer(w.lower()):
                vocab[m.group()] += 1
    return vocab


def tidy(text: str) -> str:
    """Spaces the text layer puts inside brackets: "( 99)" -> "(99)"."""
    text = re.sub(r"\s+([)\]])", r"\1", re.sub(r"([(\[])\s+", r"\1", text))
    return re.sub(r"(?<=\w) +([:;,])(?= )", r"\1", text)


def join_lines(a: str, b: str, vocab: Counter[str]) -> str:
    """Join two lines of a paragraph, undoing end-of-line hyphenation ("opi-" + "oid" -> "opioid") but
    keeping the hyphen of a compound broken at it ("evidence-" + "based" -> "evidence-based").

    The rule for "left-" + "right" (`right` the whole next word, its own hyphens included), from the
    document's own words (`vocabulary`): the hyphen stays when the hyphenated form occurs elsewhere in
    the document more often than the joined one ("opioid-induced"); else it goes when the joined word
    occurs ("prescrib-" + "ing" -> "prescribing"); when neither does, it stays if both pieces are words
    of the document or `left` is a compound prefix (non-, self-, long-…: "patient-" + "to-bed"), and
    goes otherwise (a word broken inside). A capital or digit after the break keeps it ("COVID-" + "19")."""
    a = a.rstrip().removesuffix("\u00ad")
    if not a:
        return b
    if re.search(r"(?:https?://|www\.)\S*/$", a) or (re.search(r"(?:https?://|www\.)\S*\.$", a) and b[:1].islower()):
        return a + b  # a URL broken after a slash or a dot (a capital after the dot starts a sentence)
    if not a.endswith("-") or len(a) < 2 or not a[-2].isalpha():
        return a + " " + b
    m = re.search(r"([^\W\d_][\w’'-]*)-$", a)
    left = m.group(1) if m else ""
    nxt = WORD_RE.match(b)
    if not left or not nxt or not b[0].islower():
        return a + b  # "COVID-" + "19", "cancer-" + "Related": a real hyphen
    right = nxt.group()
    if right in ("and", "or", "nor", "to", "versus"):
        return a + " " + b  # a suspended hyphen: "intermediate- or long-term"
    joined, hyphened = (left + right).lower(), f"{left}-{right}".lower()
    if vocab[hyphened] > vocab[joined]:
        return a + b
    if vocab[joined]:
        return a[:-1] + b
    head, tail = left.lower().rsplit("-", 1)[-1], right.lower().split("-", 1)[0]
    if (vocab[head] and vocab[tail]) or head in COMPOUND_PREFIXES:
        return a + b
    return a[:-1] + b


def _is_marker(text: str) -> bool:
    return bool(MARKER_RE.match(text))


def paragraphs(lines: list[Line], page: int, vocab: Counter[str], body: float) -> list[Para]:
    """Split a page's ordered lines into paragraphs: a new one at a change of font size or weight, a
    vertical gap, a jump to another column, an indented first line, a list marker, or after a short line
    ending a sentence."""
    paras: list[Para] = []
    prev: Line | None = None
    right = 0.0
    first_x = 0.0  # the x of the current paragraph's first line
    hang_x: float | None = None  # a list item's: the x its text hangs at, under the marker's right
    for ln in lines:
        new = prev is None
        if prev is not None:
            step = prev.y - ln.y
            lead = max(ln.size, prev.size)
            hanging = paras[-1].lines == 1 and _is_marker(paras[-1].text)
            ended = paras[-1].text[-1:] in ".:;?!"
            jump = step < 0.3 * lead or abs(ln.x0 - prev.x0) > 10 * lead  # to the next column or band
            in_item = _is_marker(paras[-1].text)
            item = bool(BULLET_RE.match(ln.text)) or (
                _is_marker(ln.text)
                and (ended or abs(ln.x0 - prev.x0) > 0.6 * ln.size or (in_item and abs(ln.x0 - first_x) < 1))
            )  # "2. Selecting opioids…" under "1. Determining whether…": the next item, ended or not
            # a line back left of an item's hanging text ends the item ("4. Assessing… opioid use" / "CDC…")
            unhung = hang_x is not None and ln.x0 < hang_x - 0.6 * ln.size
            # a line in lower case after an unfinished one of the same weight carries it on, even in a
            # slightly different size (a two-line bold heading set 10.5 then 9 pt: "capacity-" "building")
            carries = ln.text[:1].islower() and not ended and abs(ln.size - prev.size) <= 2
            # a bold line, then one that starts bold: a bold term over two lines ("Grading of … and" /
            # "Evaluation (GRADE): an approach…"), one paragraph
            bold_on = prev.bold and ln.lead_bold and not ended
            new = (
                (abs(ln.size - prev.size) > 0.6 and not carries)
                or (ln.bold != prev.bold and not bold_on)
                or item
                or (jump and (ended or (ln.indent > 0.6 * ln.size and not ln.text[:1].islower())))
                or (
                    not jump
                    and (
                        step > 1.75 * lead
                        or (ln.x0 > prev.x0 + 0.6 * ln.size and not hanging)  # indented first line
                        or (ln.x0 < prev.x0 - 0.6 * ln.size and ended and paras[-1].lines > 1)  # outdented
                        or (prev.x1 < right - 4 * ln.size and ended)  # short last line
                        or unhung
                    )
                )
            )
        if new:
            right, first_x, hang_x = ln.x1, ln.x0, None
            paras.append(Para(ln.text, ln.size, ln.bold, page, ln.y))
        else:
            para = paras[-1]
            if para.lines == 1 and _is_marker(para.text) and ln.x0 > first_x + 0.6 * ln.size:
                hang_x = ln.x0
            para.text = join_lines(para.text, ln.text, vocab)
            para.lines += 1
            para.bold = para.bold and ln.bold
            right = max(right, ln.x1)
        prev = ln
    return paras


def is_heading(para: Para, body: float) -> bool:
    """A short paragraph in a bigger or bold font that does not read like a sentence: not a list item, not
    starting in lower case, not ending in a hyphen (a bold sentence cut at a line break) and not a long
    lead-in ending in a colon ("The objectives of the guidelines are:")."""
    text = para.text
    most = 4 if para.size >= 1.5 * body else 3  # a cover's title may take four lines
    if len(text) > 160 or para.lines > most or not any(c.isalpha() for c in text):
        return False
    if BULLET_RE.match(text) or text[:1].islower() or text.endswith("-"):
        return False
    if text.endswith(":") and len(text.split()) > 6:
        return False
    if para.size > body + 0.6:
        return True
    return para.bold and not text.endswith((".", ",", ";")) and len(text) < 120
