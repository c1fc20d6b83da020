"""Question analysis for consumer questions (bot/focus.py): focus, question type, greetings dropped; and
the learned ranker's file (bot/ranker.py): loaded as shipped, refused with a clear error when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.focus import find_focus, focus_lexicon, question_types, split_title, title_key
from bot.ranker import FEATURES, RankerError, load_ranker, parse, to_json

# The focus lexicon of a small consumer-health index: its documents' short titles.
TITLES = [
    "Fifth disease",
    "Deep Vein Thrombosis",
    "Kallmann syndrome",
    "Peripheral Artery Disease",
    "Diabetes",
    "Huntington disease",
    "Paget's disease of bone",
    "Helicobacter Pylori Infections",
    "Restless Legs Syndrome",
    "Depression",
    "Atorvastatin calcium (LIPITOR)",
    "A randomized trial of amitriptyline for chronic tension-type headache in adults without depression",
]
LEXICON = focus_lexicon(enumerate(TITLES))


@pytest.mark.parametrize(
    ("question", "focus", "types"),
    [
        ("Hi, my 6-year-old daughter has had a rash on her cheeks since last week and her doctor said fifth "
         "disease; is it contagious and can she go to school?", "fifth disease", ("contagion",)),
        ("flew back from austrailia 2 days ago, now my left calf is sore and looks a bit puffy. How do I know if it "
         "is a deep vein thrombosis? what symptoms mean I need to go to the ER", "deep vein thrombosis",
         ("symptoms",)),
        ("How common is Kallmann syndrome? my endo thinks I have it, 19 and never went through puberty",
         "kallmann syndrome", ("frequency",)),
        ("My legs cramp when I walk. the vascular doctor said peripheral artery disease. What causes it? I smoke "
         "and have diabetes", "peripheral artery disease", ("causes",)),
        ("My father had Huntington disease. Is it inherited, will my kids get it?", "huntington disease",
         ("inheritance",)),
        ("what treatments are there for Paget's disease of bone? thanks", "paget's disease of bone", ("treatment",)),
        ("How do doctors test for H. pylori, and what is the treatment for Helicobacter pylori infections?",
         "helicobacter pylori infections", ("exams and tests", "treatment")),
        ("What is the outlook for restless legs syndrome?", "restless legs syndrome", ("outlook",)),
        ("What is (are) Depression ?", "depression", ("information",)),
        ("Who is at risk for diabetes?", "diabetes", ("susceptibility",)),
        ("How can I prevent diabetes, my mom has it", "diabetes", ("prevention",)),
        ("What are the genetic changes related to Kallmann syndrome ?", "kallmann syndrome", ("genetic changes",)),
        ("what research (or clinical trials) is being done for depression?", "depression", ("research",)),
        ("my sister has fifth disease and is scared, is it curable?", "fifth disease", ("treatment",)),
        ("Is there anything new about my knee?", None, ()),  # no title named, no type asked
    ],
)  # fmt: skip
def test_focus_and_type_of_real_looking_questions(question: str, focus: str | None, types: tuple[str, ...]) -> None:
    assert find_focus(question, LEXICON) == (title_key(focus) if focus else None)
    assert question_types(question) == types


@pytest.mark.parametrize(
    ("title", "topic", "asked"),
    [
        ("Dermatomyositis - What causes Dermatomyositis ?", "Dermatomyositis", "What causes Dermatomyositis ?"),
        ("CREST syndrome — What is (are) CREST syndrome ?", "CREST syndrome", "What is (are) CREST syndrome ?"),
        ("Parasites - Leishmaniasis", "Parasites - Leishmaniasis", None),  # no question: the whole title
        ("HUMIRA (adalimumab) injection", "HUMIRA (adalimumab) injection", None),
    ],
)
def test_faq_page_titles_give_their_topic_and_question(title: str, topic: str, asked: str | None) -> None:
    assert split_title(title) == (topic, asked)
    assert title_key(topic) in focus_lexicon([(0, title)])


def test_long_titles_are_not_a_focus() -> None:
    assert not any("random" in key for key in LEXICON)  # a paper title names no condition
    assert LEXICON[title_key("atorvastatin calcium")] == [10]  # brackets dropped


def test_a_misspelt_focus_is_found_through_the_spelling_fix() -> None:
    question = "How common is Kallman syndrom? my endo thinks I have it"
    assert find_focus(question, LEXICON) is None
    fixes = {"kallman": "kallmann"}
    assert find_focus(question, LEXICON, lambda s: fixes.get(s, s)) == title_key("Kallmann syndrome")


# --------------------------------------------------------------------------------------------- ranker


def test_the_shipped_ranker_loads() -> None:
    ranker = load_ranker()
    assert ranker.weights.shape == (len(FEATURES),)
    assert np.all(np.isfinite(ranker.weights))


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ranker.json"
    path.write_text(text)
    return path


def test_a_written_ranker_round_trips(tmp_path: Path) -> None:
    weights = [1.0, 0.1, 0.3, -1.0, 0.2, 0.1, 0.4, 0.05, -0.02, 0.3]
    ranker = load_ranker(_file(tmp_path, to_json(weights, {"trained_on": ["x"]})))
    assert ranker.weights.tolist() == pytest.approx(weights)
    assert ranker.meta == {"trained_on": ["x"]}
    assert ranker.score(np.eye(len(FEATURES))).tolist() == pytest.approx(weights)


def _damaged(good: str, how: str) -> str:
    obj = json.loads(good)
    if how == "weight":
        obj["weights"][0] += 0.5  # a hand edit: the digest no longer matches
    elif how == "features":
        obj["features"] = obj["features"][:-1]
    elif how == "nan":
        return good.replace('"weights": [\n    1.0', '"weights": [\n    NaN')
    elif how == "format":
        obj["format"] = 99
    elif how == "bool":
        obj["weights"][1] = True
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("weight", r"damaged \(digest differs\)"),
        ("features", "has features"),
        ("nan", "finite weights"),
        ("format", "not a format-1 ranker"),
        ("bool", "finite weights"),
    ],
)
def test_a_damaged_ranker_file_is_a_clear_error(tmp_path: Path, how: str, message: str) -> None:
    good = to_json([1.0, 0.0, 0.3, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], {})
    with pytest.raises(RankerError, match=message):
        load_ranker(_file(tmp_path, _damaged(good, how)))


@pytest.mark.parametrize("text", ["", "{", "[]", "\x00\x01"])
def test_a_ranker_file_that_is_not_json_is_a_clear_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(RankerError, match="ranker file"):
        load_ranker(_file(tmp_path, text))


def test_a_missing_ranker_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RankerError, match="cannot read ranker file"):
        load_ranker(tmp_path / "nope.json")
    with pytest.raises(RankerError, match="is damaged"):
        parse(_damaged(to_json([0.0] * len(FEATURES), {}), "weight"), "x")


@pytest.mark.slow
def test_bot_ask_with_a_damaged_ranker_file_says_so_in_one_line(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_cli import run

    damaged = _file(tmp_path, _damaged(to_json([1.0, 0.0, 0.3, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], {}), "weight"))
    result = run(
        "ask", "How is calcinosis treated?", "--index", str(built.index), env={"BOT_RANKER_FILE": str(damaged)}
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: ranker file")
    assert "damaged (digest differs)" in result.stderr and "Traceback" not in result.stderr
    ok = run("ask", "How is calcinosis treated?", "--index", str(built.index), env={"BOT_RANKING": "final"})
    assert ok.returncode == 0, ok.stderr


@pytest.mark.slow
def test_learned_ranking_with_the_final_weights_ranks_as_final(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bot.ranker import load_ranker as load

    searcher = engine.searcher
    cands = searcher.candidates("How is calcinosis cutis treated in dermatomyositis?")
    saved = searcher._ranker
    try:
        searcher._ranker = load(_file(tmp_path, to_json([1.0, 0.0, 0.3, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], {})))
        learned, _ = searcher.rank(cands, "learned")
        final, _ = searcher.rank(cands, "final")
    finally:
        searcher._ranker = saved
    assert learned.tolist()[: len(final)] == final.tolist()


@pytest.mark.slow
def test_a_long_question_about_a_known_focus_is_not_declined_for_its_other_words(engine) -> None:  # type: ignore[no-untyped-def]
    # "geocaching": a word no source holds and no everyday word ("mailbox", two everyday words, is no key word)
    from bot.query import analyse

    index, titles = engine.index, engine.searcher.focus_titles
    focus = next(iter(titles))  # a title of the tiny corpus
    story = (f"Hello, my mother is 70 and goes geocaching every morning; her doctor mentioned {focus} last "
             "week at the clinic and we were a bit worried about it. What should we know?")  # fmt: skip
    assert analyse(story, index, engine.searcher.focus_of(story)).unknown == ()
    assert "geocaching" in analyse(story, index).unknown  # without its focus the story's words count
    short = f"What is the geocaching dose for {focus}?"
    assert "geocaching" in analyse(short, index, engine.searcher.focus_of(short)).unknown  # short: the strict rule


@pytest.mark.parametrize(
    ("focus", "dense", "answers"),
    [
        ([True, False], [0.35, 0.9], True),  # the focus document has a passage close enough
        ([True, False], [0.25, 0.9], False),  # too far: the other rules decide
        ([False, False], [0.5, 0.5], False),  # the question names no focus the index has
    ],
)
def test_a_named_focus_with_a_close_passage_is_evidence(focus: list[bool], dense: list[float], answers: bool) -> None:
    from bot.answer import focus_evidence
    from bot.search import Candidates

    n = len(focus)
    cands = Candidates(np.arange(n), np.array(dense, np.float32), np.zeros(n, np.float32), np.ones(n), np.ones(n),
                       focus=np.array(focus))  # fmt: skip
    assert focus_evidence(cands) is answers
