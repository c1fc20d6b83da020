"""PDF reader: real guideline PDFs (two columns, hyphenation, running heads) come out as one-line
paragraphs in reading order with the page as locator; small and broken PDFs behave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.documents import Document
from bot.sources import load_corpus
from tests.conftest import tiny_pdf

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "evidence" / "raw" / "guidelines"
CDC = "cdc-2022-opioid-rr7103a1-H.pdf"
WHO = "who-2016-ipc-core-components-9789241549929.pdf"
CDC_TITLE = "CDC Clinical Practice Guideline for Prescribing Opioids for Pain — United States, 2022"
WHO_TITLE = (
    "Guidelines on Core Components of Infection Prevention and Control Programmes at the National and Acute "
    "Health Care Facility Level"
)
# Box 3 of the CDC guideline: how each of the 12 recommendations begins.
RECOMMENDATIONS = [
    "1. Nonopioid therapies are at least as effective as opioids for many common types of acute pain.",
    "2. Nonopioid therapies are preferred for subacute and chronic pain.",
    "3. When starting opioid therapy for acute, subacute, or chronic pain, clinicians should prescribe "
    "immediate-release opioids",
    "4. When opioids are initiated for opioid-naïve patients with acute, subacute, or chronic pain",
    "5. For patients already receiving opioid therapy, clinicians should carefully weigh benefits and risks",
    "6. When opioids are needed for acute pain, clinicians should prescribe no greater quantity than needed",
    "7. Clinicians should evaluate benefits and risks with patients within 1–4 weeks of starting opioid therapy",
    "8. Before starting and periodically during continuation of opioid therapy, clinicians should evaluate risk",
    "9. When prescribing initial opioid therapy for acute, subacute, or chronic pain",
    "10. When prescribing opioids for subacute or chronic pain, clinicians should consider the benefits",
    "11. Clinicians should use particular caution when prescribing opioid pain medication and benzodiazepines",
    "12. Clinicians should offer or arrange treatment with evidence-based medications to treat patients with "
    "opioid use disorder. Detoxification on its own",
]


def norm(s: str) -> str:
    return " ".join(s.lower().split())


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Document]:
    if not all((SHARED / name).is_file() for name in (CDC, WHO)):
        pytest.skip(f"shared guideline PDFs not found in {SHARED}")
    # A folder named guidelines/ inside the corpus gives the kind, as in a real corpus.
    root = tmp_path_factory.mktemp("corpus")
    (root / "guidelines").mkdir()
    for name in (CDC, WHO):
        (root / "guidelines" / name).symlink_to(SHARED / name)
    report = load_corpus(root)
    assert report.problems == []
    return {d.id.split("/")[-1][:3]: d for d in report.documents}


@pytest.fixture(scope="module")
def cdc_raw_pages() -> list[str]:
    """The CDC PDF's pages as pypdf's plain extraction gives them, hyphenation undone, normalised."""
    from pypdf import PdfReader

    if not (SHARED / CDC).is_file():
        pytest.skip(f"shared guideline PDFs not found in {SHARED}")
    pages = [p.extract_text() or "" for p in PdfReader(str(SHARED / CDC)).pages]
    # both ways of undoing a line-end hyphen: "opi-\noid" -> "opioid", "evidence-\nbased" -> "evidence-based"
    return [norm(re.sub(r"-\s*\n\s*", "", t)) + " | " + norm(re.sub(r"-\s*\n\s*", "-", t)) for t in pages]


def part_lines(doc: Document) -> list[tuple[int | None, str]]:
    return [(p.page, line) for p in doc.parts for line in doc.text[p.start : p.end].split("\n")]


def test_loads_both_guidelines_with_titles_and_meta(docs: dict[str, Document]) -> None:
    assert len(docs) == 2
    assert {d.kind for d in docs.values()} == {"guideline"}
    assert docs["cdc"].title == CDC_TITLE
    assert docs["who"].title == WHO_TITLE
    assert (docs["cdc"].meta["pages"], docs["who"].meta["pages"]) == (100, 91)
    assert (docs["cdc"].date, docs["who"].date) == ("2022", "2016")
    for doc in docs.values():
        assert doc.meta["entities"] == [] and doc.meta["origin"] and doc.url is None


@pytest.mark.parametrize(
    "phrase",
    [
        "within 1–4 weeks of starting opioid therapy",
        "prescription drug monitoring program",
        "evidence-based medications to treat patients with opioid use disorder",
        "Detoxification on its own",
    ],
)
def test_phrase_in_one_line_on_its_page(docs: dict[str, Document], cdc_raw_pages: list[str], phrase: str) -> None:
    found = [(page, line) for page, line in part_lines(docs["cdc"]) if norm(phrase) in norm(line)]
    assert found, phrase
    pages = {i for i, text in enumerate(cdc_raw_pages, 1) if norm(phrase) in text}
    for page, _line in found:
        assert page in pages, (phrase, page, pages)


@pytest.mark.parametrize("opening", RECOMMENDATIONS)
def test_each_recommendation_is_one_line(docs: dict[str, Document], opening: str) -> None:
    lines = [(page, line) for page, line in part_lines(docs["cdc"]) if norm(line).startswith(norm(opening))]
    assert len(lines) == 1, opening
    page, line = lines[0]
    assert page in (13, 14)  # Box 3
    assert re.search(r"\(recommendation category: [AB]; evidence type: [1-4]\)\.$", line), line


@pytest.mark.parametrize("which", ["cdc", "who"])
def test_parts_are_exact_ordered_and_paged(docs: dict[str, Document], which: str) -> None:
    doc = docs[which]
    assert len(doc.parts) > 100
    end = 0
    for part in doc.parts:
        assert end <= part.start < part.end <= len(doc.text)
        assert part.page is not None and 1 <= part.page <= doc.meta["pages"]
        body = doc.text[part.start : part.end]
        assert body == body.strip() and "\n\n" not in body
        end = part.end
    assert [p.page for p in doc.parts] == sorted(p.page or 0 for p in doc.parts)


@pytest.mark.parametrize(
    ("which", "bad"),
    [
        ("cdc", "MMWR / November 4, 2022"),
        ("cdc", "US Department of Health and Human Services/Centers for Disease Control and Prevention"),
        ("cdc", "opi oid"),
        ("cdc", "pre scribing"),
        ("cdc", "clini cians"),
        ("cdc", "opi- oid"),
        ("cdc", "prescrib- ing"),
    ],
)
def test_no_running_heads_or_broken_words_in_parts(docs: dict[str, Document], which: str, bad: str) -> None:
    assert not [line for _, line in part_lines(docs[which]) if norm(bad) in norm(line)]


def test_who_running_head_is_dropped(docs: dict[str, Document]) -> None:
    # The WHO running head (the title, with the page number) tops pages 3-91: no part line is that head,
    # and no part line starts with it either (a head glued onto the text).
    head = norm(WHO_TITLE)
    lines = [norm(line) for _, line in part_lines(docs["who"])]
    glued = re.compile(r"(\d+ )?" + re.escape(head) + r"( .*)?")
    assert not [line for line in lines if glued.fullmatch(line)]


@pytest.mark.parametrize("which", ["cdc", "who"])
def test_hyphenation_breaks_are_rare(docs: dict[str, Document], which: str) -> None:
    text = "\n".join(line for _, line in part_lines(docs[which]))
    # "short- and long-acting" is right; a break like "opi- oid" (next word in lower case, not "and"/"or"/"to")
    # is not, though a few are in the text layer itself ("policy- makers" in the WHO file)
    breaks = re.findall(r"\b[a-z]{2,}- (?!and\b|or\b|to\b|versus\b)[a-z]+", text)
    assert len(breaks) <= 8, breaks
    assert "evidence-based" in text


SMALL = [
    (72, 720, 20, "Asthma Care Guide"),
    (72, 690, 14, "Inhalers"),
    (72, 670, 11, "Use a spacer with the metered-dose inhaler. Rinse the mouth after inhaled corti-"),
    (72, 657, 11, "costeroids to prevent thrush."),
    (72, 40, 9, "7"),
]


@pytest.mark.parametrize(
    ("info", "title"),
    [("", "Asthma Care Guide"), ("/Title (Inhaler Guide 2021) /CreationDate (D:20210305)", "Inhaler Guide 2021")],
)
def test_small_generated_pdf(tmp_path: Path, info: str, title: str) -> None:
    (tmp_path / "guide.pdf").write_bytes(tiny_pdf(SMALL, info))
    report = load_corpus(tmp_path)
    assert report.problems == []
    (doc,) = report.documents
    assert doc.title == title and doc.meta["pages"] == 1 and doc.meta["origin"] == "PDF"
    assert doc.date == ("2021" if info else None)
    (part,) = doc.parts
    assert part.page == 1 and part.path[-1] == "Inhalers"
    assert doc.text[part.start : part.end] == (
        "Use a spacer with the metered-dose inhaler. Rinse the mouth after inhaled corticosteroids to prevent thrush."
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"%PDF-1.4 this is not really a pdf", "PDF"),
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n", "PDF"),
        (tiny_pdf([]), "no text layer"),
    ],
)
def test_bad_pdf_is_one_problem_line(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.pdf").write_bytes(content)
    report = load_corpus(tmp_path)
    assert report.documents == []
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.path.endswith("bad.pdf") and reason.lower() in problem.reason.lower()
    assert "\n" not in problem.reason


def test_encrypted_pdf_is_one_clear_line(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    source = tmp_path / "plain.pdf"
    source.write_bytes(tiny_pdf(SMALL))
    writer = PdfWriter()
    writer.append(PdfReader(str(source)))
    try:
        writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    except Exception as exc:  # pragma: no cover - depends on pypdf's crypto support
        pytest.skip(f"pypdf cannot encrypt here: {exc}")
    source.unlink()
    with (tmp_path / "locked.pdf").open("wb") as f:
        writer.write(f)
    report = load_corpus(tmp_path)
    assert report.documents == []
    (problem,) = report.problems
    assert "encrypted" in problem.reason and "\n" not in problem.reason
