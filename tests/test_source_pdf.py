"""PDF reader: real guideline PDFs (two columns, hyphenation, running heads) come out as one-line
paragraphs in reading order with the page as locator; small and broken PDFs behave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.documents import Document
from bot.sources import load_corpus
from bot.sources.pdflayout import Line, join_lines, reading_order, vocabulary
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


# What a clinician's review of the quotes found garbled (columns run together, a body sentence as a heading,
# a letter split from its word, a compound's hyphen lost), each now one span of one part line on its page.
FIXED = [
    (
        "who",
        30,
        "A minimum ratio of one full-time or equivalent infection preventionist (nurse or physician) per 250 beds "
        "(37) should be available.",
    ),
    (
        "who",
        32,
        "For these reasons, the GDG suggested a ratio of one infection preventionist to 100 hospital beds, but no "
        "less than the recommended one infection preventionist to 250 hospital beds, according to the evidence.",
    ),
    (
        "who",
        32,
        "Protection against HAI waned as the number of occupied beds per full-time equivalent infection control "
        "nurse increased from 250 to 400 beds and then levelled off (37).",
    ),
    ("who", 68, "additional research is needed on the impact of patient-to-bed ratio on HAI and AMR spread"),
    (
        "who",
        68,
        "However, the GDG did recognize that in some settings, adherence to this recommendation might be "
        "influenced by patient opinion.",
    ),
    (
        "who",
        51,
        "Experience from the USA using public reporting of HAI surveillance demonstrates a significant reduction "
        "in central line-associated bloodstream infections rates 13-18 months after the introduction of federal policy "
        "within states (105).",
    ),
    (
        "who",
        51,
        "• Describing the status of infections associated with health care (that is, incidence and/or "
        "prevalence, type, aetiology, severity, attributable burden of disease).",
    ),
    (
        "cdc",
        38,
        "Tapers can be completed over several months to years depending on the opioid dosage and should be "
        "individualized based on patient goals and concerns.",
    ),
    (
        "cdc",
        41,
        "in a primary care setting, a large decrease in pain occurred until the fourth day after treatment with "
        "paracetamol, with smaller decreases thereafter (245).",
    ),
    ("cdc", 33, "* Multiply the dose for each opioid by the conversion factor to determine the dose in MMEs."),
    ("cdc", 33, "† Tapentadol is a µ-receptor agonist and norepinephrine reuptake inhibitor."),
    ("cdc", 55, "benzodiazepines can potentiate opioid-induced decreases in respiratory drive."),
    ("cdc", 48, "which can exacerbate opioid-induced respiratory depression"),
    (
        "cdc",
        45,
        "• Clinicians should offer naloxone when prescribing opioids, particularly to patients at increased "
        "risk for overdose, including patients with a history of overdose, patients with a history of substance "
        "use disorder,",
    ),
    ("cdc", 7, "2. Selecting opioids and determining opioid dosages"),
]


@pytest.mark.parametrize(("which", "page", "sentence"), FIXED)
def test_fixed_sentences_are_one_span_on_their_page(
    docs: dict[str, Document], which: str, page: int, sentence: str
) -> None:
    doc = docs[which]
    found = [(p.page, line) for p in doc.parts for line in doc.text[p.start : p.end].split("\n") if sentence in line]
    assert [pg for pg, _ in found] == [page], (sentence, found)


@pytest.mark.parametrize("which", ["cdc", "who"])
def test_headings_are_not_body_sentences(docs: dict[str, Document], which: str) -> None:
    heads = {h for p in docs[which].parts for h in p.path}
    # a list item, a line in lower case or a sentence cut at a hyphen is body text, never a heading
    assert not [h for h in heads if h[:1] in "•›-–" or h[:1].islower() or h.endswith("-")]
    assert not [h for h in heads if h.startswith(("Before starting", "Describing the status", "Surveillance data"))]
    # chapter running heads in small capitals at the top of a few pages are page furniture
    assert not {"EXECUTIVE SUMMARY", "METHODS", "ACKNOWLEDGEMENTS"} & heads


def test_recommendation_8_opens_its_section(docs: dict[str, Document]) -> None:
    doc = docs["cdc"]
    (part,) = [p for p in doc.parts if p.path == ("Recommendation 8",)]
    assert part.page == 45
    assert doc.text[part.start : part.end].startswith(
        "Before starting and periodically during continuation of opioid therapy, clinicians should evaluate risk for "
        "opioid-related harms and discuss risk with patients. Clinicians should work with patients to incorporate "
        "into the management plan strategies to mitigate risk, including offering naloxone (recommendation category: "
        "A; evidence type: 4)."
    )


def test_no_lost_compound_hyphens_or_split_letters(docs: dict[str, Document]) -> None:
    text = docs["cdc"].text
    assert "opioidinduced" not in text and "patientto" not in docs["who"].text
    assert not re.search(r"(?m)^[*†‡§] [A-Z] [a-z]", text)  # "* M ultiply"
    assert not re.search(r"(?m)^[ï\x9f›] ", text + docs["who"].text)  # bullets the text layer garbles are "•"


def test_origin_is_the_publisher(docs: dict[str, Document]) -> None:
    assert docs["cdc"].meta["origin"] == "Centers for Disease Control and Prevention"  # /Author
    assert docs["who"].meta["origin"] == "World Health Organization"  # no /Author: "© World Health Organization 2016"


def test_origin_from_a_copyright_line(tmp_path: Path) -> None:
    lines = [*SMALL, (72, 60, 8, "Copyright 2021 Example Health Agency. All rights reserved.")]
    (tmp_path / "guide.pdf").write_bytes(tiny_pdf(lines))
    (doc,) = load_corpus(tmp_path).documents
    assert doc.meta["origin"] == "Example Health Agency"


def _line(x0: float, x1: float, y: float, text: str, size: float = 9.0) -> Line:
    return Line(x0=x0, x1=x1, y=y, size=size, bold=False, text=text)


def test_reading_order_columns_with_aligned_paragraph_gaps() -> None:
    # Two columns whose paragraph gaps line up: still the whole left column, then the right one.
    left = [_line(50, 290, 700 - 13 * i - (13 if i >= 3 else 0), f"L{i}") for i in range(6)]
    right = [_line(300, 540, 700 - 13 * i - (13 if i >= 3 else 0), f"R{i}") for i in range(6)]
    order = [ln.text for ln in reading_order(right + left, 0, 595)]
    assert order == [f"L{i}" for i in range(6)] + [f"R{i}" for i in range(6)]


def test_reading_order_box_heading_and_three_columns() -> None:
    title = _line(50, 540, 760, "TITLE")
    box = [_line(50, 290, 740 - 13 * i, f"L{i}") for i in range(2)] + [_line(300, 540, 740, "R0")]
    # a wide gap after the two-column box, then three columns
    cols = [
        _line(x, x + 150, 640 - 13 * i, f"{c}{i}") for c, x in (("p", 50), ("q", 220), ("r", 390)) for i in range(3)
    ]
    order = [ln.text for ln in reading_order(cols + box + [title], 0, 595)]
    assert order == ["TITLE", "L0", "L1", "R0", "p0", "p1", "p2", "q0", "q1", "q2", "r0", "r1", "r2"]


@pytest.mark.parametrize(
    ("a", "b", "words", "joined"),
    [
        ("opi-", "oid therapy", ["opioid"], "opioid therapy"),
        ("prescrib-", "ing opioids", ["prescribing"], "prescribing opioids"),
        ("evidence-", "based care", ["evidence-based", "evidence-based", "evidencebased"], "evidence-based care"),
        # neither form elsewhere: both pieces are words of the document, so the hyphen is a compound's
        ("opioid-", "induced decreases", ["opioid", "induced"], "opioid-induced decreases"),
        ("patient-", "to-bed ratio", ["patient", "to"], "patient-to-bed ratio"),
        ("hospi-", "tal beds", ["hospital"], "hospital beds"),
        ("non-", "opioid drugs", [], "non-opioid drugs"),
        ("intermediate-", "or long-term", [], "intermediate- or long-term"),
        ("COVID-", "19 cases", [], "COVID-19 cases"),
        (
            "https://prescribetoprevent.org.",
            "Additional resources",
            [],
            "https://prescribetoprevent.org. Additional resources",
        ),
        ("https://www.cdc.gov/", "drugoverdose", [], "https://www.cdc.gov/drugoverdose"),
    ],
)
def test_join_lines_hyphen_rule(a: str, b: str, words: list[str], joined: str) -> None:
    vocab = vocabulary([" ".join(words) + " x"]) if words else vocabulary([])
    assert join_lines(a, b, vocab) == joined


def test_vocabulary_leaves_out_broken_word_pieces() -> None:
    vocab = vocabulary(["clinicians should prescrib-", "ing opioids only when", "opioid-induced harm"])
    assert vocab["prescrib"] == 0 and vocab["ing"] == 0
    assert vocab["opioid-induced"] == 1 and vocab["clinicians"] == 1 and vocab["harm"] == 1
