"""Drug names: brands read as generics, examples told from the drug asked about, a damaged list refused."""

from __future__ import annotations

import pytest

from bot.drugs import DrugListError, asked_about, drug_names, names_any, parse, with_clipped_names, with_generics


def test_the_shipped_list_loads_with_one_generic_per_brand() -> None:
    names = drug_names()
    assert names.generic_of["haldol"] == "haloperidol"
    assert names.generic_of["lipitor"] == "atorvastatin"
    assert names.generic_of["diltiazem"] == "diltiazem"
    assert "haldol" in names.brands and "haloperidol" not in names.brands


@pytest.mark.parametrize(
    ("question", "drugs"),
    [
        ("haldol dose elderly", ("haloperidol",)),
        ("Does diltiazem shrink calcinosis deposits in juvenile dermatomyositis?", ("diltiazem",)),
        ("My patient takes tamsulosin for BPH and wants Viagra.", ("tamsulosin", "sildenafil")),
        ("Should I start a long-acting opioid like OxyContin for new chronic back pain?", ()),  # an example
        ("Are NSAIDs such as ibuprofen safe in pregnancy?", ()),
        ("What are the symptoms of fifth disease?", ()),
        ("atorvastatin + rifampicin: give at the same time?", ("atorvastatin", "rifampin")),  # the INN name
        ("paracetamol overdose in a toddler", ("acetaminophen",)),
        ("9-year-old with JIA, not on methotrexate; we're starting Humira. What dose?", ("adalimumab",)),  # negated
    ],
)  # fmt: skip
def test_the_drugs_a_question_asks_about(question: str, drugs: tuple[str, ...]) -> None:
    assert asked_about(question) == drugs


@pytest.mark.parametrize(
    ("question", "known", "expected"),
    [
        ("haldol dose elderly", {"haloperidol"}, "haloperidol dose elderly"),
        ("Pt on Haldol became hypotensive", {"haloperidol"}, "Pt on haloperidol became hypotensive"),
        ("haldol dose elderly", {"haldol", "haloperidol"}, "haldol dose elderly"),  # the sources say Haldol
        ("haldol dose elderly", set(), "haldol dose elderly"),  # neither: left to decline as unknown
        ("Is haloperidol safe?", {"haloperidol"}, "Is haloperidol safe?"),
        ("atorvastatin + rifampicin", {"atorvastatin", "rifampin"}, "atorvastatin + rifampin"),  # British name
    ],
)  # fmt: skip
def test_a_brand_no_source_holds_is_read_as_its_generic(question: str, known: set[str], expected: str) -> None:
    assert with_generics(question, lambda name: name.lower() in known) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("lipitor + clarithro — max atorva dose?", "lipitor + clarithromycin — max atorvastatin dose?"),
        ("predni 5 mg daily", "predni 5 mg daily"),  # the start of two names (prednisone, prednisolone): left
        ("metformin and insulin", "metformin and insulin"),  # whole names
        ("toxic levels", "toxic levels"),  # an ordinary word is no drug typed short
    ],
)
def test_a_drug_name_typed_short_is_read_whole(question: str, expected: str) -> None:
    assert with_clipped_names(question, lambda w: w in {"toxic", "levels", "and", "daily"}) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Haloperidol\tHaldol\n",  # generic not lower-case
        "haloperidol\tHaldol\tantipsychotics\textra\n",  # four fields
        "\tHaldol\n",  # no generic
        "haloperidol\tHaldol\ndroperidol\tHaldol\n",  # one brand, two generics (reported on its line)
    ],
)
def test_a_damaged_drug_list_is_a_clear_error(text: str) -> None:
    with pytest.raises(DrugListError, match=r"drugs.tsv line \d"):
        parse(text)


def test_comments_and_brandless_generics_parse() -> None:
    names = parse("# comment\nzolpidem\tAmbien|Edluar\nbaclofen\n\nlisinopril\t\n")
    assert names.generic_of == {"zolpidem": "zolpidem", "ambien": "zolpidem", "edluar": "zolpidem",
                                "baclofen": "baclofen", "lisinopril": "lisinopril"}  # fmt: skip
    assert names.named_in("Is Ambien or baclofen stronger?") == [(3, 9, "zolpidem"), (13, 21, "baclofen")]


@pytest.mark.parametrize(
    ("text", "drug", "names"),
    [
        ("Use of clomifene during early pregnancy", "clomiphene", True),  # INN spelling
        ("Oestradiol levels fell", "estradiol", True),
        ("Sulphasalazine was stopped", "sulfasalazine", True),
        ("Use of macrolides in mother and child", "erythromycin", True),  # its class
        ("Use of beta-lactams in mother and child", "erythromycin", False),
        ("insulin glargine once daily", "insulin glargine", True),
        ("metformin was started", "insulin glargine", False),
    ],
)  # fmt: skip
def test_a_drug_is_named_in_any_of_its_spellings(text: str, drug: str, names: bool) -> None:
    assert names_any(text, (drug,)) is names


@pytest.mark.parametrize(
    ("question", "known", "classes", "expected"),
    [
        ("62M on isosorbide mononitrate asking for sildenafil", {"nitrates", "sildenafil"}, True,
         "62M on nitrates asking for sildenafil"),
        ("isosorbide mononitrate dose", {"nitrates"}, False, "isosorbide mononitrate dose"),  # a class has no dose
        ("Imdur and sildenafil", {"isosorbide mononitrate", "nitrates", "sildenafil"}, True,
         "isosorbide mononitrate and sildenafil"),  # the generic before the class
        # a class most sources name (the whole subject of an opioid guideline) stands in for no drug
        ("oliceridine for postoperative pain?", {"opioids", "opioid analgesics"}, True,
         "oliceridine for postoperative pain?"),
    ],
)  # fmt: skip
def test_a_drug_no_source_names_is_read_as_its_class(
    question: str, known: set[str], classes: bool, expected: str
) -> None:
    general = {"opioids"}.__contains__
    assert with_generics(question, lambda name: name.lower() in known, classes=classes, general=general) == expected


def test_a_damaged_drug_list_stops_the_engine_at_load_with_one_line(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    import bot.engine
    from bot.cli import do_index, run_guarded
    from bot.engine import Engine
    from tests.conftest import make_corpus, make_settings

    settings = make_settings(tmp_path, corpus=make_corpus(tmp_path / "corpus"), model="hash:64")
    do_index(settings, progress=False)

    def damaged() -> None:
        parse("Haloperidol\tHaldol\n")  # what a hand-edited, broken file gives

    monkeypatch.setattr(bot.engine, "drug_names", damaged)
    with pytest.raises(typer.Exit):
        run_guarded(Engine.load, settings)
    assert "drugs.tsv line 1" in capsys.readouterr().err


def test_a_class_names_a_drug_but_never_its_dose() -> None:
    assert names_any("once-weekly bisphosphonates", ("alendronate",))
    assert not names_any("once-weekly bisphosphonates", ("alendronate",), classes=False)


@pytest.mark.parametrize(
    ("text", "drug", "named"),
    [
        # an older label's "opiates" names every opioid's class, as "opioids" does
        ("haloperidol may be capable of potentiating CNS depressants such as anesthetics, opiates, and alcohol",
         "morphine", True),
        ("Use of opioids with benzodiazepines", "oxycodone", True),
        ("Use of statins in pregnancy", "oxycodone", False),
    ],
)  # fmt: skip
def test_a_drug_is_named_by_its_class(text: str, drug: str, named: bool) -> None:
    from bot.drugs import names_any

    assert names_any(text, (drug,)) is named
