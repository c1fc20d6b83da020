"""PMC JATS reader (`bot/sources/jats.py`) on the eight real open-access articles in the shared data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.documents import Document
from bot.sources import load_corpus
from bot.sources.jats import clean_citations
from bot.sources.xml import parse, read_bytes, text_of

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "evidence" / "raw"
PMC_DIR = SHARED / "pmc"
# file stem, title, licence_short, body section titles that must be top-level paths
ARTICLES = [
    ("1471-2180-11-174", "Factors influencing lysis time stochasticity in bacteriophage λ", "CC BY 2.0",
     ["Background", "Results", "Discussion", "Methods"]),
    ("1472-6831-8-11", "The Dutch version of the Oral Health Impact Profile (OHIP-NL): Translation, reliability "
     "and construct validity", "CC BY 2.0", ["Background", "Methods", "Results", "Discussion", "Conclusion"]),
    ("6605965a", "Oral contraceptives, reproductive history and risk of colorectal cancer in the European "
     "Prospective Investigation into Cancer and Nutrition", None, ["Materials and Methods", "Results", "Discussion"]),
    ("ehp-116-1694", "Dietary Exposure to 2,2′,4,4′-Tetrabromodiphenyl Ether (PBDE-47) Alters Thyroid Status and "
     "Thyroid Hormone–Regulated Gene Transcription in the Pituitary and Brain", "Public Domain Mark 1.0",
     ["Materials and Methods", "Results", "Discussion"]),
    ("mds526", "Socio-demographic inequalities in stage of cancer diagnosis: evidence from patients with female "
     "breast, lung, colon, rectal, prostate, renal, bladder, melanoma, ovarian and endometrial cancer",
     "CC BY-NC 3.0", ["Introduction", "Methods", "Results", "Discussion"]),
    ("pntd.0002065", "Serological Evidence of Rift Valley Fever Virus Circulation in Sheep and Goats in Zambézia "
     "Province, Mozambique", "CC BY", ["Author Summary", "Introduction", "Materials and Methods", "Results"]),
    ("pone.0000217", "Quantifying Organismal Complexity using a Population Genetic Approach", "CC BY",
     ["Introduction", "Model and Results", "Discussion", "Methods"]),
    ("pone.0046493", "MmPPOX Inhibits Mycobacterium tuberculosis Lipolytic Enzymes Belonging to the "
     "Hormone-Sensitive Lipase Family and Alters Mycobacterial Growth", "CC BY",
     ["Introduction", "Materials and Methods", "Results", "Discussion"]),
]  # fmt: skip
LEFTOVER_RE = re.compile(r"\[\s*[,;\u2013-]*\s*\]|\(\s*[,;\u2013-]*\s*\)|\s[,.;](?=\s|$)")
NOT_SCIENCE = ("Competing interests", "Authors' contributions", "Acknowledgements", "Supplementary Material",
               "Supporting Information", "Pre-publication history", "Funding", "Disclosure")  # fmt: skip


@pytest.fixture(scope="module")
def docs() -> dict[str, Document]:
    if not PMC_DIR.is_dir():
        pytest.skip(f"shared data missing: {PMC_DIR}")
    report = load_corpus(PMC_DIR)
    assert report.problems == []
    assert len(report.documents) == 8
    return {d.id: d for d in report.documents}


def part_texts(doc: Document) -> list[str]:
    return [doc.text[p.start : p.end] for p in doc.parts]


@pytest.mark.parametrize(("stem", "title", "licence", "sections"), ARTICLES, ids=[a[0] for a in ARTICLES])
def test_article(docs: dict[str, Document], stem: str, title: str, licence: str | None, sections: list[str]) -> None:
    doc = docs[stem]
    assert doc.title == title
    assert doc.kind == "research"
    assert doc.meta["origin"] == "PMC" and doc.meta["article_type"] == "research-article"
    assert doc.meta["licence_short"] == licence
    assert re.fullmatch(r"PMC\d+", doc.meta["pmcid"]) and doc.meta["pmid"].isdigit() and doc.meta["doi"]
    assert doc.url == f"https://pmc.ncbi.nlm.nih.gov/articles/{doc.meta['pmcid']}/"
    assert doc.date == doc.meta["year"] and re.fullmatch(r"20\d\d", doc.date)
    assert doc.meta["journal"] and doc.meta["entities"] == []
    tops = [p.path[0] for p in doc.parts if p.path]
    assert tops[0] == "Abstract"
    assert all(s in tops for s in sections)
    assert not any(p.path[0] in NOT_SCIENCE for p in doc.parts if p.path)


@pytest.mark.parametrize("stem", [a[0] for a in ARTICLES])
def test_offsets_and_lines(docs: dict[str, Document], stem: str) -> None:
    doc = docs[stem]
    assert doc.parts and all(0 <= p.start < p.end <= len(doc.text) for p in doc.parts)
    assert all(a.end < b.start for a, b in zip(doc.parts, doc.parts[1:], strict=False))
    for part, text in zip(doc.parts, part_texts(doc), strict=True):
        assert text == text.strip() and "\n\n" not in text
        for line in text.split("\n"):
            assert line == " ".join(line.split())
            assert part.path[-1:] != (line,)  # a heading never is a line of its own part
            assert not LEFTOVER_RE.search(line), line
            assert "\ue000" not in line and "\ue001" not in line


@pytest.mark.parametrize("stem", [a[0] for a in ARTICLES])
def test_no_reference_list_text(docs: dict[str, Document], stem: str) -> None:
    doc = docs[stem]
    root = parse(read_bytes(PMC_DIR / f"{stem}.nxml"))
    cited = [text_of(t) for t in root.iter("article-title") if t.getparent().tag != "title-group"]
    cited = [t for t in cited if len(t) > 30]
    assert cited  # every file has a reference list with titles
    assert not [t for t in cited if t in doc.text]


@pytest.mark.parametrize(
    ("stem", "path", "snippet"),
    [
        ("1471-2180-11-174", ("Results", "Table 1"), "Strain: IN61; na: 274; MLT (min): 45.7; SD (min): 2.92"),
        ("1471-2180-11-174", ("Abstract", "Results"), "Individual lysis events of thermally-inducible λ lysogens"),
        ("pntd.0002065", ("Results", "Cross-sectional surveys", "Table 1"), "District: Maganja da Costa; Goats n: 92"),
        ("6605965a", ("Table 2",), "Variable: Ever; Number of cases/non-casesa: 822/196 040"),
        (
            "6605965a",
            (),
            "higher incidence of colorectal cancer than women of similar age (American Cancer Society, 2007).",
        ),
        ("mds526", ("Methods", "Data"), ""),
        ("ehp-116-1694", ("Figure 1",), "Figure 1"),
        ("pone.0000217", ("Model and Results", "Linear Fitness Decline"), "(Methods, Appendix A): in the diploid case"),
    ],
)
def test_paths_and_text(docs: dict[str, Document], stem: str, path: tuple[str, ...], snippet: str) -> None:
    doc = docs[stem]
    texts = [doc.text[p.start : p.end] for p in doc.parts if p.path == path]
    assert texts, [p.path for p in doc.parts]
    assert any(snippet in t for t in texts)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("as reported [\ue000,\ue000].", "as reported."),
        ("as reported [\ue000\u2013\ue000], and", "as reported, and"),
        ("in mice \ue000, \ue000 and rats", "in mice and rats"),
        ("shown [\ue000], [\ue000].", "shown."),
        ("(Smith et al. 2004, \ue000).", "(Smith et al. 2004)."),
        ("(\ue000; Smith 2001)", "(Smith 2001)"),
        ("\ue000 Later work", "Later work"),
        ("no markers [1] here", "no markers [1] here"),
    ],
)
def test_clean_citations(raw: str, expected: str) -> None:
    assert clean_citations(raw) == expected


def test_citation_markers_dropped(docs: dict[str, Document]) -> None:
    text = docs["pntd.0002065"].text + docs["1471-2180-11-174"].text + docs["mds526"].text
    assert not re.search(r"(?<!F)\[\d+(?:[,\u2013-]\d+)*\]", text)  # "F[1,12] = 8.42" is a statistic
    assert "F[1,12] = 8.42" in text


def copy_with(tmp_path: Path, stem: str, edit) -> Path:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "c"
    corpus.mkdir(exist_ok=True)
    raw = (PMC_DIR / f"{stem}.nxml").read_text(encoding="utf-8")
    edited = edit(raw)
    assert edited != raw
    (corpus / f"{stem}.nxml").write_text(edited, encoding="utf-8")
    return corpus


def test_practice_guideline(docs: dict[str, Document], tmp_path: Path) -> None:
    corpus = copy_with(
        tmp_path,
        "pone.0000217",
        lambda s: s.replace('article-type="research-article"', 'article-type="practice-guideline"', 1),
    )
    [doc] = load_corpus(corpus).documents
    assert doc.kind == "guideline" and doc.meta["article_type"] == "practice-guideline"


def test_no_abstract_or_body_is_one_problem(docs: dict[str, Document], tmp_path: Path) -> None:
    def strip(s: str) -> str:
        s = re.sub(r"<abstract[ >].*?</abstract>", "", s, flags=re.S)
        return re.sub(r"<body>.*?</body>", "", s, flags=re.S)

    corpus = copy_with(tmp_path, "pone.0000217", strip)
    report = load_corpus(corpus)
    assert report.documents == []
    assert len(report.problems) == 1 and "no abstract or body text" in report.problems[0].reason


def test_malformed_file_does_not_stop_others(docs: dict[str, Document], tmp_path: Path) -> None:
    corpus = copy_with(tmp_path, "mds526", lambda s: s.replace("</front>", "</frnt>", 1))
    shutil.copy(PMC_DIR / "pone.0046493.nxml", corpus)
    report = load_corpus(corpus)
    assert [d.id for d in report.documents] == ["pone.0046493"]
    assert len(report.problems) == 1
    assert report.problems[0].path.endswith("mds526.nxml") and "malformed XML" in report.problems[0].reason
