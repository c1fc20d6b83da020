"""FDA SPL labels (XML and DailyMed zips) and openFDA label JSON: real labels, outline, codes, bad input."""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import zipfile
from functools import cache
from pathlib import Path

import pytest

from bot.documents import Document
from bot.sources import LoadReport, load_corpus, spl

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "evidence"
SPL_DIR = SHARED / "raw" / "spl"
FIXTURE = Path(__file__).resolve().parent / "data" / "openfda" / "humira-label.json"
NEVER_INDEXED = ("NOT FOR SALE", "PRINCIPAL DISPLAY PANEL", "These highlights do not include")
MINIMAL_SPL = b"""<?xml version="1.0" encoding="UTF-8"?>
<document xmlns="urn:hl7-org:v3"><setId root="abc"/><title>TESTA (testamine) tablets</title>
<component><structuredBody>%s</structuredBody></component></document>"""
SECTION = b"""<component><section><code code="34068-7"/><title>2 DOSAGE AND ADMINISTRATION</title>
<text><paragraph>Take one tablet daily.</paragraph></text></section></component>"""


def need_shared() -> None:
    if not SPL_DIR.is_dir():
        pytest.skip("../shared/data/evidence not present")


@cache
def _labels() -> LoadReport:
    return load_corpus(SPL_DIR)


def label(doc_id: str) -> Document:
    need_shared()
    return next(d for d in _labels().documents if d.id == doc_id)


def lines(doc: Document, *, code: str | None = None) -> list[str]:
    return [ln for p in doc.parts if code in (None, p.code) for ln in doc.text[p.start : p.end].split("\n")]


HUMIRA, LIPITOR, VIAGRA, HALO, COUGH = (
    "humira", "lipitor-orig", "64f8040f-938d-4236-8e22-c838c9b5f8da", "no-title", "cough",
)  # fmt: skip
ALL = [HUMIRA, LIPITOR, VIAGRA, HALO, COUGH]


def test_real_labels_load_without_problems() -> None:
    need_shared()
    report = _labels()
    assert report.problems == []
    assert sorted(d.id for d in report.documents) == sorted(ALL)
    assert {d.kind for d in report.documents} == {"drug_label"}


@pytest.mark.parametrize(
    ("doc_id", "title"),
    [
        (HUMIRA, "HUMIRA (adalimumab)"),
        (LIPITOR, "LIPITOR (atorvastatin calcium)"),
        (VIAGRA, "VIAGRA (sildenafil citrate)"),
        (HALO, "Haloperidol"),
        (COUGH, "TRIAMINIC Childrens Night Time Cold and Cough (Diphenhydramine HCl, Phenylephrine HCl)"),
    ],
)
def test_titles_name_the_product(doc_id: str, title: str) -> None:
    doc = label(doc_id)
    assert doc.title == title
    assert "These highlights" not in doc.title and "Initial U.S." not in doc.title


@pytest.mark.parametrize(
    ("doc_id", "set_id", "version", "date", "entities"),
    [
        (HUMIRA, "608d4f0d-b19f-46d3-749a-7159aa5f933d", "1560", "2013-09-30", ["humira", "adalimumab"]),
        (LIPITOR, "c6e131fe-e7df-4876-83f7-9156fc4e8228", "11", "2014-01-13",
         ["lipitor", "atorvastatin calcium", "atorvastatin"]),
        (VIAGRA, "0b0be196-0c62-461c-94f4-9a35339b4501", "20", "2017-11-07",
         ["viagra", "sildenafil citrate", "sildenafil"]),
        (HALO, "0027b8a3-73bf-4005-a7e3-b035f451a861", "1", "2010-07-28", ["haloperidol"]),
    ],
)  # fmt: skip
def test_meta(doc_id: str, set_id: str, version: str, date: str, entities: list[str]) -> None:
    doc = label(doc_id)
    assert doc.meta["origin"] == "FDA label"
    assert (doc.meta["set_id"], doc.meta["version"], doc.meta["effective_date"]) == (set_id, version, date)
    assert doc.meta["entities"] == entities
    assert doc.date == date
    assert doc.url == f"https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid={set_id}"
    assert doc.meta["document_type"] == "HUMAN PRESCRIPTION DRUG LABEL"
    assert doc.meta["labeler"] and doc.meta["products"] and doc.meta["generics"]


@pytest.mark.parametrize(
    ("doc_id", "code", "needles"),
    [
        (HUMIRA, "34066-1", ["SERIOUS INFECTIONS", "MALIGNANCY", "Lymphoma"]),
        (HUMIRA, "34088-5", ["10 mg/kg"]),
        (LIPITOR, "34070-3", ["Active liver disease"]),
        (LIPITOR, "34084-4", ["myalgia"]),
        (VIAGRA, "34068-7", ["50 mg"]),
        (VIAGRA, "34070-3", ["nitrates"]),
        (HALO, "34066-1", ["Increased Mortality in Elderly Patients with Dementia-Related Psychosis"]),
        (HALO, "34068-7", ["Moderate Symptomatology - 0.5 mg to 2 mg"]),  # coded Boxed Warning in the label
        (COUGH, "50570-1", ["in a child under 4 years of age"]),
        (COUGH, "50569-3", ["heart disease"]),
        (COUGH, "34068-7", ["children 6 to under 12 years of age"]),
    ],
)
def test_parts_carry_their_section_code(doc_id: str, code: str, needles: list[str]) -> None:
    text = "\n".join(lines(label(doc_id), code=code))
    for needle in needles:
        assert needle.lower() in text.lower()


def test_section_paths() -> None:
    humira = label(HUMIRA)
    assert ("WARNINGS AND PRECAUTIONS", "5.1 Serious Infections") in {p.path for p in humira.parts}
    assert {p.code for p in humira.parts if p.path[0] == "WARNINGS AND PRECAUTIONS"} == {"43685-7"}
    halo = label(HALO)
    tardive = [p for p in halo.parts if p.path == ("WARNINGS", "Tardive Dyskinesia")]
    assert tardive and {p.code for p in tardive} == {"34071-1"}
    assert ("Boxed Warning",) in {p.path for p in halo.parts}  # untitled: the LOINC name
    boxed_codes = {p.code for p in halo.parts if p.path[0] == "DOSAGE AND ADMINISTRATION"}
    assert boxed_codes == {"34068-7"}
    cough = label(COUGH)
    paths = {p.path: p.code for p in cough.parts}
    assert paths[("Warnings", "Do not use")] == "50570-1"
    assert paths[("Warnings", "Ask a doctor before use if the child has")] == "50569-3"
    assert paths[("Uses",)] == "34067-9"


@pytest.mark.parametrize("doc_id", ALL)
def test_offsets_outline_and_left_out_text(doc_id: str) -> None:
    doc = label(doc_id)
    assert doc.parts
    end = 0
    for part in doc.parts:
        assert end <= part.start < part.end <= len(doc.text)
        end = part.end
        body = doc.text[part.start : part.end]
        assert body == body.strip() and body
        for line in body.split("\n"):
            assert line.strip() == line and line
            assert not re.match(r"^\d+(\.\d+)+\s+[A-Z]", line), line
            assert line not in part.path
    for needle in NEVER_INDEXED:
        assert needle.lower() not in doc.text.lower()


def test_table_rows_read_with_their_headers() -> None:
    body = "\n".join(lines(label(HUMIRA), code="34084-4"))
    row = "Adverse Reaction (Preferred Term): Sinusitis; HUMIRA 40 mg subcutaneous Every Other Week (N=705): 11%"
    assert row + "; Placebo (N=690): 9%" in body
    viagra = "\n".join(lines(label(VIAGRA), code="34084-4"))
    assert "Adverse Reaction: Headache; 25 mg (n=312): 16%; 50 mg (n=511): 21%" in viagra


# --- bad input: each one problem line; the other files of the folder still load -------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE document [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<document xmlns="urn:hl7-org:v3"><component><structuredBody><component><section><title>X</title>
<text><paragraph>&c;</paragraph></text></section></component></structuredBody></component></document>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE document [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<document xmlns="urn:hl7-org:v3"><component><structuredBody><component><section><title>X</title>
<text><paragraph>&x;</paragraph></text></section></component></structuredBody></component></document>"""


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def _load_with(tmp_path: Path, name: str, data: bytes) -> LoadReport:
    corpus = tmp_path / "labels"
    corpus.mkdir()
    (corpus / "good.xml").write_bytes(MINIMAL_SPL % SECTION)
    (corpus / name).write_bytes(data)
    return load_corpus(corpus)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.xml", b"<document><section></document>", "malformed XML"),
        ("other.xml", b"<foo/>", "<foo>"),
        ("laughs.xml", BILLION_LAUGHS, "entit"),
        ("xxe.xml", XXE, "entit"),
        ("empty-label.xml", MINIMAL_SPL % b"", "no section text"),
        ("traversal.zip", _zip({"../evil.xml": MINIMAL_SPL % SECTION}), "outside the folder"),
        ("absolute.zip", _zip({"/tmp/evil.xml": MINIMAL_SPL % SECTION}), "outside the folder"),
        ("bomb.zip", _zip({"label.xml": b"<document>" + b" " * (20 * 2**20) + b"</document>"}), "zip bomb"),
        ("images.zip", _zip({"a.jpg": b"\xff\xd8 not really"}), "no .xml"),
        ("notzip.zip", b"PK\x03\x04 garbage", "not a readable zip"),
    ],
)
def test_bad_input_is_one_problem(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    report = _load_with(tmp_path, name, data)
    assert [d.id for d in report.documents] == ["good"]
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.path.endswith(name) and reason in problem.reason and "\n" not in problem.reason
    assert "root:" not in "".join(d.text for d in report.documents)  # /etc/passwd was never read


def test_member_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spl, "MAX_MEMBER_BYTES", 1000)
    report = _load_with(
        tmp_path, "big.zip", _zip({"label.xml": MINIMAL_SPL % (SECTION * 10)}, method=zipfile.ZIP_STORED)
    )
    assert [p.reason for p in report.problems] == ["zip member label.xml larger than 1000 bytes"]


def test_member_with_a_lying_size_header_is_refused(tmp_path: Path) -> None:
    data = bytearray(_zip({"label.xml": MINIMAL_SPL % (SECTION * 50)}))
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 100)  # uncompressed size claimed: 100 bytes
    report = _load_with(tmp_path, "liar.zip", bytes(data))
    assert [d.id for d in report.documents] == ["good"]
    assert len(report.problems) == 1 and "zip" in report.problems[0].reason


def test_dailymed_zip_loads(tmp_path: Path) -> None:
    need_shared()
    zdata = _zip({"humira.xml": (SPL_DIR / "humira.xml").read_bytes(), "humira-01.jpg": b"\xff\xd8"})
    report = _load_with(tmp_path, "20130930_humira.zip", zdata)
    assert report.problems == []
    doc = next(d for d in report.documents if d.id == "20130930_humira")
    assert doc.title == "HUMIRA (adalimumab)" and doc.meta["set_id"] == "608d4f0d-b19f-46d3-749a-7159aa5f933d"
    assert any(p.code == "34066-1" for p in doc.parts)


def test_folder_of_real_labels_with_a_bad_file(tmp_path: Path) -> None:
    need_shared()
    corpus = tmp_path / "spl"
    shutil.copytree(SPL_DIR, corpus)
    (corpus / "bad.xml").write_bytes(b"<foo/>")
    report = load_corpus(corpus)
    assert len(report.documents) == 5 and len(report.problems) == 1


# --- openFDA JSON ---------------------------------------------------------------------------------------


def test_openfda_fixture_loads_like_an_spl_label(tmp_path: Path) -> None:
    corpus = tmp_path / "labels"
    corpus.mkdir()
    shutil.copy(FIXTURE, corpus / FIXTURE.name)
    report = load_corpus(corpus)
    assert report.problems == []
    [doc] = report.documents
    assert doc.id == "openfda/608d4f0d-b19f-46d3-749a-7159aa5f933d"
    assert doc.title == "HUMIRA (adalimumab)" and doc.kind == "drug_label"
    assert doc.url == "https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=608d4f0d-b19f-46d3-749a-7159aa5f933d"
    assert doc.meta["origin"] == "FDA label" and doc.meta["effective_date"] == "2013-09-30" == doc.date
    assert doc.meta["entities"] == ["humira", "adalimumab"]
    parts = {p.code: doc.text[p.start : p.end] for p in doc.parts}
    assert parts["34066-1"].startswith("WARNING: SERIOUS INFECTIONS AND MALIGNANCY")
    assert parts["34068-7"].startswith("HUMIRA is administered by subcutaneous injection.")
    assert parts["34084-4"].startswith("The most serious adverse reactions")
    assert {p.path[0] for p in doc.parts} >= {"Boxed Warning", "Dosage and Administration", "Adverse Reactions"}
    assert "NDC" not in doc.text and "Adalimumab Humira" not in doc.text
    for part in doc.parts:
        assert not doc.text[part.start : part.end].upper().startswith(part.path[0].upper())


@pytest.mark.parametrize(
    ("content", "docs", "problems"),
    [
        ([{"set_id": "a", "openfda": {"brand_name": ["X"]}, "overdosage": ["10 OVERDOSAGE Call."]}, {"id": "b"}], 1, 1),
        ({"set_id": "a", "do_not_use": ["Do not use with alcohol."]}, 1, 0),
        ([{"id": "a", "warnings": ["x"]}, "not a record"], 1, 1),
    ],
)  # fmt: skip
def test_openfda_records(tmp_path: Path, content: object, docs: int, problems: int) -> None:
    (tmp_path / "labels.json").write_text(json.dumps(content))
    report = load_corpus(tmp_path / "labels.json")
    assert (len(report.documents), len(report.problems)) == (docs, problems)
    if isinstance(content, dict):
        assert report.documents[0].text.endswith("Do not use with alcohol.")  # OTC heading starts the sentence


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"{not json", "not valid JSON"), (b'{"hello": 1}', "not an openFDA"), (b'{"results": []}', "no label records")],
)
def test_openfda_bad_files(tmp_path: Path, data: bytes, reason: str) -> None:
    (tmp_path / "x.json").write_bytes(data)
    report = load_corpus(tmp_path / "x.json")
    assert report.documents == [] and len(report.problems) == 1 and reason in report.problems[0].reason
