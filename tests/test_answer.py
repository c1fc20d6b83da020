"""Answers with the real model: headings in the seed's order, exact quotes, citations, abstention, templates."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from bs4 import BeautifulSoup

from bot.documents import Answer, AnswerSection, Bullet, Reference
from bot.engine import Engine, QuestionError
from bot.render import render
from tests.conftest import OFF_TOPIC_QUESTION, SEED_QUESTION

HEADINGS = ["From the Guidelines", "From the FDA Drug Label", "From the Research"]


def assert_quotes_exact(engine: Engine, answer: Answer) -> None:
    for bullet in answer.quotes():
        doc = engine.index.document(bullet.doc_id)
        assert doc is not None
        assert doc.text[bullet.start : bullet.end] == bullet.quote


def test_seed_question_quotes_the_seed_under_its_headings(engine: Engine) -> None:
    answer = engine.ask(SEED_QUESTION)
    assert answer.answered and answer.message is None
    assert [s.heading for s in answer.sections] == HEADINGS
    assert [s.kind for s in answer.sections] == ["guideline", "drug_label", "research"]
    assert_quotes_exact(engine, answer)
    seed = "calcinosis-cutis-dermatomyositis"
    assert all(b.doc_id == seed for b in answer.quotes())
    assert answer.references[0].doc_id == seed and answer.references[0].n == 1
    assert all(len(s.bullets) <= engine.policy.max_bullets_per_section for s in answer.sections)
    assert len(answer.quotes()) <= engine.policy.max_bullets
    assert not any(b.quote.rstrip(".").endswith((" 1", " 4", " 4, 5", " 6")) for b in answer.quotes())
    assert answer.took_ms > 0


@pytest.mark.parametrize(
    "question",
    [
        SEED_QUESTION,
        "Is prednisone indicated for dermatomyositis?",
        "Should children with a viral infection take aspirin?",
        "What blood pressure should adults with hypertension aim for?",
        "Does vitamin D prevent hip fractures?",
        "atorvastatin after stroke",
    ],
)
def test_every_quote_is_exact_and_citations_are_consistent(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.answered
    assert_quotes_exact(engine, answer)
    numbers = [n for b in answer.quotes() for n in b.citations]
    first_use = list(dict.fromkeys(numbers))
    assert first_use == list(range(1, len(first_use) + 1))  # numbered in order of first use
    assert [r.n for r in answer.references] == first_use
    refs = {r.n: r.doc_id for r in answer.references}
    assert all(refs[b.citations[0]] == b.doc_id for b in answer.quotes())
    keys = [(s.kind) for s in answer.sections]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    "question", [OFF_TOPIC_QUESTION, "How do I replace the clutch of a 2009 Honda Civic?", "zzzz qqqq"]
)
def test_absent_topics_are_declined(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert not answer.answered
    assert answer.sections == [] and answer.references == []
    assert answer.message and "could not find" in answer.message


def test_kind_filter(engine: Engine) -> None:
    answer = engine.ask(SEED_QUESTION, kinds=["research"])
    assert [s.kind for s in answer.sections] == ["research"]
    with pytest.raises(QuestionError, match="Unknown source kind"):
        engine.ask(SEED_QUESTION, kinds=["no-such-kind"])


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001, "bad\x00question"])
def test_bad_questions_raise(engine: Engine, question: str) -> None:
    with pytest.raises(QuestionError):
        engine.ask(question)


def _sample() -> Answer:
    return Answer(
        question="<b>q</b>",
        answered=True,
        sections=[
            AnswerSection("research", "From the Research", [Bullet("Quote <script>x</script> one", [1], "d1", 0, 5)]),
            AnswerSection("guideline", "From the Guidelines", [Bullet("Quote two", [2, 1], "d2", 3, 9)]),
        ],
        references=[
            Reference(1, "d1", "Doc & one", "research", "https://e.org/1"),
            Reference(2, "d/2", "Two", "guideline", None),
        ],
    )  # fmt: skip


def test_text_template() -> None:
    out = render(_sample(), "text")
    assert "From the Research\n- Quote <script>x</script> one [1]\n" in out
    assert "- Quote two [2, 1]" in out
    assert "References\n[1] Doc & one (research) https://e.org/1\n[2] Two (guideline)" in out


def test_markdown_template() -> None:
    out = render(_sample(), "markdown")
    assert "### From the Guidelines" in out and '- "Quote two" [2][1]' in out
    assert "1. [Doc & one](https://e.org/1) (research)" in out


def test_html_template_escapes_and_links() -> None:
    soup = BeautifulSoup(render(_sample(), "html"), "html.parser")
    assert [h.get_text() for h in soup.select("section h3")] == [
        "From the Research",
        "From the Guidelines",
        "References",
    ]
    assert soup.find("script") is None
    assert "Quote <script>x</script> one" in soup.select_one("q").get_text()  # type: ignore[union-attr]
    cites = [a["href"] for a in soup.select("a.cite")]
    assert cites == ["#ref-a-1", "#ref-a-2", "#ref-a-1"]
    href = soup.select_one("#ref-a-2 a")["href"]  # type: ignore[index]
    assert unquote(str(href)).endswith("/source/d/2")


def test_decline_renders_plainly() -> None:
    from bot.answer import decline

    answer = decline("what?")
    assert render(answer, "text").strip().startswith("I could not find this")
    soup = BeautifulSoup(render(answer, "html"), "html.parser")
    assert soup.select_one("article")["data-answered"] == "false"  # type: ignore[index]
