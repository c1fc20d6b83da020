"""Chunking keeps exact offsets (property-tested), follows structure, and leaves source citations out."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chunking import blocks, chunk_document, quote_span, sentences
from bot.documents import Document, Span
from bot.ingest import make_document
from tests.conftest import SEED

ALPHABET = st.sampled_from(list("abcXYZ019 .,;:!?-*#•()\"'\n\t") + ["Dr. ", "e.g. ", "  - ", "\n\n", "é", "中"])
TEXTS = st.lists(ALPHABET, min_size=1, max_size=400).map("".join)


def _check_spans(text: str, chunks: list) -> None:  # type: ignore[type-arg]
    for c in chunks:
        assert 0 <= c.start < c.end <= len(text)
        assert c.text == text[c.start : c.end]
        assert c.text == c.text.strip()
        for s in c.sentences:
            assert c.start <= s.start < s.end <= c.end
            quote = text[s.start : s.end]
            assert quote.strip() == quote and quote


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, size=st.integers(100, 400), overlap=st.integers(0, 3), inline=st.booleans())
def test_every_span_is_an_exact_substring(text: str, size: int, overlap: int, inline: bool) -> None:
    if not text.strip():
        return
    doc = Document(id="d", title="T", text=text, cites_inline=inline)
    chunks = chunk_document(doc, size=size, overlap=overlap)
    _check_spans(text, chunks)
    for c in chunks:
        assert all(s.end - s.start <= size for s in c.sentences)


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=300))
def test_arbitrary_unicode_text(text: str) -> None:
    try:
        doc = make_document("d", text)
    except Exception:
        return  # empty after normalisation: reported by ingest, never chunked
    _check_spans(doc.text, chunk_document(doc, size=120, overlap=1))


def test_sentences_respect_abbreviations_and_numbers() -> None:
    text = "Dr. Smith gave 2.5 mg daily, e.g. with food. It worked! Did it last? Yes."
    got = [text[s.start : s.end] for s in sentences(text, 0, len(text))]
    assert got == ["Dr. Smith gave 2.5 mg daily, e.g. with food.", "It worked!", "Did it last?", "Yes."]
    text = "Four drugs are approved by the U.S. Food and Drug Administration for RLS. The pad is new."
    got = [text[s.start : s.end] for s in sentences(text, 0, len(text))]
    assert got == ["Four drugs are approved by the U.S. Food and Drug Administration for RLS.", "The pad is new."]


@pytest.mark.parametrize(
    ("sentence", "quote"),
    [
        ("as supported by the most recent evidence 1.", "as supported by the most recent evidence"),
        ("with platelet-rich plasma (PRP) 4, 5.", "with platelet-rich plasma (PRP)"),
        ("no conclusion can be drawn 2", "no conclusion can be drawn"),
        ("The most recent evidence 1 suggests caution.", "The most recent evidence 1 suggests caution."),
        ("Patients with type 2", "Patients with type"),  # documented limit: only in answer-shaped sources
        ("Dose was 12.5 mg.", "Dose was 12.5 mg."),
    ],
)
def test_trailing_source_citations_are_left_out(sentence: str, quote: str) -> None:
    span = quote_span(sentence, Span(0, len(sentence)))
    assert sentence[span.start : span.end] == quote


def test_seed_structure() -> None:
    doc = make_document("seed", SEED.read_text().split("---\n", 2)[2])
    bl = blocks(doc)
    headings = list(dict.fromkeys(b.heading for b in bl))
    assert headings[:3] == ["From the Guidelines", "Key Considerations", "Treatment Approach"]
    assert "Treatment Options for Calcinosis Cutis in Dermatomyositis" in headings
    chunks = chunk_document(doc, size=800, overlap=1)
    assert [c.kind for c in chunks] == sorted(
        (c.kind for c in chunks), key=["guideline", "drug_label", "research"].index
    )
    for c in chunks:  # a chunk never crosses a heading or a kind section
        assert len({b.heading for b in bl if c.start <= b.start < c.end}) <= 1
    quotes = [doc.text[s.start : s.end] for c in chunks for s in c.sentences]
    assert "Minocycline can be useful, particularly for lesions associated with surrounding inflammation" in quotes
    assert not any(q.endswith((" 4", " 4, 5", " 6")) for q in quotes)


def test_overlap_repeats_last_sentence() -> None:
    text = " ".join(f"Sentence number {i} talks about asthma control." for i in range(30))
    chunks = chunk_document(Document(id="d", title="T", text=text), size=200, overlap=1)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.sentences[0] == a.sentences[-1]
