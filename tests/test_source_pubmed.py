"""PubMed XML reader (`bot/sources/pubmed.py`) on the real efetch record in the shared data."""

from __future__ import annotations

import gzip
import re
import time
from pathlib import Path

import pytest

from bot.documents import Document
from bot.sources import load_corpus

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "evidence" / "raw"
PUBMED_DIR = SHARED / "pubmed"
RECORD = PUBMED_DIR / "pubmed-29768149.xml"
TITLE = "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
LABELS = ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]


@pytest.fixture(scope="module")
def raw() -> str:
    if not RECORD.is_file():
        pytest.skip(f"shared data missing: {RECORD}")
    return RECORD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def doc(raw: str) -> Document:
    report = load_corpus(PUBMED_DIR)
    assert report.problems == []
    assert len(report.documents) == 1
    return report.documents[0]


def article_of(raw: str) -> str:
    """The `<PubmedArticle>…</PubmedArticle>` of the real record."""
    return raw[raw.index("<PubmedArticle>") : raw.index("</PubmedArticleSet>")]


def write_set(path: Path, *articles: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<?xml version="1.0"?>\n<PubmedArticleSet>' + "".join(articles) + "</PubmedArticleSet>")
    return path


def test_document(doc: Document) -> None:
    assert doc.id == "pubmed/29768149"
    assert doc.title == TITLE
    assert doc.kind == "research"
    assert doc.url == "https://pubmed.ncbi.nlm.nih.gov/29768149/"
    assert doc.date == "2018"
    assert doc.source.endswith("pubmed-29768149.xml")


def test_labelled_parts_and_offsets(doc: Document) -> None:
    assert [p.path for p in doc.parts] == [(label,) for label in LABELS]
    for part, label in zip(doc.parts, LABELS, strict=True):
        text = doc.text[part.start : part.end]
        assert text and text == text.strip()
        assert not any(line.strip() == label or line.startswith(label) for line in text.split("\n"))
        heading_end = doc.text.rindex(label, 0, part.start) + len(label)
        assert doc.text[heading_end : part.start] == "\n\n"  # the label is a heading line of its own
    assert doc.text.startswith("BACKGROUND\n\n")


@pytest.mark.parametrize(
    ("label", "snippet"),
    [
        ("BACKGROUND", "as-needed use of an inhaled glucocorticoid plus a fast-acting β2-agonist may be"),
        ("METHODS", "(200 μg of budesonide and 6 μg of formoterol) used as needed"),
        ("RESULTS", "95% confidence interval [CI], 1.00 to 1.30; P=0.046)"),
        ("CONCLUSIONS", "(Funded by AstraZeneca; SYGMA 1 ClinicalTrials.gov number, NCT02149199 .)."),
    ],
)
def test_abstract_kept_as_published(doc: Document, label: str, snippet: str) -> None:
    part = next(p for p in doc.parts if p.path == (label,))
    assert snippet in doc.text[part.start : part.end]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("origin", "PubMed"),
        ("pmid", "29768149"),
        ("doi", "10.1056/NEJMoa1715274"),
        ("journal", "The New England journal of medicine"),
        ("journal_iso", "N Engl J Med"),
        ("year", "2018"),
        ("authors", ["O'Byrne PM", "FitzGerald JM", "Bateman ED"]),
        ("entities", []),
    ],
)
def test_meta(doc: Document, key: str, expected: object) -> None:
    assert doc.meta[key] == expected


def test_meta_lists(doc: Document) -> None:
    assert "Randomized Controlled Trial" in doc.meta["publication_types"]
    assert "Journal Article" in doc.meta["publication_types"]
    assert "Asthma" in doc.meta["mesh"] and "Budesonide" in doc.meta["mesh"]
    assert "drug therapy" not in doc.meta["mesh"]  # qualifiers are not descriptors


def test_gzipped_copy_loads_the_same(raw: str, doc: Document, tmp_path: Path) -> None:
    gz = tmp_path / "corpus" / "pubmed24n0001.xml.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(raw.encode("utf-8")))
    report = load_corpus(gz.parent)
    assert report.problems == []
    [copy] = report.documents
    assert (copy.id, copy.title, copy.text, copy.parts, copy.meta) == (doc.id, doc.title, doc.text, doc.parts, doc.meta)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda a: re.sub(r"<Abstract>.*?</Abstract>", "", a, flags=re.S), "no abstract"),
        (lambda a: re.sub(r"<ArticleTitle>.*?</ArticleTitle>", "<ArticleTitle/>", a), "no title"),
    ],
    ids=["no-abstract", "no-title"],
)
def test_bad_record_is_one_problem_line(raw: str, tmp_path: Path, edit, reason: str) -> None:  # type: ignore[no-untyped-def]
    good = article_of(raw)
    bad = edit(good).replace('<PMID Version="1">29768149</PMID>', '<PMID Version="1">11111111</PMID>', 1)
    write_set(tmp_path / "c" / "set.xml", good, bad)
    report = load_corpus(tmp_path / "c")
    assert [d.id for d in report.documents] == ["pubmed/29768149"]
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.path.endswith("set.xml:PMID 11111111") and reason in problem.reason


@pytest.mark.parametrize("ptype", ["Practice Guideline", "Guideline"])
def test_guideline_publication_type(raw: str, tmp_path: Path, ptype: str) -> None:
    edited = raw.replace(
        '<PublicationType UI="D016428">Journal Article</PublicationType>',
        f'<PublicationType UI="D017065">{ptype}</PublicationType>',
    )
    assert edited != raw
    write_set(tmp_path / "c" / "g.xml", article_of(edited))
    [doc] = load_corpus(tmp_path / "c").documents
    assert doc.kind == "guideline"


def test_unlabelled_abstract_and_medline_date(raw: str, tmp_path: Path) -> None:
    article = re.sub(r' Label="[A-Z]+"', "", article_of(raw))
    article = re.sub(
        r"<PubDate>.*?</PubDate>", "<PubDate><MedlineDate>2018 May-Jun</MedlineDate></PubDate>", article, flags=re.S
    )
    write_set(tmp_path / "c" / "u.xml", article)
    [doc] = load_corpus(tmp_path / "c").documents
    assert [p.path for p in doc.parts] == [()]
    assert doc.text[doc.parts[0].start : doc.parts[0].end] == doc.text and doc.text.count("\n") == 3
    assert doc.date == doc.meta["year"] == "2018"


def test_many_articles_are_fast(raw: str, tmp_path: Path) -> None:
    article = article_of(raw)
    copies = [article.replace(">29768149<", f">{30000000 + i}<") for i in range(500)]
    write_set(tmp_path / "c" / "big.xml", *copies)
    started = time.perf_counter()
    report = load_corpus(tmp_path / "c")
    elapsed = time.perf_counter() - started
    assert len(report.documents) == 500 and report.problems == []
    assert elapsed / 500 < 0.005, f"{elapsed / 500 * 1000:.1f} ms per article"
