"""JSON lines (`bot/sources/jsonl.py`): what a reference to a BEIR or evidence-pack document shows — a title
for an untitled abstract (PubMedQA), PubMed links only where the line names a PMID, and an origin for the
data sets whose lines say nothing of it (SciFact) — while the text stays exactly as given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.documents import Answer, AnswerSection, Bullet, Document, Reference
from bot.ingest import load_corpus
from bot.render import render
from bot.sources.jsonl import TITLE_MAX, document, shorten, title_from_text

# Shaped like a line of shared/data/pubmedqa/corpus.jsonl (synthetic text).
PUBMEDQA = {
    "_id": "21645374",
    "title": "",
    "text": "Programmed cell death (PCD) is the regulated death of cells within an organism. The lace plant "
    "produces perforations in its leaves through PCD.",
    "metadata": {"pmid": "21645374", "labels": ["BACKGROUND", "RESULTS"], "meshes": ["Apoptosis"], "year": "2011",
                 "long_answer": "Mitochondria play a role."},
}  # fmt: skip
# Shaped like a line of shared/data/beir-scifact/corpus.jsonl: `_id` is an S2ORC paper id, not a PMID.
SCIFACT = {
    "_id": "19205326",
    "title": "Ten years' experience with alendronate for osteoporosis in postmenopausal women.",
    "text": "BACKGROUND Antiresorptive agents are widely used to treat osteoporosis.",
    "metadata": {},
}


def write_beir(folder: Path, *lines: dict[str, Any]) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a question?"}) + "\n")
    return folder


def test_pubmedqa_line_gets_a_title_from_its_text_and_a_pubmed_link() -> None:
    doc = document(PUBMEDQA, "pubmedqa/corpus.jsonl:1", None)
    assert doc.text == PUBMEDQA["text"]  # quotes come from `text`: never changed
    assert doc.title == "Programmed cell death (PCD) is the regulated death of cells within an organism."
    assert doc.meta["title_from"] == "text"
    assert doc.url == "https://pubmed.ncbi.nlm.nih.gov/21645374/"
    assert (doc.meta["origin"], doc.meta["pmid"], doc.date) == ("PubMed", "21645374", "2011")


def test_evidence_pack_pubmedqa_line() -> None:
    """The default corpus's `research/pubmed_abstracts.jsonl` line the clinician saw as "pubmedqa:24785562"."""
    line = {"id": "pubmedqa:24785562", "kind": "research", "title": "", "source": "PubMedQA PQA-L (…)",
            "text": "A short course of systemic corticosteroids is an important therapy in the treatment of pediatric "
                    "asthma exacerbations. Dexamethasone has also been used.",
            "url": "https://pubmed.ncbi.nlm.nih.gov/24785562/"}  # fmt: skip
    doc = document(line, "x.jsonl:1", None)
    assert doc.title.startswith("A short course of systemic corticosteroids") and doc.title != doc.id
    assert (doc.url, doc.meta["origin"], doc.meta["pmid"]) == (line["url"], "PubMed", "24785562")
    assert doc.meta["dataset"] == "PubMedQA" and doc.kind == "research"


def test_derived_title_is_the_texts_own_words_cut_at_a_word_boundary() -> None:
    text = ("Aromatase inhibitors (AIs) are an effective treatment for postmenopausal women with hormone "
            "receptor-positive breast cancer, and they are widely used. Second sentence.")  # fmt: skip
    title = title_from_text(text)
    assert title is not None and len(title) <= TITLE_MAX and title.endswith("\u2026")
    assert text.startswith(title[:-1]) and text[len(title) - 1] == " "  # whole words only
    # a first sentence too short to say anything takes the next one too; white space runs become one space
    assert title_from_text("Cross-sectional.\n\nWe  surveyed 200 adults about their sleep.") == (
        "Cross-sectional. We surveyed 200 adults about their sleep."
    )
    assert shorten("x" * 300) == "x" * (TITLE_MAX - 1) + "\u2026"  # one endless word: cut inside it
    assert document({"_id": "d", "text": "Only text."}, "w", None).title == "Only text."


def test_scifact_in_its_beir_folder_gets_the_data_sets_origin_and_no_invented_link(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir-scifact", SCIFACT)
    report = load_corpus(folder)
    assert report.problems == []
    (doc,) = report.documents
    assert doc.title == SCIFACT["title"] and doc.text == SCIFACT["text"]
    assert doc.meta["origin"] == "SciFact (PubMed abstract)" and doc.meta["dataset"] == "SciFact"
    assert doc.url is None and "pmid" not in doc.meta  # an all-digit id is not taken for a PMID


def test_evidence_pack_scifact_line_is_known_by_its_id_prefix() -> None:
    line = {"id": "beir-scifact:19205326", "kind": "research", "title": SCIFACT["title"], "text": SCIFACT["text"],
            "url": "", "source": "BEIR SciFact corpus (see shared/data/beir-scifact/README.md)"}  # fmt: skip
    doc = document(line, "x.jsonl:9", None)
    assert (doc.meta["origin"], doc.url, doc.kind) == ("SciFact (PubMed abstract)", None, "research")


def test_no_origin_is_guessed_outside_a_known_data_set(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(json.dumps(SCIFACT) + "\n")  # no queries/qrels: not a BEIR folder
    (doc,) = load_corpus(tmp_path / "corpus.jsonl").documents
    assert "origin" not in doc.meta and doc.url is None
    (other,) = load_corpus(write_beir(tmp_path / "beir-mystery", SCIFACT)).documents
    assert "origin" not in other.meta and "dataset" not in other.meta


NCBI = "http://www.ncbi.nlm.nih.gov/"
PUBMED = "https://pubmed.ncbi.nlm.nih.gov/"


@pytest.mark.parametrize(
    ("url", "shown", "pmid", "origin"),
    [  # NFCorpus `metadata.url` as the corpus gives them
        (NCBI + "pubmed/25329299", PUBMED + "25329299/", "25329299", "PubMed"),
        (NCBI + "pubmed/ 23745032", PUBMED + "23745032/", "23745032", "PubMed"),
        (NCBI + "pubmed/20435081%20", PUBMED + "20435081/", "20435081", "PubMed"),
        (NCBI + "pubmed/0010480616", PUBMED + "10480616/", "10480616", "PubMed"),
        (NCBI + "pubmed/8522729?dopt=Abstract", PUBMED + "8522729/", "8522729", "PubMed"),
        (NCBI + "pubmed?term=6341793[uid]", PUBMED + "6341793/", "6341793", "PubMed"),
        (NCBI + "pmc/articles/pmid/20606779/", PUBMED + "20606779/", "20606779", "PubMed"),
        (NCBI + "pmc/articles/PMC3600613/#!po=1.16279", "https://pmc.ncbi.nlm.nih.gov/articles/PMC3600613/", None,
         "PMC"),
        # a search for words names no record: kept as given
        (NCBI + "pubmed/?term=Heavy+coffee+drinking", NCBI + "pubmed/?term=Heavy+coffee+drinking", None, "PubMed"),
        (NCBI + "sites/entrez?db=pubmed&term=Multivitamin", NCBI + "sites/entrez?db=pubmed&term=Multivitamin", None,
         "NFCorpus (PubMed abstract)"),
        (PUBMED + "0000000/", PUBMED + "0000000/", None, "PubMed"),  # no record 0
    ],
)  # fmt: skip
def test_nfcorpus_links(tmp_path: Path, url: str, shown: str, pmid: str | None, origin: str) -> None:
    line = {"_id": "MED-10", "title": "Statin Use and Breast Cancer Survival", "text": "Statins.", "metadata": {}}
    line["metadata"] = {"url": url}
    (doc,) = load_corpus(write_beir(tmp_path / "beir-nfcorpus", line)).documents
    assert (doc.url, doc.meta.get("pmid"), doc.meta["origin"]) == (shown, pmid, origin)
    assert doc.meta["dataset"] == "NFCorpus"


def test_what_the_line_says_wins() -> None:
    line = {"id": "x", "title": "T", "text": "Text.", "origin": "Cochrane", "pmid": "123", "date": "2020-01-02",
            "url": "https://www.cochranelibrary.com/cdsr/doi/10.1002/x"}  # fmt: skip
    doc = document(line, "w", None)
    assert (doc.meta["origin"], doc.meta["pmid"], doc.url, doc.date) == ("Cochrane", "123", line["url"], "2020-01-02")
    assert "title_from" not in doc.meta


def reference(doc: Document, n: int) -> Reference:
    """As `bot.answer` makes one from an indexed document."""
    return Reference(n, doc.id, doc.title, doc.kind, doc.url, source=doc.meta.get("origin"), date=doc.date)


def test_references_read_well_in_every_format(tmp_path: Path) -> None:
    pubmedqa = document(PUBMEDQA, "w", "research")
    (scifact,) = load_corpus(write_beir(tmp_path / "beir-scifact", SCIFACT), default_kind="research").documents
    answer = Answer(
        question="q?",
        answered=True,
        sections=[AnswerSection("research", "From the Research", [
            Bullet(pubmedqa.text[:79], [1], pubmedqa.id, 0, 79),
            Bullet(scifact.text[11:], [2], scifact.id, 11, len(scifact.text)),
        ])],
        references=[reference(pubmedqa, 1), reference(scifact, 2)],
    )  # fmt: skip
    text = render(answer, "text")
    assert (
        "[1] Programmed cell death (PCD) is the regulated death of cells within an organism. \u2014 PubMed, 2011 "
        "https://pubmed.ncbi.nlm.nih.gov/21645374/\n" in text
    )
    assert f"[2] {SCIFACT['title']} \u2014 SciFact (PubMed abstract)\n" in text  # no "(research)", no id
    markdown = render(answer, "markdown")
    assert "1. [Programmed cell death (PCD) is the regulated death of cells within an organism.]" in markdown
    assert "(https://pubmed.ncbi.nlm.nih.gov/21645374/) \u2014 PubMed, 2011" in markdown
    assert "2. Ten years' experience with alendronate" in markdown and "SciFact (PubMed abstract)" in markdown
    html = render(answer, "html")
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/21645374/"' in html
    assert '<span class="ref-details">SciFact (PubMed abstract)</span>' in html
    assert "21645374</a>" not in html.split('class="external"')[0]  # the title is words, not the id
