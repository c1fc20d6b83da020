"""Question analysis and quote shaping: intents, named drugs, key words no source holds, clean spans,
labels kept to the drug asked about, and the folder kinds of a corpus. Fast: the hashing embedder over
the real SPL labels (the quotes come from the same code the real model's answers use)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.documents import Chunk
from bot.query import Query, analyse, entity_names, intents_of
from bot.quotes import SIGN_RE, TABLE_RUN_RE, cue_bonus, lead_in, merge_short_items, quotable_spans, section_label
from bot.sources import load_corpus
from tests.conftest import SHARED, make_settings

SPL = SHARED / "evidence" / "raw" / "spl"
needs_spl = pytest.mark.skipif(not SPL.is_dir(), reason="shared evidence pack not present")


@pytest.mark.parametrize(
    ("question", "intents"),
    [
        ("What does the boxed warning for Humira say?", ("boxed_warning",)),
        ("Humira black box", ("boxed_warning",)),
        ("What is the usual dose of sildenafil?", ("dose",)),
        ("How often can Viagra be taken?", ("dose",)),
        ("What are the contraindications to atorvastatin?", ("contraindication",)),
        ("What should be done after an overdose of atorvastatin?", ("overdose",)),
        ("What are the most common adverse reactions to Humira?", ("adverse",)),
        ("Can adalimumab cause lymphoma?", ("warning",)),
        ("What is Viagra indicated for?", ("indication",)),
        ("Is atorvastatin safe when breastfeeding?", ("warning", "lactation")),
        ("Is atorvastatin safe in pregnancy?", ("warning", "pregnancy")),  # not the nursing mothers' section
        ("Can sildenafil be given to a patient who uses nitroglycerin?", ("interaction",)),
        ("What did the trial find about budesonide-formoterol?", ()),
        ("sildenafil starting dose in a man with Child-Pugh B cirrhosis?", ("dose",)),  # a liver, not a child
        ("Humira for ulcerative colitis - when do we stop it if it isn't working?", ("duration",)),
        ("Humira for UC - by when must the patient show remission to keep going?", ("duration",)),
        ("In UC, by when must a patient on Humira show remission for treatment to be continued?", ("duration",)),
        ("Mom was on Humira in pregnancy. Can her baby get live vaccines?", ("pregnancy", "pediatric")),
        ("Can I stop opioids abruptly in a patient on long-term high-dose therapy?", ()),  # describes, asks no dose
        ("Is a low dose of haloperidol enough?", ("dose",)),
        ("Patient forgot her Humira injection yesterday - what now?", ("missed_dose",)),  # not any dose
        ("What if I miss a dose of Lipitor?", ("missed_dose",)),
        ("What does CREST stand for?", ("definition",)),
        # a product used with another: whether they go together ("… diphenhydramine cream … also get the syrup?")
        ("Kid has diphenhydramine cream on. Can he also get the cough syrup?", ("interaction", "pediatric")),
        ("How was apoptosis assessed in the pamidronate study?", ("method",)),  # a study's methods
        ("How should sildenafil be started in a man on an alpha-blocker?", ("dose",)),
        ("What starting dose and titration does the label recommend?", ("dose",)),
        # when, relative to a dose, asks for no dose
        ("Does the label say when nitrates can safely be given after a dose?", ("warning",)),
        ("How many postmenopausal women took part in the phytate study?", ("dose", "method")),  # who took part
        ("adalimumab pens, pt travelling - how to keep them?", ("storage",)),  # how a product is kept
        ("Took oxycodone for 5 days. How should I stop it to avoid withdrawal?", ("taper",)),
        ("How should the dose be brought down when stopping?", ("dose", "taper")),
        ("How long can adalimumab be detected in an infant exposed in utero?", ("pregnancy", "pediatric")),
        ("mom on adalimumab into 3rd trimester - how long in the baby's serum?", ("pregnancy", "pediatric")),
        ("Febrile and hypotensive with a rising lactate on Humira: what to do?", ()),  # lactate, no lactation
        ("On oxycodone and alprazolam; how quickly should the alprazolam be withdrawn?", ("taper",)),
        # trying for a baby asks of pregnancy, not of a child; "by what point" asks how long to go on
        ("A woman on Lipitor wants to start trying for a baby this year. What should we discuss?", ("pregnancy",)),
        ("In ulcerative colitis, by what point must remission be shown for adalimumab to be continued?", ("duration",)),
        # how much time must pass asks when; how much it raises a risk asks a difference: no dose
        (
            "After a man has taken sildenafil, how much time must pass before nitrates can be given safely?",
            ("warning",),
        ),
        ("On haloperidol, how much does it raise the chance of dying in dementia?", ()),
        ("How should Triaminic be stored?", ("storage",)),
        # screening before the first dose asks what comes before it, not a dose; "when does the label say to stop"
        ("A 45-year-old with RA is about to start Humira. What TB screening is required before the first dose?", ()),
        (
            "UC patient on adalimumab two months: when does the label say to stop continuing it without remission?",
            ("duration",),
        ),
    ],
)
def test_intents(question: str, intents: tuple[str, ...]) -> None:
    assert intents_of(question) == intents


@pytest.mark.parametrize(
    ("meta", "names"),
    [
        ({"entities": ["LIPITOR", "atorvastatin calcium"]}, ["lipitor", "atorvastatin"]),
        ({"entities": ["Diphenhydramine HCl", "Phenylephrine HCl"]}, ["diphenhydramine", "phenylephrine"]),
        ({"entities": ["calcium"]}, []),  # a salt alone names no drug
        ({}, []),
        ({"entities": "not a list"}, []),
    ],
)
def test_entity_names_drop_salts_and_forms(meta: dict[str, object], names: list[str]) -> None:
    assert entity_names(meta) == names


@pytest.mark.parametrize(
    ("text", "quotes"),
    [
        # trailing and inner cross-references fall outside the quote; the text stays exact
        (
            "Serious infections may lead to hospitalization or death [see Warnings and Precautions (5.1)].",
            ["Serious infections may lead to hospitalization or death"],
        ),
        (
            "Active liver disease, which may include unexplained persistent elevations (4.1).",
            ["Active liver disease, which may include unexplained persistent elevations"],
        ),
        (  # a cross-reference inside the clause: neither half says anything alone ("requires a lower dose")
            "Use in patients over 65 (8.5, 12.3) requires a lower starting dose of 25 mg.",
            [],
        ),
        (  # one after a clause: each clause is a quote
            "Use is contraindicated with nitrates (4.1); avoid use with riociguat (4.2).",
            ["Use is contraindicated with nitrates", "avoid use with riociguat"],
        ),
        (
            "Clinicians should offer naloxone and reevaluate patients more frequently (see Recommendation 7) when "
            "factors are present that increase risk for harm.",
            [],  # cut at the reference, the rule would lose its condition
        ),
        (
            "Consistent with its known effects on the nitric oxide/cGMP pathway [see Clinical Pharmacology "
            "(12.2)], VIAGRA was shown to potentiate the hypotensive effects of nitrates.",
            ["VIAGRA was shown to potentiate the hypotensive effects of nitrates."],
        ),
        (  # a confidence interval is no cross-reference
            "Mean increases were 5.2% (4.9, 5.6) in the 35 mg twice-weekly group.",
            ["Mean increases were 5.2% (4.9, 5.6) in the 35 mg twice-weekly group."],
        ),
        ("Please click on the link to access the resource.", []),  # a page's navigation
        (  # a flattened page runs into a pointer to another site: the quote ends before it
            "Blood tests measure muscle enzymes such as creatine kinase Medscape Reference's Web site offers more.",
            ["Blood tests measure muscle enzymes such as creatine kinase"],
        ),
        ("The NDC number is 0074-4339-07.", []),  # product codes and packaging are no evidence
        ("RESULTS AND CONCLUSIONS: A case definition was developed.", ["A case definition was developed."]),
        ("HUMIRA is dispensed in a carton containing 4 alcohol preps and 4 dose trays.", []),
        ("See the section below called “Prepare the HUMIRA Pen”.", []),  # a leaflet's pointer to itself
        ("See Figure N. Do not throw away the Pen in your household trash.", []),
        ("Drug Interactions Associated with Increased Risk of Myopathy (2.6, 5.1, 7, 12.3)", []),  # a caption
        ("What are the symptoms of polymyositis?", []),  # a source's own heading question
        (  # a cross-reference inside the sentence's trailing reason: quoted up to that reason's comma
            "Shorter follow-up intervals (every 2–3 days for the first week) should be strongly considered when "
            "starting the dosage of methadone, because of the variable half-life of this drug (see "
            "Recommendation 3) and the potential for drug accumulation.",
            [
                "Shorter follow-up intervals (every 2–3 days for the first week) should be strongly considered "
                "when starting the dosage of methadone"
            ],
        ),
        ("The most serious adverse reactions include the following:", []),  # a lead-in says nothing alone
        ("Less Common Adverse Reactions in Rheumatoid Arthritis Clinical Studies", []),  # a title
        # an abstract's citation line and a guideline's pointer to another recommendation are where to read, not what
        ("JAMA. 2000;284:1546-1548.", []),
        ("(See Recommendation 5 for tapering considerations when patients have taken opioids continuously.)", []),
        (  # a GARD symptom table flattened between its column heads and the HPO's note: the rows answer
            "Signs and Symptoms Approximate number of patients (when available) Scoliosis 5% Wormian bones 5% "
            "Narrow nose - The Human Phenotype Ontology (HPO) has collected information on how often a sign occurs.",
            ["Scoliosis 5% Wormian bones 5% Narrow nose"],
        ),
        (  # a cross-reference inside a list of examples: the examples before it are quoted
            "Clinicians should offer naloxone, particularly to patients at increased risk for overdose, including "
            "patients with a history of overdose, patients taking benzodiazepines with opioids (see Recommendation "
            "11), patients at risk for returning to a high dose, and patients taking higher dosages.",
            [
                "Clinicians should offer naloxone, particularly to patients at increased risk for overdose, including "
                "patients with a history of overdose, patients taking benzodiazepines with opioids"
            ],
        ),
    ],
)
def test_quotable_spans(text: str, quotes: list[str]) -> None:
    spans = quotable_spans(text, 0, len(text), min_chars=10)
    assert [text[a:b] for a, b in spans] == quotes


def test_no_clause_is_cut_inside_brackets() -> None:
    text = (
        "Clinicians should review the prescription drug monitoring program data to see whether the patient "
        "is at high risk for overdose (recommendation category: B; evidence type: 4); " + "and more words " * 30
    )
    quotes = [text[a:b] for a, b in quotable_spans(text, 0, len(text))]
    assert quotes[0].endswith("(recommendation category: B; evidence type: 4)"), quotes
    assert not any(q.endswith("(recommendation category") for q in quotes)


def test_long_run_on_is_cut_at_clause_boundaries() -> None:
    text = "; ".join(f"clause number {i} says something about the dose of the drug in adults" for i in range(12)) + "."
    spans = quotable_spans(text, 0, len(text))
    assert len(spans) > 1 and all(b - a <= 430 for a, b in spans)
    assert all(not text[a:b].startswith(";") and not text[a:b].endswith(";") for a, b in spans)


def test_short_items_on_one_line_join_and_lead_ins_are_found() -> None:
    text = "Ask a doctor before use if the child has:\nheart disease • high blood pressure • thyroid disease\nglaucoma"
    line = text.index("heart")
    spans = [(line, line + 13), (line + 16, line + 35), (line + 38, line + 53), (text.index("glaucoma"), len(text))]
    merged = merge_short_items(text, spans)
    assert text[merged[0][0] : merged[0][1]] == "heart disease • high blood pressure • thyroid disease"
    assert merged[1] == spans[3]  # another line is another item
    assert lead_in(text, line) == "Ask a doctor before use if the child has"
    assert lead_in("no lead in here\nplain line", 16) == ""


@pytest.mark.parametrize(
    ("heading", "code", "page", "label"),
    [
        ("WARNING: SERIOUS INFECTIONS AND MALIGNANCY", "34066-1", None,
         "Boxed Warning › WARNING: SERIOUS INFECTIONS AND MALIGNANCY"),
        ("CONTRAINDICATIONS › Highlights", "34070-3", None, "CONTRAINDICATIONS › Highlights"),
        ("Recommendation 7", None, 42, "Recommendation 7, p. 42"),
        ("", None, 3, "p. 3"),
        ("", None, None, None),
    ],
)  # fmt: skip
def test_section_labels(heading: str, code: str | None, page: int | None, label: str | None) -> None:
    chunk = Chunk(0, "d", 0, 1, "x", "drug_label", heading, [], "", code, page)
    assert section_label(chunk) == label


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The five real SPL labels, indexed with the hashing embedder."""
    if not SPL.is_dir():
        pytest.skip("shared evidence pack not present")
    from bot.cli import do_index

    tmp = tmp_path_factory.mktemp("labels")
    settings = make_settings(tmp, corpus=SPL, model="hash:64", min_score=0.0)
    do_index(settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def label_engine(labels: Settings):  # type: ignore[no-untyped-def]
    from bot.engine import Engine

    return Engine.load(labels)


@needs_spl
@pytest.mark.parametrize(
    ("question", "entities", "unknown"),
    [
        ("What does the boxed warning for Humira say?", ("humira",), ()),
        ("Can adalimumab cause lymphoma?", ("adalimumab",), ()),
        ("can i take lipiter if im pregnent", ("lipitor",), ()),  # a misspelt brand still names it
        ("What is the recommended dose of lisinopril for hypertension?", (), ("lisinopril",)),
        ("Does IVIG help in TNFB therapy?", (), ()),  # acronyms may be spelt out in the sources
        ("Is there a livertoxicity warning for atorvastatin?", ("atorvastatin",), ()),  # two words run together
        ("Which children should not get the diphenhydramine cough syrup?", ("diphenhydramine",), ()),
        ("haldol dose elderly", ("haloperidol",), ()),  # a brand no label says, read as its generic
        ("Pt on Haldol became hypotensive - which vasopressor should be avoided?", ("haloperidol",), ()),
        ("does atorvastatin need renal dose adjustment? pt CrCl 20", ("atorvastatin",), ()),  # creatinine clearance
    ],
)
def test_analyse_names_drugs_and_unknown_words(
    label_engine, question: str, entities: tuple[str, ...], unknown: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    query = analyse(question, label_engine.index)
    assert set(entities) <= set(query.entities)
    assert query.unknown == unknown


@pytest.mark.parametrize(
    ("word", "vocab", "common", "compound"),
    [
        ("panicprone", {"panic", "prone"}, set(), True),
        ("ipscderived", {"ipsc"}, {"derived"}, True),
        ("metformin", {"formin"}, {"met"}, False),  # a part under 4 letters is no word of its own
        ("lisinopril", {"lisin"}, set(), False),
    ],
)
def test_compound_words_of_known_parts(word: str, vocab: set[str], common: set[str], compound: bool) -> None:
    from bot.query import _compound

    assert _compound(word, dict.fromkeys(vocab, 0), frozenset(common)) is compound


@pytest.mark.parametrize(
    ("word", "near"),
    [("tounge", True), ("wiegh", True), ("alot", True), ("pregnent", True), ("lisinopril", False),
     ("warfarin", False), ("tirasemtiv", False), ("kat", False)],
)  # fmt: skip
def test_a_misspelt_everyday_word_is_no_key_word(word: str, near: bool) -> None:
    from bot.query import english_words
    from bot.spelling import near_english

    assert near_english(word, english_words()) is near


@needs_spl
def test_a_word_no_source_holds_is_declined_by_name(label_engine) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask("What is the recommended dose of lisinopril for hypertension?")
    assert not answer.answered and "lisinopril" in (answer.message or "")


@needs_spl
@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("What is the Humira dose for plaque psoriasis?", "humira"),
        ("What are the contraindications to atorvastatin?", "lipitor-orig"),
        ("Can haloperidol cause tardive dyskinesia?", "no-title"),
        ("Which children should not get the diphenhydramine cough syrup without asking a doctor?", "cough"),
    ],
)
def test_label_quotes_come_from_one_drug_and_read_clean(label_engine, question: str, doc_id: str) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask(question)
    assert answer.answered
    assert {b.doc_id for b in answer.quotes()} == {doc_id}  # never another drug's label
    for bullet in answer.quotes():
        doc = label_engine.index.document(bullet.doc_id)
        assert doc.text[bullet.start : bullet.end] == bullet.quote
        assert not re.search(r"\(\d+(\.\d+)?(, ?\d+(\.\d+)?)*\)|\[see ", bullet.quote)
        assert bullet.section  # every bullet says where it comes from
    ref = answer.references[0]
    assert ref.source == "FDA label" and ref.locator and ref.url and "dailymed" in ref.url


@needs_spl
def test_a_drug_only_mentioned_in_a_label_gets_no_other_drugs_dose(label_engine) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask("What is the usual lithium dose for bipolar disorder?")
    assert all("lithium" in b.quote.lower() for b in answer.quotes())


@pytest.mark.parametrize(
    ("files", "config", "kinds"),
    [
        ({"guidelines/a.md": "# A\n\nText."}, None, {"a": "guideline"}),
        ({"labels/b.md": "# B\n\nText."}, None, {"b": "drug_label"}),
        ({"papers/c.md": "# C\n\nText."}, "folders:\n  papers: research\n", {"c": "research"}),
        ({"d.md": "# D\n\nText."}, "kind: guideline\n", {"d": "guideline"}),
        ({"e.md": "---\nkind: research\n---\n# E\n\nText."}, "kind: guideline\n", {"e": "research"}),
    ],
)
def test_folder_kinds(tmp_path: Path, files: dict[str, str], config: str | None, kinds: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    if config is not None:
        (tmp_path / "corpus.yaml").write_text(config)
    report = load_corpus(tmp_path)
    assert {Path(d.id).name: d.kind for d in report.documents} == kinds
    assert not report.problems


def test_bad_corpus_yaml_is_one_problem_and_nothing_lost(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nText.")
    (tmp_path / "corpus.yaml").write_text("kind: [unclosed\n")
    report = load_corpus(tmp_path)
    assert len(report.documents) == 1
    assert len(report.problems) == 1 and "corpus.yaml" in report.problems[0].path


@needs_spl
def test_acronyms_are_searched_spelt_out(label_engine) -> None:  # type: ignore[no-untyped-def]
    query = analyse("Does IVIG help in psoriasis?", label_engine.index)
    assert "intravenous immunoglobulin" in query.for_search and not query.unknown
    assert analyse("Does ivig help?", label_engine.index).for_search == "Does ivig help?"  # only written as one


def test_an_acronym_in_mixed_case_is_spelt_out_in_the_sources_words(label_engine) -> None:  # type: ignore[no-untyped-def]
    query = analyse("CKD 4 pt, eGFR 22: does atorvastatin need a dose adjustment?", label_engine.index)
    assert "estimated glomerular filtration rate" in query.for_search and not query.unknown
    assert "fibrat" not in query.terms  # the spelt-out "filtration" is not "corrected" into another word
    assert query.says("glomerular", {"egfr"}) and not query.says("glomerular", {"renal"})


@pytest.mark.parametrize(
    ("question", "measure"),
    [
        ("What alcohol concentration should a hand rub contain?", "concentration"),
        ("What percentage of children with juvenile dermatomyositis develop calcinosis?", "percentage"),
        ("per WHO how far apart should hospital beds be?", "distance"),
        ("what bed spacing does WHO recommend between patients?", "distance"),
        ("WHO IPC standard - how much space between patient beds on a ward?", "distance"),
        ("WHO IPC guideline - min spacing between pt beds on a ward?", "distance"),
        ("What is the dose of sildenafil?", ""),  # a dose is an amount (asks_amount), not a measure
        ("What does the WHO say about alcohol-based handrub?", ""),
        ("Can I split my Lipitor 40 mg tablet in half?", "handling"),
        ("Can her Lipitor tablets be crushed and mixed into applesauce?", "handling"),
        ("How many postmenopausal women took part in the phytate study?", "participants"),
        ("How many patients were enrolled in the trial?", "participants"),
        # how far a value fell is how much it changed, not a distance
        ("In the case series of Paget's disease, how far did serum alkaline phosphatase fall?", ""),
    ],
)  # fmt: skip
def test_which_questions_ask_for_a_measure(question: str, measure: str) -> None:
    from bot.query import asks_measure

    assert asks_measure(question) == measure


@pytest.mark.parametrize(
    ("measure", "text", "gives"),
    [
        ("concentration", "Use a handrub with 60-80% alcohol.", True),
        ("concentration", "Regarding hand washing stations, WHO recommends one basin per every 10 beds.", False),
        ("concentration", "We show that 1 µM of IP6 inhibits osteoclastogenesis.", True),  # molar units
        ("concentration", "Serum levels of 10 ng/mL and 2 mmol/L.", True),
        ("concentration", "A 5 mm ureteral stone.", False),  # a length, not millimolar
        ("distance", "recommending one patient per bed with adequate spacing (1 metre between beds)", True),
        ("distance", "Standards for bed occupancy should be one patient per bed with adequate spacing.", False),
        ("percentage", "Calcinosis occurs in 20-30 percent of children.", True),
        ("handling", "Swallow tablets whole; do not crush or chew them.", True),
        ("handling", "pinnae detachment and eye-opening at 100 mg/kg/day; an open-label study", False),
        ("participants", "The study population consisted of 180 postmenopausal women who participated", True),
        ("participants", "Higher urinary levels of phytate correlated with higher bone mineral density", False),
        ("proportion", "About a third of people with SLE develop kidney disease", True),
    ],
)  # fmt: skip
def test_a_measure_is_given_by_a_number_with_its_sign(measure: str, text: str, gives: bool) -> None:
    from bot.query import gives_measure

    assert gives_measure(measure, text) is gives


@pytest.mark.parametrize(
    ("question", "amount"),
    [
        ("What is the Humira dose for plaque psoriasis?", True),
        ("lipitor starting dose", True),
        ("How much acetaminophen can a child take?", True),
        ("Does low-dose colchicine relieve an acute gout flare?", False),  # a regimen, not a request for an amount
        ("Does atorvastatin need a dose adjustment in kidney disease?", False),
        ("What should be done after an overdose of atorvastatin?", False),
        ("Can sildenafil be taken with food?", False),
        ("How is a migraine attack treated with triptans?", True),  # how the drug is given: its dose
        ("Are patients treated with statins at higher risk of diabetes?", False),
        ("How long after a dose of Viagra is it safe to give nitro?", False),  # asks when, not how much
        ("WHO IPC standard - how much space between patient beds on a ward?", False),  # how far, not how much
        ("switching pt from IM haldol to PO - when should the first oral dose go in?", False),  # asks when
        ("how much did alendronate reduce clinical fractures?", False),  # an effect's size, not a dose
        ("haldol + rifampin - do haloperidol levels drop? by how much?", False),
        ("how much higher was the risk of death with high Ntx levels?", False),
        ("how much were clinical fractures cut?", False),
        ("After the dose is changed, how soon should lipid levels be checked?", False),
        ("How much grapefruit juice a day is too much?", True),
        ("bup induction - how long after the last short-acting full agonist dose?", False),  # when, after a dose
        ("What dose after the last week of the taper?", True),
        ("How should the dose be brought down when stopping?", False),  # how to taper, not how much to give
        ("How should naldemedine be dosed for opioid-induced constipation?", True),
        ("How should opioid antagonists be dosed?", True),  # the drug said as its class: two words
        ("Infant exposed in utero (mom dosed through the 3rd trimester) - ok to give live vaccines?", False),
        # how the interval changes for the organ, not an amount ("consider a longer dosing interval")
        ("What does the CDC advise about the dosing interval in renal or hepatic dysfunction?", False),
    ],
)  # fmt: skip
def test_which_questions_ask_for_an_amount(question: str, amount: bool) -> None:
    from bot.query import asks_amount

    assert asks_amount(question) is amount


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("opioid-naïve patients", ["opioid", "naiv", "patient"]),  # as a question types it: "naive"
        ("Sjögren’s syndrome", ["sjogren", "syndrom"]),
        ("naive", ["naiv"]),
    ],
)
def test_tokens_drop_accents(text: str, tokens: list[str]) -> None:
    from bot.lexical import tokenize

    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    ("word", "acronym"),
    [("MME", True), ("eGFR", True), ("CrCl", True), ("SSc", True), ("Ed", False), ("egfr", False),
     ("ABCDEFGH", False)],
)  # fmt: skip
def test_written_acronyms(word: str, acronym: bool) -> None:
    from bot.query import written_acronym

    assert written_acronym(word) is acronym


@pytest.mark.parametrize(
    ("question", "noun"),
    [
        (
            "Adult with proximal muscle weakness and suspected polymyositis: which muscle enzymes should be measured?",
            "enzym",
        ),
        ("HFTC - which genes?", "gene"),
        ("What TB screening is required before starting Humira?", "screen"),
        ("What is the dose of Lipitor?", ""),  # "what is …" asks for no noun of its own
        ("What kinds are there?", ""),  # a vague one
        ("Which of the following is true?", ""),
        ("What dose of haldol for delirium in the ICU?", ""),  # no verb after it: read no further
        ("viagra w tamsulosin, pt stable on the alpha blocker - what start dose?", ""),  # the dose intent's word
    ],
)
def test_asked_noun(question: str, noun: str) -> None:
    from bot.query import asked_noun

    assert asked_noun(question) == noun


def test_intent_words_are_whole_words() -> None:
    from bot.query import intent_words

    assert intent_words("What should be done after an overdose of atorvastatin?") == {"overdose"}
    assert {"boxed", "warning"} <= intent_words("What does the boxed warning for Humira say?")


@needs_spl
def test_a_dose_question_about_what_a_label_never_mentions_gets_no_dose_from_it(label_engine) -> None:  # type: ignore[no-untyped-def]
    # Tourette's Disorder is in the haloperidol label, never in HUMIRA's: HUMIRA's doses for its own
    # indications are no answer, and nothing else may answer for HUMIRA
    answer = label_engine.ask("What is the Humira dose for Tourette's disorder?")
    assert not answer.answered
    answer = label_engine.ask("What is the Humira dose for plaque psoriasis?")
    assert answer.answered and all(re.search(r"\d\s?mg", b.quote) for b in answer.quotes())


@needs_spl
def test_a_lay_word_is_said_by_the_label_s_words(label_engine) -> None:  # type: ignore[no-untyped-def]
    query = analyse("Is atorvastatin safe during breastfeeding?", label_engine.index)
    (breastfeeding,) = [t for t in query.terms if t.startswith("breastfe")]
    for label_words in ({"nurs", "mother"}, {"human", "milk"}, {"lactat"}):
        assert breastfeeding in query.said_by(label_words)
    assert breastfeeding not in query.said_by({"pregnanc"})


@needs_spl
@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What is the Humira dose for Crohn's disease?", "crohn"),  # not its psoriasis or arthritis doses
        ("What is the starting dose of Viagra for erectile dysfunction?", None),  # its one indication: every dose
    ],
)
def test_a_label_s_doses_are_for_the_indication_asked_about(label_engine, question: str, named: str | None) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask(question)
    assert answer.answered
    for bullet in answer.quotes():
        assert re.search(r"\d\s?mg", bullet.quote)
        if named:
            assert named in (bullet.quote + " " + (bullet.section or "")).lower()


@pytest.mark.parametrize(
    ("question", "quote", "bonus"),
    [
        ("what is amyopathic dermatomyositis?", "Amyopathic dermatomyositis is a form of dermatomyositis.", True),
        ("what is amyopathic dermatomyositis?", "Fatigue is reported in at least 50% of patients.", False),
        ("What is the dose of Humira?", "HUMIRA is a tumor necrosis factor blocker.", False),  # asks a dose
        ("What does CREST stand for?", "CREST is an acronym for the clinical features.", True),
        ("What if I miss a dose of Lipitor?", "If you miss a dose of LIPITOR, take it as soon as you remember.", True),
        # "where" is said by the places a quote names
        ("Where do the deposits form?", "Calcinosis occurs around the joints, most often the hips.", True),
        ("Where do the deposits form?", "The deposits develop over time and vary in size.", False),
        ("Where does the muscle weakness begin?", "Muscle weakness may be severe.", False),  # a place it names
        # how a product is kept: where and at what temperature, not how it is packed
        ("How should Humira pens be stored?", "HUMIRA must be refrigerated at 36°F to 46°F (2°C to 8°C).", True),
        ("How should Humira pens be stored?", "Store at 20ºC to 25ºC (68ºF to 77ºF).", True),
        ("How should Humira pens be stored?", "Prefilled Syringe Carton – 40 mg", False),
    ],
)
def test_a_quote_that_says_what_is_asked_gains_a_cue(question: str, quote: str, bonus: bool) -> None:
    query = Query(text=question, terms={}, intents=intents_of(question), words=frozenset(question.lower().split()))
    assert (cue_bonus(query, quote) > 0) == bonus


@pytest.mark.parametrize(
    ("text", "run"),
    [
        ("Autoimmunity 90% Chondrocalcinosis 90% Dry skin 90% Mucosal telangiectasiae 90%", True),
        ("Scoliosis 5% Wormian bones 5% Narrow nose", False),  # two rows: quotable as they are
        ("Mortality fell by 20% in group A, 30% in group B and 40% overall.", False),
    ],
)
def test_a_symptom_table_run_is_told_from_a_sentence(text: str, run: bool) -> None:
    assert bool(TABLE_RUN_RE.search(text)) == run


@pytest.mark.parametrize(
    ("question", "signs"),
    [
        ("What are the symptoms of Reynolds syndrome?", True),
        ("How many people with CREST syndrome have calcinosis?", True),
        ("How often is muscle weakness seen?", True),
        ("JDM: periorbital edema freq in the HPO list?", True),
        ("amyopathic DM: % with periorbital edema?", True),
        ("How is Reynolds syndrome treated?", False),  # "how" alone asks no sign and no frequency
        ("How much atorvastatin with clarithromycin?", False),
        ("Is it inherited?", False),
    ],
)
def test_only_a_question_about_signs_or_how_often_admits_a_symptom_table(question: str, signs: bool) -> None:
    assert bool(SIGN_RE.search(question)) == signs


@pytest.mark.parametrize(
    ("question", "who"),
    [
        ("Starting dose of atorvastatin for a 13 year old boy with familial hypercholesterolemia?", "child"),
        ("What dose of adalimumab for a 25 kg child with polyarticular JIA?", "child"),
        ("What starting dose of sildenafil for a 72-year-old man with ED?", "adult"),
        ("Adult dose of the cough syrup for a grown-up?", "adult"),
        ("haldol starting dose in a frail elderly pt", "adult"),  # no children's chart for the elderly
        ("adults and children 12 years and over", None),
        ("lipitor starting dose", None),
        ("Max doses of Triaminic Children's Night Time Cold and Cough in 24 hours?", None),  # a product's name
    ],
)
def test_whom_a_dose_question_asks_about(question: str, who: str | None) -> None:
    from bot.doses import population

    assert population(question) == who


@pytest.mark.parametrize(
    ("text", "amount"),
    [("10 mg/day", True), ("40 mg/0.8 mL", True), ("2 teaspoonfuls (10 mL)", True), ("0.05 mg/kg/day", True),
     ("a baseline LDL-C level ≥ 190 mg/dL", False), ("at most 50 MME/day", True)],
)  # fmt: skip
def test_an_amount_is_a_dose_not_a_laboratory_value(text: str, amount: bool) -> None:
    from bot.query import AMOUNT_RE

    assert bool(AMOUNT_RE.search(text)) is amount


@needs_spl
@pytest.mark.parametrize(
    ("question", "specific"),
    [
        ("What is the Humira dose for plaque psoriasis?", {"psoriasi"}),  # "plaque" is an everyday word
        ("What dose of adalimumab for a child with polyarticular JIA?", {"polyarticular", "idiopath"}),
        ("What are the contraindications to atorvastatin?", set()),  # the drug and what is asked: nothing else
    ],
)
def test_the_specific_words_of_a_question(label_engine, question: str, specific: set[str]) -> None:  # type: ignore[no-untyped-def]
    assert set(analyse(question, label_engine.index).specific) == specific


@needs_spl
def test_a_drug_no_label_is_about_is_named_by_every_quote(label_engine) -> None:  # type: ignore[no-untyped-def]
    # the VIAGRA label names tamsulosin among the alpha-blockers: only its quotes that do may answer
    query = analyse("Does tamsulosin cause dizziness?", label_engine.index)
    assert query.drugs == ("tamsulosin",) and not query.entities
    answer = label_engine.ask("Does tamsulosin cause dizziness?")
    assert all("tamsulosin" in b.quote.lower() for b in answer.quotes())


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("Buprenorphine 16 mg daily was given.", True),
        ("a dose of 8 mg of sublingual buprenorphine", True),
        ("patients receiving high-dosage opioids (defined in this study as ≥90 MME/day) for chronic pain found "
         "that 44.6% … were able to successfully transition to sublingual buprenorphine", False),
        ("Buprenorphine is an option for opioid use disorder.", False),
    ],
)  # fmt: skip
def test_an_amount_of_a_drug_stands_next_to_its_name(text: str, states: bool) -> None:
    from bot.doses import amount_of

    assert amount_of(text, ("buprenorphine",)) is states


@needs_spl
@pytest.mark.parametrize(
    ("question", "partner"),
    [
        ("any issue giving haloperidol with lithium?", "lithium"),
        ("Max atorvastatin dose if the patient is on clarithromycin?", "clarithromycin"),
        ("My patient takes tamsulosin for BPH and wants Viagra. Is that OK?", "alpha"),  # tamsulosin's class
    ],
)  # fmt: skip
def test_two_drugs_asked_about_together_are_answered_where_the_label_names_the_other(
    label_engine, question: str, partner: str
) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask(question)
    assert answer.answered
    assert all(partner in b.quote.lower() for b in answer.quotes())


@needs_spl
def test_a_dose_answer_leaves_out_the_doses_of_studies(label_engine) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask("adalimumab loading dose for crohns")
    sections = [b.section or "" for b in answer.quotes()]
    assert answer.answered and not any("CLINICAL STUDIES" in s.upper() for s in sections)


@pytest.mark.parametrize(
    ("said", "age", "kept"),
    [
        ("children 6 to under 12 years of age; 2 teaspoonfuls (10 mL)", 14, False),
        ("children 6 to under 12 years of age; 2 teaspoonfuls (10 mL)", 6, True),
        ("children 6 to under 12 years of age; 2 teaspoonfuls (10 mL)", 12, False),
        ("Pediatric Patients (10-17 years of age): 10 mg/day", 8, False),
        ("Pediatric Patients (10-17 years of age): 10 mg/day", 17, True),
        ("adults and children 12 years and over: 4 teaspoonfuls", 14, True),
        ("The recommended starting dose is 10 mg/day", 8, True),  # no band: not ruled out by age
        # "6 to under 12 years" is no band "under 12 years" as well
        ("children 6 to under 12 years of age; 2 teaspoonfuls (10 mL)", 5, False),
        ("children 4 to under 6 years of age; do not use unless directed by a doctor", 5, True),
    ],
)  # fmt: skip
def test_a_dose_for_an_age_band_is_no_dose_for_an_age_outside_it(said: str, age: int, kept: bool) -> None:
    from types import SimpleNamespace

    from bot.doses import _for_age

    cand = SimpleNamespace(quote=said, lead="", chunk=SimpleNamespace(heading=""))
    assert _for_age(cand, age) is kept  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("said", "age", "near"),
    [
        ("Reducing signs and symptoms of polyarticular JIA in pediatric patients 4 years of age and older.", 82, False),
        ("Reducing signs and symptoms of polyarticular JIA in pediatric patients 4 years of age and older.", 9, True),
        ("A total of 519 RA patients 65 years of age and older received HUMIRA", 82, True),
        ("adults and children 12 years and over: 4 teaspoonfuls", 14, True),
    ],
)
def test_an_adult_s_age_is_in_no_band_that_starts_in_childhood(said: str, age: int, near: bool) -> None:
    # for the age bonus of a label quote: "4 years of age and older" holds 82, but says nothing of an 82-year-old
    from bot.doses import for_age

    assert for_age(said, age, adults_apart=True) is near
    assert for_age(said, age)  # as a dosing chart's row, every band above holds the age


@needs_spl
def test_the_words_of_an_age_weigh_little(label_engine) -> None:  # type: ignore[no-untyped-def]
    # "an 82-year-old": the age is read by bot.doses; its words are in every "years of age" of a label
    query = analyse(
        "humira in an 82yo w/ RA - any extra infection or cancer caution for elderly pts?", label_engine.index
    )
    assert query.terms["old"] < query.terms["elder"] / 2 and query.terms["year"] < 1.0


@needs_spl
@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("Lipitor starting dose for an 8 year old with heterozygous FH?", False),  # the label doses 10-17
        ("Lipitor starting dose for an 8 year old?", False),
    ],
)
def test_a_highlights_dose_means_what_the_section_it_points_to_is_for(
    label_engine, question: str, answered: bool
) -> None:  # type: ignore[no-untyped-def]
    # "Pediatric starting dose: 10 mg once daily; maximum recommended dose: 20 mg once daily (2.2)": section
    # 2.2 is "… in Pediatric Patients (10–17 years of age)"
    answer = label_engine.ask(question)
    assert answer.answered is answered
    if answered:
        assert any("10 mg" in b.quote for b in answer.quotes())


@pytest.mark.parametrize(("question", "ages"), [("my son is 14 - how many mL?", [14]), ("a 72-year-old man", [72]),
                                                ("my INR is 3", []),
                                                # a band as a dosing row says it: its lowest age
                                                ("dose for a child aged 6 to under 12 years?", [6]),
                                                ("kids 6-11 yrs", [6]), ("12 years and over", [12])])  # fmt: skip
def test_the_ages_a_question_gives(question: str, ages: list[int]) -> None:
    from bot.doses import ages_in

    assert ages_in(question) == ages


@needs_spl
@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("Does HUMIRA help Tourette's disorder?", False),  # only haloperidol's label names it
        ("Does Lipitor cause tardive dyskinesia?", False),
        ("Is sildenafil safe with tardive dyskinesia?", False),
        ("Can haloperidol cause tardive dyskinesia?", True),
        ("Does Viagra cause priapism?", True),
    ],
)
def test_a_question_is_answered_only_from_sources_that_name_its_specific_word(
    label_engine, question: str, answered: bool
) -> None:  # type: ignore[no-untyped-def]
    assert label_engine.ask(question).answered is answered


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("Does Viagra cause priapism?", True),
        ("how much tylenol can a child take", True),
        ("lipitor max dose?", True),
        ("Lipitor causes tardive dyskinesia.", False),  # a claim to check
        ("Vitamin D lowers the risk of fractures in older women", False),
    ],
)
def test_is_question(text: str, question: bool) -> None:
    from bot.query import is_question

    assert is_question(text) is question


@pytest.mark.parametrize(
    ("question", "examples"),
    [
        ("Can her baby get the rotavirus vaccine or other live vaccines?", {"the", "rotavirus", "vaccine"}),
        ("a long-acting opioid like OxyContin for back pain", {"oxycontin", "for"}),
        ("Does Humira cause lymphoma?", set()),
    ],
)
def test_example_words(question: str, examples: set[str]) -> None:
    from bot.query import example_words

    assert example_words(question) == examples


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Pt on long-term diazepam now needs an opioid for pain.", True),
        ("Do steroidal AIs cause more musculoskeletal symptoms?", True),  # aromatase inhibitors, spelt out
        ("want to come off the benzodiazepine", True),
        ("Is pimavanserin an option for psychosis in Parkinson's disease?", False),
    ],
)
def test_which_questions_name_a_drug_class(question: str, names: bool) -> None:
    from bot.query import names_a_class

    assert names_a_class(question) is names


def test_opioids_are_said_as_opiates_too() -> None:
    from bot.query import synonym_stems

    assert "opiat" in synonym_stems()["opioid"] and "opioid" in synonym_stems()["opiat"]


def test_part_of_a_known_word_is_not_corrected_to_another() -> None:
    from bot.spelling import corrected

    vocab = {"vasopressor": 0, "professor": 1, "frozen": 2}
    assert corrected("pressor", vocab, ()) == "pressor"  # not "professor"
    assert corrected("froze", vocab, ()) == "frozen"


@pytest.mark.parametrize(
    ("stem", "vocab", "fixed"),
    [
        ("chron", {"crohn", "chronic", "chronolog"}, "crohn"),  # letters swapped, not the start of "chronic"
        ("chron", {"chronic"}, "chronic"),  # no word of its letters: the closest
        ("recieve", {"receiv", "receive", "recipe"}, "receive"),
        ("tonsil", {"tonsil", "tinsol"}, "tonsil"),  # known as written
        ("coatmer", {"coartem", "coatom"}, "coatom"),  # other letters rearranged: no slip
        ("cronic", {"crocin", "chronic"}, "chronic"),  # two letters swapped far apart: no slip
        ("rpl23", {"rpl32", "rpl2"}, "rpl2"),  # a gene's digits are no typing slip
    ],
)
def test_a_letter_typed_in_the_wrong_place_is_moved_back(stem: str, vocab: set[str], fixed: str) -> None:
    from bot.spelling import corrected

    assert corrected(stem, dict.fromkeys(vocab, 0), ()) == fixed


@needs_spl
def test_a_child_dose_for_an_indication_dosed_only_in_adults_is_declined(label_engine) -> None:  # type: ignore[no-untyped-def]
    # HUMIRA (this label) doses Crohn's disease in adults only: its JIA doses for children are no answer
    assert not label_engine.ask("Humira dose for a child with Crohn's disease weighing 30 kg?").answered


@needs_spl
def test_older_patients_get_the_doses_the_label_gives_for_them(label_engine) -> None:  # type: ignore[no-untyped-def]
    answer = label_engine.ask(
        "My 70 yo mom is starting haloperidol tablets. What starting dose is usual for older patients?"
    )
    quotes = [b.quote for b in answer.quotes()]
    assert quotes and all("Geriatric" in q or "elderly" in q.lower() for q in quotes), quotes


@pytest.mark.parametrize(
    ("text", "quote", "is_graded"),
    [
        ("Therapy should not stop abruptly (recommendation category: B; evidence type: 4).", "stop abruptly", True),
        ("Do not stop (recommendation category: B).", "Do not stop (recommendation category: B).", True),  # in it
        ("Clinicians should taper. Therapy should not stop (recommendation category: B).", "should taper", True),
        ("The panel recommends an IPC programme.\n(Strong recommendation, very low quality of evidence)", "programme",
         True),  # the WHO's grade, on the line after
        ("Tests can provide information.\nClinicians should explain (recommendation category: B).", "information",
         False),  # the next line is another statement
        ("Recommendation category B acknowledges variation in PDMP availability.", "availability", False),
    ],
)  # fmt: skip
def test_a_graded_recommendation_is_known_by_its_grade(text: str, quote: str, is_graded: bool) -> None:
    from bot.quotes import graded

    assert graded(text, text.index(quote), text.index(quote) + len(quote)) is is_graded


@pytest.mark.parametrize(
    ("said", "ages", "older"),
    [
        ("Consider a starting dose of 25 mg in patients > 65 years", [72], True),
        ("Consider a starting dose of 25 mg in patients > 65 years", [60], False),
        ("a starting dose of 25 mg should be considered in older subjects (>65)", [], True),  # in words too
        ("Geriatric or Debilitated Patients - 0.5 mg to 2 mg b.i.d.", [72], True),
        ("adults and children 12 years and over: 4 teaspoonfuls", [72], False),  # 12 is no old age
        ("patients 65 years of age and older: 10 mg", [80], True),
    ],
)  # fmt: skip
def test_a_dose_for_older_patients_is_said_in_words_or_by_an_age(said: str, ages: list[int], older: bool) -> None:
    from bot.doses import _for_older

    assert _for_older(said, ages) is older


@needs_spl
def test_an_older_patients_starting_dose_comes_from_the_age_the_label_gives(label_engine) -> None:  # type: ignore[no-untyped-def]
    # VIAGRA says "patients > 65 years", not "elderly": a 72-year-old's starting dose is 25 mg, not declined
    answer = label_engine.ask("sildenafil starting dose in a 72 year old man?")
    assert answer.answered and all("25 mg" in b.quote for b in answer.quotes())


@needs_spl
def test_a_starting_dose_question_gets_how_to_begin(label_engine) -> None:  # type: ignore[no-untyped-def]
    quotes = [b.quote for b in label_engine.ask("haloperidol starting dose for an 8 year old with tourettes").quotes()]
    assert any("begin at the lowest dose possible (0.5 mg per day)" in q for q in quotes), quotes


@needs_spl
@pytest.mark.parametrize(
    ("question", "erectile"),
    [
        ("Pt on Humira presents to the ED septic. Hold the drug?", False),  # a place: the emergency department
        ("Took Viagra last night, now chest pain in the ED. Is nitro safe?", False),
        ("ED visits after an opioid overdose", False),
        ("Viagra for ED in a man on nitrates?", True),
        ("pt in acute opioid w/drawal in ED - can I give bupe?", False),
        ("ED: a post-operative patient has taken oxycodone for 5 days", False),
        ("Our ED is boarding admitted patients on trolleys in corridors. What bed spacing?", False),  # capitalised
    ],
)  # fmt: skip
def test_the_ed_as_a_place_is_the_emergency_department(label_engine, question: str, erectile: bool) -> None:  # type: ignore[no-untyped-def]
    query = analyse(question, label_engine.index)
    assert ("erectile" in query.for_search) is erectile


@needs_spl
def test_a_septic_patient_s_hold_question_gets_the_label_s_discontinue(label_engine) -> None:  # type: ignore[no-untyped-def]
    # "septic" is said by "sepsis", "hold" by "discontinue"
    quotes = [b.quote for b in label_engine.ask("Pt on Humira presents to the ED septic. Hold the drug?").quotes()]
    assert any("Discontinue HUMIRA if a patient develops a serious infection or sepsis" in q for q in quotes), quotes


@needs_spl
@pytest.mark.parametrize(
    ("name", "held"),
    [
        ("organic nitrates", True),  # the VIAGRA label's words, in their order
        ("alpha blockers", True),  # "alpha-blockers"
        ("cholesterol absorption inhibitors", False),  # the LIPITOR label holds each word, never the name
        ("atorvastatin", True),
        ("ezetimibe", False),
    ],
)
def test_a_name_is_held_only_with_its_words_in_order(label_engine, name: str, held: bool) -> None:  # type: ignore[no-untyped-def]
    from bot.query import holds_name

    assert holds_name(label_engine.index, name) is held


@needs_spl
def test_a_drug_whose_class_no_source_names_is_declined_by_name(label_engine) -> None:  # type: ignore[no-untyped-def]
    query = analyse("lipitor + ezetimibe - extra LDL lowering %?", label_engine.index)
    assert query.unknown == ("ezetimibe",) and query.drugs == ("atorvastatin",)
    # a drug no source names whose class a source names is asked about as that class
    query = analyse("on isosorbide mononitrate and Viagra - any interaction?", label_engine.index)
    assert "isosorbide mononitrate" in query.drugs and "nitrates" in query.text


@needs_spl
@pytest.mark.parametrize(
    ("question", "read"),
    [
        ("Humira in a pt with MS?", "Humira in a pt with multiple sclerosis?"),  # the label's demyelinating disease
        ("MS?", "MS?"),  # nothing else in the question settles which meaning
        ("Is DM a risk with atorvastatin?", "Is DM a risk with atorvastatin?"),
    ],
)
def test_an_ambiguous_acronym_is_read_as_the_meaning_the_sources_settle(label_engine, question: str, read: str) -> None:  # type: ignore[no-untyped-def]
    from bot.query import with_acronyms_read

    assert with_acronyms_read(question, label_engine.index) == read


@needs_spl
def test_two_drugs_asked_together_need_no_other_specific_word(label_engine) -> None:  # type: ignore[no-untyped-def]
    from bot.abstention import sources_name_specific

    index = label_engine.index
    query = analyse(
        "Bipolar inpatient on lithium; the team wants to add haloperidol for agitation. What interaction risk is "
        "described?",
        index,
    )
    assert set(query.drugs) == {"lithium", "haloperidol"}
    rows = index.lexical.rows_with("lithium")[:1].tolist()
    quoted = list(index.chunks(rows).values())
    unheard = dataclasses.replace(query, specific=("xqzt",))  # a specific word no source holds
    assert sources_name_specific(unheard, quoted, label_engine.searcher)
    alone = analyse("Bipolar inpatient on haloperidol: what xqzt risk is described?", index)
    assert not sources_name_specific(dataclasses.replace(alone, specific=("xqzt",)), quoted, label_engine.searcher)


@needs_spl
@pytest.mark.parametrize(
    ("question", "rare"),
    [
        ("NMS - what signs?", True),  # neuroleptic malignant syndrome: a few passages of the haloperidol label
        ("TB - what test?", False),  # tuberculosis: all over the HUMIRA label
        ("XQZT - what test?", False),  # no source holds it
        ("nms - what signs?", False),  # not written as an acronym
    ],
)
def test_rare_acronym(label_engine, question: str, rare: bool) -> None:  # type: ignore[no-untyped-def]
    from bot.abstention import rare_acronym

    assert rare_acronym(analyse(question, label_engine.index), label_engine.index) is rare
