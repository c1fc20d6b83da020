"""Ingest: every supported format, kinds from the seed's headings, and malformed files reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.ingest import kind_sections, load_corpus, make_document
from tests.conftest import SEED, SHARED, TINY, tiny_pdf


def test_each_format_loads(tmp_path: Path) -> None:
    for f in TINY.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "leaflet.pdf").write_bytes(
        tiny_pdf([(72, 720, 12, "Metformin is first-line therapy for type 2 diabetes.")])
    )
    report = load_corpus(tmp_path)
    assert report.problems == []
    docs = {d.id: d for d in report.documents}
    assert set(docs) == {"hypertension", "aspirin", "beir-1", "ev-1", "sub/leaflet"}

    md = docs["hypertension"]
    assert (md.title, md.kind, md.url, md.date) == (
        "Hypertension test note", "guideline", "https://example.org/hypertension", "2024-01-31"
    )  # fmt: skip
    assert md.text.startswith("Blood Pressure Targets")  # front matter is not part of the text

    html = docs["aspirin"]
    assert html.title == "Aspirin label test page"
    assert "Reye syndrome" in html.text
    assert "secret" not in html.text and "color:red" not in html.text

    assert docs["beir-1"].title == "Vitamin D and fractures" and docs["beir-1"].kind == "other"
    ev = docs["ev-1"]
    assert (ev.kind, ev.url) == ("research", "https://pubmed.ncbi.nlm.nih.gov/0000000/")
    assert "Metformin is first-line therapy" in docs["sub/leaflet"].text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"   \n\n", "no text"),
        ("binary.txt", b"\x00\x01\x02binary", "binary"),
        ("latin1.md", "caf\xe9 au lait".encode("latin-1"), "UTF-8"),
        ("badfront.md", b"---\ntitle: [unclosed\n---\nBody text here.", "front matter"),
        ("notes.docx", b"PK\x03\x04", "unsupported"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
    ],
)
def test_malformed_file_is_reported_and_skipped(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    (tmp_path / "good.md").write_text("A good document about asthma inhalers and their correct use.")
    (tmp_path / name).write_bytes(content)
    report = load_corpus(tmp_path)
    assert [d.id for d in report.documents] == ["good"]
    assert len(report.problems) == 1
    assert report.problems[0].path.endswith(name)
    assert reason.lower() in report.problems[0].reason.lower()


def test_bad_jsonl_lines_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        json.dumps({"_id": "a", "title": "A", "text": "Alpha text."}),
        "{not json",
        json.dumps({"_id": "b", "title": "B"}),  # no text
        json.dumps(["a", "list"]),
        json.dumps({"title": "no id", "text": "x"}),
        json.dumps({"id": "c", "kind": "drug_label", "title": "C", "text": "Gamma text."}),
        json.dumps({"_id": "a", "title": "A again", "text": "Duplicate id text."}),
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    report = load_corpus(tmp_path)
    assert [d.id for d in report.documents] == ["a", "c", "a~2"]
    where = sorted(p.path.rsplit(":", 1)[1] for p in report.problems)
    assert where == ["2", "3", "4", "5", "7"]
    assert report.duplicates == 1


def test_seed_sections_give_kinds() -> None:
    doc = make_document("seed", SEED.read_text().split("---\n", 2)[2])
    kinds = [s.kind for s in doc.sections]
    assert kinds == ["guideline", "drug_label", "research"]
    assert doc.cites_inline
    assert doc.kind_at(doc.text.index("Minocycline")) == "research"
    assert doc.kind_at(doc.text.index("Collagen Diseases")) == "drug_label"


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("From the Guidelines\nx\nFrom the Research\ny", ["guideline", "research"]),
        ("## From the FDA Drug Label\nx", ["drug_label"]),
        ("Nothing here is headed.\nFrom the guidelines we learn a lot.", []),
    ],
)
def test_kind_sections(text: str, kinds: list[str]) -> None:
    assert [s.kind for s in kind_sections(text)] == kinds


def test_missing_corpus_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "nope")


@pytest.mark.skipif(not (SHARED / "evidence").exists(), reason="../shared/data not present")
def test_real_evidence_pack_loads() -> None:
    report = load_corpus(SHARED / "evidence")
    kinds = {d.kind for d in report.documents}
    assert {"drug_label", "research"} <= kinds
    assert len(report.documents) >= 70
    assert all(d.text.strip() for d in report.documents)


def test_beir_folder_indexes_only_its_corpus(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "T", "text": "Some text."}) + "\n")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a question?"}) + "\n")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    report = load_corpus(tmp_path)
    assert [d.id for d in report.documents] == ["d1"] and report.problems == []
