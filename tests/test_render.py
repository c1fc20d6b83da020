"""Where a quote comes from and what each reference is: `Bullet.section` and `Reference.source/date/locator`
in every renderer (text, Markdown, HTML, Slack Block Kit) and in the HTTP schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.config import Settings
from bot.documents import Answer, AnswerSection, Bullet, Reference
from bot.render import reference_details, render
from bot.slack_blocks import MAX_SECTION_TEXT, answer_message, section_texts
from tests.conftest import SEED_QUESTION

FORMATS = ["text", "markdown", "html"]
BOXED = "Boxed Warning \u203a WARNING: SERIOUS INFECTIONS AND MALIGNANCY"
DAILYMED = "https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=608d4f0d"


def sample() -> Answer:
    """A drug label (source, locator, date), a guideline PDF without a source name (locator and date), a
    plain-text research document (none of them), and a section label with markup in it."""
    return Answer(
        question="What are the boxed warnings for adalimumab?",
        answered=True,
        sections=[
            AnswerSection("drug_label", "From the FDA Drug Label", [
                Bullet("Increased risk of serious infections.", [1], "humira", 10, 47, BOXED),
                Bullet("Do not start HUMIRA during an active infection.", [1], "humira", 900, 947,
                       "WARNINGS AND PRECAUTIONS \u203a 5.1 Serious Infections"),
            ]),
            AnswerSection("guideline", "From the Guidelines", [
                Bullet("Screen for latent TB.", [2], "acr", 0, 21, "Recommendations, p. 16"),
                Bullet("Treat latent TB first.", [2], "acr", 30, 52, "Odd <script>alert(1)</script> & co"),
            ]),
            AnswerSection("research", "From the Research", [Bullet("A plain quote.", [3], "plain", 0, 14)]),
        ],
        references=[
            Reference(1, "humira", "HUMIRA (adalimumab)", "drug_label", DAILYMED, source="FDA label",
                      date="2013-09-30", locator="Boxed Warning"),
            Reference(2, "acr", "ACR guideline & notes", "guideline", None, date="2018", locator="pp. 16, 17"),
            Reference(3, "plain", "Plain doc", "research", None),
        ],
    )  # fmt: skip


# What each format shows for the quotes' sections and the references (exact lines or fragments).
EXPECTED = {
    "text": [
        f"- Increased risk of serious infections. [1] ({BOXED})\n",
        "- Screen for latent TB. [2] (Recommendations, p. 16)\n",
        "- A plain quote. [3]\n",
        f"[1] HUMIRA (adalimumab) \u2014 FDA label, Boxed Warning, 2013-09-30 {DAILYMED}\n",
        "[2] ACR guideline & notes \u2014 pp. 16, 17, 2018 (guideline)\n",
        "[3] Plain doc (research)\n",
    ],
    "markdown": [
        f'- "Increased risk of serious infections." [1] \u2014 *{BOXED}*\n',
        '- "Screen for latent TB." [2] \u2014 *Recommendations, p. 16*\n',
        '- "Treat latent TB first." [2] \u2014 *Odd \\<script\\>alert(1)\\</script\\> & co*\n',
        '- "A plain quote." [3]\n',
        f"1. [HUMIRA (adalimumab)]({DAILYMED}) \u2014 FDA label, Boxed Warning, 2013-09-30\n",
        "2. ACR guideline & notes \u2014 pp. 16, 17, 2018 (guideline)\n",
        "3. Plain doc (research)\n",
    ],
    "html": [  # the visible text of each list item, white space collapsed, one a line
        f"\nIncreased risk of serious infections. [1] {BOXED}\n",
        "\nScreen for latent TB. [2] Recommendations, p. 16\n",
        "\nA plain quote. [3]\n",
        f"\nHUMIRA (adalimumab) \u2014 FDA label, Boxed Warning, 2013-09-30 (drug label) {DAILYMED}\n",
        "\nACR guideline & notes \u2014 pp. 16, 17, 2018 (guideline)\n",
        "\nPlain doc (research)\n",
    ],
}


def shown(fmt: str, answer: Answer) -> str:
    out = render(answer, fmt)
    if fmt != "html":
        return out
    items = BeautifulSoup(out, "html.parser").select("li")
    return "".join("\n" + " ".join(li.get_text().split()) + "\n" for li in items)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sections_and_reference_details_in_every_format(fmt: str) -> None:
    out = shown(fmt, sample())
    for expected in EXPECTED[fmt]:
        assert expected in out, (expected, out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_details_leave_no_artefacts(fmt: str) -> None:
    answer = sample()
    answer.sections[0].bullets[0].section = "   "  # blank labels count as absent
    answer.references[0] = Reference(1, "humira", "HUMIRA (adalimumab)", "drug_label", DAILYMED, source=" ")
    answer.references[1] = Reference(2, "acr", "ACR guideline & notes", "guideline", None, date="2018")
    out = shown(fmt, answer)
    assert "None" not in out and "\u2014 ," not in out and ", ," not in out and ", (" not in out
    assert "( )" not in out and "()" not in out and "**" not in out and "\u2014 \n" not in out
    first = {
        "text": "- Increased risk of serious infections. [1]\n",
        "html": "\nIncreased risk of serious infections. [1]\n",
    }
    assert first.get(fmt, '- "Increased risk of serious infections." [1]\n') in out
    assert "ACR guideline & notes \u2014 2018 (guideline)" in out
    if fmt == "html":
        assert f"HUMIRA (adalimumab) (drug label) {DAILYMED}" in out
    else:
        assert "HUMIRA (adalimumab)" + ("" if fmt == "text" else f"]({DAILYMED})") + " (drug label)" in out


def test_details_join_only_what_is_there() -> None:
    ref = Reference(1, "d", "T", "research", None)
    assert reference_details(ref) == ""
    ref.locator, ref.date = "CONCLUSIONS", "2018"
    assert reference_details(ref) == "CONCLUSIONS, 2018"
    ref.source = "PubMed"
    assert reference_details(ref) == "PubMed, CONCLUSIONS, 2018"


def test_html_sections_and_details_through_selectors() -> None:
    soup = BeautifulSoup(render(sample(), "html", answer_id="x"), "html.parser")
    assert soup.find("script") is None  # the section label's markup is text
    labels = [s.get_text() for s in soup.select("section li > span.section")]
    assert labels == [
        BOXED,
        "WARNINGS AND PRECAUTIONS \u203a 5.1 Serious Infections",
        "Recommendations, p. 16",
        "Odd <script>alert(1)</script> & co",
    ]
    plain = soup.select("section.kind-research li")
    assert len(plain) == 1 and plain[0].select_one("span.section") is None
    refs = soup.select(".references li")
    assert [r["id"] for r in refs] == ["ref-x-1", "ref-x-2", "ref-x-3"]
    assert [d.get_text() for d in soup.select(".references li > span.ref-details")] == [
        "FDA label, Boxed Warning, 2013-09-30",
        "pp. 16, 17, 2018",
    ]
    assert refs[2].select_one("span.ref-details") is None
    assert [r.select_one("span.kind").get_text() for r in refs] == ["(drug label)", "(guideline)", "(research)"]  # type: ignore[union-attr]
    assert [a["href"] for a in soup.select("a.cite")] == ["#ref-x-1", "#ref-x-1", "#ref-x-2", "#ref-x-2", "#ref-x-3"]
    assert [str(a["href"]) for a in soup.select("a.external")] == [DAILYMED]


def test_html_escapes_a_section_label() -> None:
    out = render(sample(), "html")
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in out


def test_undrawn_answers_render_as_before() -> None:
    """Answers without the new fields (plain-text sources) read exactly as they always did."""
    answer = Answer("q", True, [AnswerSection("research", "From the Research", [Bullet("Q.", [1], "d", 0, 2)])],
                    [Reference(1, "d", "Doc", "research", "https://e.org/1")])  # fmt: skip
    assert render(answer, "text") == "From the Research\n- Q. [1]\n\nReferences\n[1] Doc (research) https://e.org/1\n"
    assert "1. [Doc](https://e.org/1) (research)\n" in render(answer, "markdown")


# --- Slack -----------------------------------------------------------------------------------------------


def test_slack_blocks_show_sections_and_details_escaped() -> None:
    msg = answer_message(sample(), public_url="https://bot.example.org", answer_id="s1")
    texts = section_texts(msg.blocks)
    assert all(len(t) <= MAX_SECTION_TEXT for t in texts)
    quotes = [t for t in texts if t.startswith(">")]
    assert quotes[0].startswith(">Increased risk of serious infections. <https://bot.example.org/source/humira?")
    assert quotes[0].endswith(f"|[1]>\n_{BOXED}_")
    assert quotes[3].endswith("\n_Odd &lt;script&gt;alert(1)&lt;/script&gt; &amp; co_")
    assert re.fullmatch(r">A plain quote\. <[^>]+\|\[3\]>", quotes[4])  # no section: no trailing line
    refs = [t for t in texts if t.startswith("*[")]
    assert refs[0] == (
        "*[1]* <https://bot.example.org/source/humira|HUMIRA (adalimumab)> \u2014 FDA label, Boxed Warning, "
        f"2013-09-30 \u00b7 drug label \u00b7 <{DAILYMED}|original>"
    )
    acr = "<https://bot.example.org/source/acr|ACR guideline &amp; notes>"
    assert refs[1] == f"*[2]* {acr} \u2014 pp. 16, 17, 2018 \u00b7 guideline"
    assert refs[2] == "*[3]* <https://bot.example.org/source/plain|Plain doc> \u00b7 research"
    assert not any("None" in t or "<script" in t for t in texts)


def test_slack_long_labels_stay_within_limits() -> None:
    answer = sample()
    answer.sections[0].bullets[0] = Bullet("x&<" * 1500, [1], "humira", 0, 4500, "<&>" * 2000)
    answer.references[0].locator = "; ".join(f"Section {i} & more" for i in range(500))
    msg = answer_message(answer, public_url="https://bot.example.org", answer_id="s2")
    assert msg.trimmed and all(len(t) <= MAX_SECTION_TEXT for t in section_texts(msg.blocks))
    quote = next(t for t in section_texts(msg.blocks) if t.startswith(">x&amp;"))
    assert "\n_&lt;&amp;&gt;" in quote and quote.endswith("\u2026_")


# --- The HTTP schema ----------------------------------------------------------------------------------------


def test_openapi_lists_the_new_fields(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "none", data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    bullet, ref = schemas["BulletModel"]["properties"], schemas["ReferenceModel"]["properties"]
    assert "section" in bullet and bullet["section"]["description"]
    for key in ("source", "date", "locator"):
        assert key in ref and ref[key]["description"], key
    for model in ("BulletModel", "ReferenceModel"):  # optional: answers from plain text have none
        assert not {"section", "source", "date", "locator"} & set(schemas[model].get("required", []))


def test_api_answer_carries_the_new_keys(hash_settings: Settings) -> None:
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    with TestClient(create_app(hash_settings)) as c:
        body = c.post("/api/ask", json={"question": SEED_QUESTION}).json()
    assert body["answered"] is True
    for section in body["sections"]:
        for bullet in section["bullets"]:
            assert "section" in bullet and (bullet["section"] is None or isinstance(bullet["section"], str))
    for ref in body["references"]:
        assert {"source", "date", "locator"} <= set(ref)
        assert all(ref[k] is None or isinstance(ref[k], str) for k in ("source", "date", "locator"))
