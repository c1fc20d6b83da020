"""The real default corpus (`corpus/`, see corpus/SOURCES.md) indexed with the real model, and asked the
questions a clinician would ask of it: each answer quotes the right source, under the right heading, with
the section it comes from, and quotes no label furniture ("NOT FOR SALE", highlights boilerplate) or the
label's own cross-references.

The index is built once per session (`default_corpus`) from `corpus/` in place, with the normal vector cache
(`~/.cache/bot`, or `BOT_CACHE_DIR`), so CI reuses the vectors of earlier runs. `tests/test_browser.py`
imports the fixture to serve the same index.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.documents import Answer, Bullet, Reference
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

DOCUMENTS = 83
KINDS = {"drug_label", "guideline", "research", "consumer_health"}

HUMIRA_QUESTION = "What does the boxed warning for Humira say?"
OPIOID_QUESTION = "How soon after starting opioids for chronic pain should a clinician reassess benefits and risks?"
RESEARCH_QUESTION = "Is as-needed budesonide-formoterol effective in mild asthma?"
DECLINE_QUESTION = "What is the recommended dose of lisinopril for hypertension?"
HUMIRA_URL = "https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=608d4f0d-b19f-46d3-749a-7159aa5f933d"

_BUILT: dict[Path, Settings] = {}  # one build per session even where another module imports the fixture


@pytest.fixture(scope="session")
def default_corpus(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a real index of `corpus/` (read in place, not copied), built once per session."""
    base = tmp_path_factory.getbasetemp()
    if base not in _BUILT:
        from bot.cli import do_index

        tmp = tmp_path_factory.mktemp("default-corpus")
        settings = Settings(corpus=ROOT / "corpus", index=tmp / "index", data_dir=tmp / "data")
        t0 = time.perf_counter()
        stats = do_index(settings, progress=False)
        print(f"\ndefault corpus indexed in {time.perf_counter() - t0:.1f} s: {stats}")
        _BUILT[base] = settings
    return _BUILT[base]


@pytest.fixture(scope="session")
def default_engine(default_corpus: Settings) -> Any:
    from bot.engine import Engine

    return Engine.load(default_corpus)


@pytest.fixture(scope="session")
def ask(default_engine: Any) -> Callable[[str], Answer]:
    cache: dict[str, Answer] = {}

    def _ask(question: str) -> Answer:
        if question not in cache:
            cache[question] = default_engine.ask(question)
        return cache[question]

    return _ask


def test_the_index_holds_every_document_of_every_kind(default_engine: Any) -> None:
    info = default_engine.info()
    assert info["documents"] == DOCUMENTS
    assert set(info["kinds"]) == KINDS, info["kinds"]
    assert all(n > 0 for n in info["kinds"].values()), info["kinds"]
    assert len(default_engine.index.doc_ids) == DOCUMENTS
    assert set(default_engine.index.doc_kinds) == KINDS


def quote_of(answer: Answer, doc_id: str, needle: str) -> Bullet:
    for bullet in answer.quotes():
        if bullet.doc_id == doc_id and needle in bullet.quote:
            return bullet
    pytest.fail(f"no quote from {doc_id} containing {needle!r} in {[b.quote for b in answer.quotes()]}")


def reference_of(answer: Answer, doc_id: str) -> Reference:
    found = [r for r in answer.references if r.doc_id == doc_id]
    assert found, [r.doc_id for r in answer.references]
    return found[0]


def check_humira(answer: Answer) -> None:
    bullet = quote_of(answer, "labels/humira", "serious infection")
    assert bullet.section and "boxed warning" in bullet.section.lower(), bullet.section
    ref = reference_of(answer, "labels/humira")
    assert ref.source == "FDA label"
    assert ref.locator and "Boxed Warning" in ref.locator
    assert ref.url == HUMIRA_URL


def check_atorvastatin(answer: Answer) -> None:
    bullet = quote_of(answer, "labels/lipitor-orig", "Active liver disease")
    assert bullet.section and "contraindication" in bullet.section.lower(), bullet.section
    labels = {b.doc_id for s in answer.sections if s.kind == "drug_label" for b in s.bullets}
    assert labels == {"labels/lipitor-orig"}  # no other drug's label


def check_sildenafil(answer: Answer) -> None:
    bullet = quote_of(answer, "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "50 mg")
    assert bullet.section and "dosage" in bullet.section.lower(), bullet.section
    assert reference_of(answer, bullet.doc_id).title.startswith("VIAGRA")


def check_opioids(answer: Answer) -> None:
    bullet = quote_of(answer, "guidelines/cdc-2022-opioid-rr7103a1-H", "within 1–4 weeks")
    assert bullet.section and re.search(r"\bp\. \d+", bullet.section), bullet.section
    ref = reference_of(answer, bullet.doc_id)
    assert ref.locator and re.search(r"\bpp?\. \d+", ref.locator), ref.locator
    assert ref.title.startswith("CDC Clinical Practice Guideline for Prescribing Opioids")


def check_research(answer: Answer) -> None:
    bullet = quote_of(answer, "pubmed/29768149", "as-needed budesonide-formoterol provided superior")
    assert bullet.section == "CONCLUSIONS"
    ref = reference_of(answer, "pubmed/29768149")
    assert ref.source == "PubMed" and ref.url == "https://pubmed.ncbi.nlm.nih.gov/29768149/"


# question, the one heading its answer has, the check of its quotes and references
ANSWERED: list[tuple[str, str, Callable[[Answer], None]]] = [
    (HUMIRA_QUESTION, "From the FDA Drug Label", check_humira),
    ("What are the contraindications to atorvastatin?", "From the FDA Drug Label", check_atorvastatin),
    ("What is the usual dose of sildenafil?", "From the FDA Drug Label", check_sildenafil),
    (OPIOID_QUESTION, "From the Guidelines", check_opioids),
    (RESEARCH_QUESTION, "From the Research", check_research),
]
KIND_OF = {
    "From the FDA Drug Label": "drug_label",
    "From the Guidelines": "guideline",
    "From the Research": "research",
    "From Consumer Health": "consumer_health",
}
HEADING_OF = {kind: heading for heading, kind in KIND_OF.items()}
# Questions whose answer quotes sources of more than one kind (each kind under its own heading).
MULTI_KIND: list[tuple[str, list[str]]] = [
    ("What causes muscle weakness?", ["From the FDA Drug Label", "From Consumer Health"]),
    ("Can polymyositis be caused by a toxin?", ["From the Research", "From Consumer Health"]),
]
ALL_QUESTIONS = [q for q, _, _ in ANSWERED] + [q for q, _ in MULTI_KIND] + [DECLINE_QUESTION]


def check_citations(answer: Answer, default_engine: Any) -> None:
    """Every quote is its source's exact text, and cites that source, listed once, with the section's kind."""
    refs = {r.n: r for r in answer.references}
    assert len({r.doc_id for r in answer.references}) == len(answer.references)
    for section in answer.sections:
        assert section.heading == HEADING_OF[section.kind]
        for bullet in section.bullets:
            document = default_engine.index.document(bullet.doc_id)
            assert document is not None and document.text[bullet.start : bullet.end] == bullet.quote
            assert [refs[n].doc_id for n in bullet.citations] == [bullet.doc_id]
            assert refs[bullet.citations[0]].kind == section.kind


@pytest.mark.parametrize(("question", "heading", "check"), ANSWERED, ids=[q for q, _, _ in ANSWERED])
def test_answers_quote_the_right_source_under_the_right_heading(
    ask: Callable[[str], Answer], default_engine: Any, question: str, heading: str, check: Callable[[Answer], None]
) -> None:
    answer = ask(question)
    assert answer.answered, answer.message
    assert answer.sections[0].heading == heading, [s.heading for s in answer.sections]
    check_citations(answer, default_engine)
    check(answer)


@pytest.mark.parametrize(("question", "headings"), MULTI_KIND, ids=[q for q, _ in MULTI_KIND])
def test_some_answers_quote_several_kinds_with_distinct_references(
    ask: Callable[[str], Answer], default_engine: Any, question: str, headings: list[str]
) -> None:
    answer = ask(question)
    assert answer.answered, answer.message
    assert [s.heading for s in answer.sections] == headings
    assert {r.kind for r in answer.references} == {KIND_OF[h] for h in headings}
    check_citations(answer, default_engine)


def test_a_drug_the_corpus_does_not_cover_is_declined(ask: Callable[[str], Answer]) -> None:
    answer = ask(DECLINE_QUESTION)
    assert not answer.answered
    assert answer.sections == [] and answer.references == []
    assert answer.message and "could not find" in answer.message


@pytest.mark.parametrize(
    ("question", "said"),
    [
        # a form the drug's label never mentions; a cream of another product is no form asked about
        ("Is haloperidol available as an orally disintegrating tablet, and how is that formulation dosed?",
         "the label of haloperidol does not mention “orally disintegrating”"),
        ("Does Lipitor come as a chewable tablet?", "the label of lipitor does not mention “chewable”"),
        # a long dose question about a drug's label: its words no source holds are no patient's story
        ("34-year-old with schizophrenia stable on oral haloperidol 10 mg/day is switching to haloperidol "
         "decanoate. What monthly depot dose and injection interval should be used?", "decanoate"),
        # a long question that names a drug's label is no patient's story about a condition
        ("A 58-year-old with moderate to severe hidradenitis suppurativa is starting Humira. What loading dose does "
         "the label give for this indication?", "“hidradenitis”"),
        # a drug whose class no source names as a whole ("cholesterol absorption inhibitors": the LIPITOR label
        # says each word, apart) is no drug the sources speak of
        ("lipitor + ezetimibe - extra LDL lowering %?", "“ezetimibe”"),
        # a dose of a drug no source names is not asked about as its class ("opioid antagonists")
        ("How should naldemedine be dosed for opioid-induced constipation in a patient on long-term opioids?",
         "“naldemedine”"),
        # nor a drug of a class nearly every passage names (opioids, in an opioid guideline)
        ("What does the CDC 2022 opioid guideline say about using oliceridine for acute postoperative pain?",
         "“oliceridine”"),
        # nor a drug asked about alone: its class's passages are about other drugs (haloperidol's boxed warning)
        ("Is pimavanserin an option for psychosis in a patient with Parkinson's disease?", "“pimavanserin”"),
        # a marker of letters and digits no source names is a key word like any other
        ("pt w/ suspected polymyositis, anti-Jo-1 positive - what does that mean for prognosis?", "“jo-1”"),
        ("In juvenile dermatomyositis, what does a positive anti-MDA5 antibody mean for the risk of interstitial lung "
         "disease?", "“mda5”"),
    ],
)  # fmt: skip
def test_what_a_drug_s_label_never_says_is_declined(ask: Callable[[str], Answer], question: str, said: str) -> None:
    answer = ask(question)
    assert not answer.answered and answer.message and said in answer.message, answer.message


CROSS_REFERENCE = re.compile(r"\(\d+(\.\d+)?(, ?\d+(\.\d+)?)*\)")
SECTION_NUMBER = re.compile(r"^\d+(\.\d+)*\s")


@pytest.mark.parametrize("question", ALL_QUESTIONS)
def test_no_quote_is_label_furniture_or_a_cross_reference(ask: Callable[[str], Answer], question: str) -> None:
    for bullet in ask(question).quotes():
        q = bullet.quote
        assert "NOT FOR SALE" not in q, q
        assert "These highlights do not include" not in q, q
        assert not CROSS_REFERENCE.search(q), q
        assert not SECTION_NUMBER.match(q), q
        assert q == q.strip() and q, q


@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("Should I order urine drug testing for patients on chronic opioids?", "risks of toxicology testing"),
        ("Can I stop opioids abruptly in a patient on long-term high-dose therapy?", "not be discontinued abruptly"),
    ],
)  # fmt: skip
def test_a_guideline_answer_quotes_its_graded_recommendation(
    ask: Callable[[str], Answer], question: str, needle: str
) -> None:
    # the recommendation ("… (recommendation category: B; evidence type: 4)") ranks below the pages that
    # discuss it; the answer reads it and puts it before them
    quote_of(ask(question), "guidelines/cdc-2022-opioid-rr7103a1-H", needle)


@pytest.mark.parametrize(
    ("question", "doc_id", "needle"),
    [
        # what to do after a missed dose: the patient information, and nothing else ("seals … broken or missing")
        ("Patient forgot her Humira injection this week - what should she do?", "humira", "as soon as you remember"),
        ("What to do about a missed Humira dose?", "humira", "take your next dose at your regular scheduled time"),
        ("What should a patient do if they miss a dose of Lipitor?", "lipitor-orig", "more than 12 hours"),  # no amount
        # a dose for a patient on another drug: the label's dose for patients on that drug
        ("Patient on tamsulosin wants sildenafil. What dose should he start on?", "64f8040f", "25 mg"),
    ],
)  # fmt: skip
def test_a_label_answers_for_the_patient_asked_about(
    ask: Callable[[str], Answer], question: str, doc_id: str, needle: str
) -> None:
    answer = ask(question)
    assert any(b.doc_id.startswith(f"labels/{doc_id}") and needle in " ".join(b.quote.split()) for b in answer.quotes())
    if "miss" in question or "forgot" in question:
        assert all(re.search(r"miss|forget|remember|next dose|same time", b.quote, re.I) for b in answer.quotes())


@pytest.mark.parametrize(
    ("question", "doc_id", "needle"),
    [
        ("How should adalimumab be stored?", "humira", "cool carrier with an ice pack"),
        # "storage" is the label's "store at controlled room temperature"
        ("triaminic storage?", "cough", "controlled room temperature"),
    ],
)
def test_a_storage_question_gets_how_the_product_is_kept_not_what_is_supplied(
    ask: Callable[[str], Answer], question: str, doc_id: str, needle: str
) -> None:
    quotes = ask(question).quotes()
    assert any(b.doc_id == f"labels/{doc_id}" and needle in b.quote for b in quotes)
    # the storage section's packaging lines and the dosing cup's "Keep for use with this product only" are no answer
    furniture = re.compile(r"packaging configurations|supplied as|for use with this product")
    assert not any(furniture.search(b.quote) for b in quotes)


def test_a_label_that_says_nothing_of_a_missed_dose_gives_no_dosing_table_for_it(
    ask: Callable[[str], Answer],
) -> None:
    assert not ask("missed haloperidol dose - what now?").answered


@pytest.mark.parametrize(
    ("question", "doc_id", "needle"),
    [
        # a bare "what is X?" is answered first by the sentence that says what X is, not a later one
        ("what is amyopathic dermatomyositis?", "medquad:GARD_0000306_1", "Amyopathic dermatomyositis is a form"),
        # a health page's "It" is the condition the page is about
        ("What age group does juvenile dermatomyositis affect?", "medquad:GARD_0003320_1", "children ages 2 to 15"),
        # "how much" of a guideline: its graded recommendation says it in words, not in milligrams
        ("Per CDC 2022, how much opioid should I prescribe for acute pain, e.g. after a dental extraction?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "no greater quantity than needed"),
    ],
)  # fmt: skip
def test_a_question_of_what_or_how_much_gets_the_sentence_that_says_it(
    ask: Callable[[str], Answer], question: str, doc_id: str, needle: str
) -> None:
    answer = ask(question)
    quote_of(answer, doc_id, needle)
    if question.startswith("what is"):
        assert needle in answer.quotes()[0].quote
    for bullet in answer.quotes():  # a symptom table's run of rows answers no age and no definition
        assert not re.search(r"(\d+(\.\d+)?% [A-Z][^%]*){3}", bullet.quote), bullet.quote


@pytest.mark.parametrize(
    ("question", "doc_id", "needle"),
    [
        # "CrCl" is searched as "creatinine clearance" and said by the label's "renal": not an unknown word
        ("does atorvastatin need renal dose adjustment? pt CrCl 20", "labels/lipitor-orig",
         "dosage adjustment in patients with renal dysfunction is not necessary"),
        ("What starting dose of Viagra for someone with CrCl <30?", "labels/64f8040f-938d-4236-8e22-c838c9b5f8da",
         "Consider a starting dose of 25 mg"),
        # "hemodialysis" is said by the label's "dialysis", "flying overseas" by its "traveling"
        ("Intentional sildenafil overdose - will hemodialysis help clear it?",
         "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "Renal dialysis is not expected to accelerate clearance"),
        ("Patient flying overseas for 2 weeks, how should she carry her adalimumab pens?", "labels/humira",
         "cool carrier with an ice pack"),
        # two drugs together: the label of one naming the other is the evidence, whatever the other words
        ("Patient on rifampin for TB is starting atorvastatin. Should the two be given at the same time or spaced "
         "apart?", "labels/lipitor-orig", "simultaneous co-administration of LIPITOR with rifampin"),
        ("atorvastatin + rifampicin: give at the same time or space them out?", "labels/lipitor-orig",
         "simultaneous co-administration of LIPITOR with rifampin"),  # rifampicin: the drug's INN name
        # why one of the two drugs is given ("for H pylori") is context, not a word the answer must hold
        ("Starting clarithromycin for H pylori in a pt on lipitor 80 - what's the max atorvastatin dose while on it?",
         "labels/lipitor-orig", "therapy with LIPITOR should be limited to 20 mg"),
        # how often and how many doses a day are said without an amount
        ("triaminic nighttime - how often can it be given, and max doses a day?", "labels/cough",
         "Do not give more than 6 doses in 24 hours"),
        ("triaminic night time cold & cough - max # of doses in 24h?", "labels/cough",
         "Do not give more than 6 doses in 24 hours"),
        ("What is the maximum number of doses of Triaminic Children's Night Time Cold and Cough that can be given in "
         "24 hours?", "labels/cough", "Do not give more than 6 doses in 24 hours"),  # the product's name, no child
        # a drug the patient does not take is not asked about with the one that is
        ("9-year-old girl with polyarticular JIA, weighs 25 kg, not on methotrexate; we're starting Humira. What "
         "dose and how often?", "labels/humira", "20 mg every other week"),
        # everyday words no source holds are neither unknown nor misspelt ("cutoff", "tonight")
        ("pt missed lipitor dose this morning - still ok to take it tonight? cutoff?", "labels/lipitor-orig",
         "more than 12 hours since you missed your last dose"),
        # an acronym no source writes ("SSc", "CTD") is searched by its spelt-out words alone
        ("SSc pts w/ features of another CTD (overlap) - what %?", "medquad:GHR_0000967_1",
         "Approximately 15 percent to 25 percent"),
        # "UDS", "IM", "PO" as clinicians write them; "discharge" said by "dismiss", "IM" by "parenteral"
        ("UDS on a chronic opioid pt came back w/ unexpected results - does CDC say we should discharge them from "
         "the practice?", "guidelines/cdc-2022-opioid-rr7103a1-H", "not dismiss patients from care"),
        ("switching pt from IM haldol to PO - when should the first oral dose go in?", "labels/no-title",
         "first oral dose should be given within 12 to 24 hours"),
        # how much a drug reduced something is an effect's size, not a dose: no amount needed
        ("In the Fracture Intervention Trial of women with low bone density but no vertebral fractures, how much did "
         "alendronate reduce clinical fractures among women with baseline femoral neck osteoporosis?",
         "beir-scifact:11246427", "reduced clinical fractures by 36%"),
        # a page about the question's focus is quoted for what it says of the rest of the question
        ("What are blood calcium levels typically like in hyperphosphatemic familial tumoral calcinosis?",
         "medquad:GHR_0000499_3", "calcium is typically within the normal range"),
        # a study's methods, not its findings first, for how it measured something
        ("How was apoptosis assessed in the study of pamidronate in hepatocellular carcinoma cell lines?",
         "beir-scifact:10450725", "staining with DAPI"),
        # a dose for a population is answered by whether the dose changes for it, amount or none
        ("atorvastain renal dosing in CKD 4?", "labels/lipitor-orig",
         "dosage adjustment in patients with renal dysfunction is not necessary"),
        ("What starting dose of Viagra for a man with Child-Pugh B cirrhosis?",
         "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "any degree of hepatic impairment"),
        # another product with the same drug, even on the skin
        ("Kid has diphenhydramine cream on his bug bites. Can he also get the diphenhydramine/phenylephrine cough "
         "syrup?", "labels/cough", "even one used on skin"),
        # "JDM" and "CK" as clinicians write them: juvenile dermatomyositis, creatine kinase
        ("suspected JDM but the CK is normal. does that argue against it?", "medquad:GARD_0003320_1",
         "creatine kinase"),
        # "naive" as typed for the guideline's "naïve"; its "5–10 MME" says "morphine milligram equivalents"
        ("opioid-naive pt: lowest starting dose in MME per CDC 2022?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "5–10 MME"),
        # "eGFR" (mixed case) is an acronym of renal function, no unknown word
        ("An 85-year-old man with stage 4 chronic kidney disease (eGFR 22) needs a statin after a TIA. Does "
         "atorvastatin need a dose adjustment for his kidney function?", "labels/lipitor-orig",
         "dosage adjustment in patients with renal dysfunction is not necessary"),
        # "w/drawal", "bupe", and "in ED" as a place
        ("pt in acute opioid w/drawal in ED, no OTP referal yet - can I give bupe or methadone, and for how many "
         "days per CDC?", "guidelines/cdc-2022-opioid-rr7103a1-H", "for up to 3 days"),
        # "f/u", "uptitrating" (how a dose is raised: no specific word), "yr"
        ("CDC opioid guidline - f/u interval when starting or uptitrating methadone?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "every 2–3 days for the first week"),
        ("pt on opioids >1 yr, planning taper - recomended rate per cdc 2022?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "10% per month or slower"),
        # a list of examples is quoted up to the cross-reference inside it
        ("cdc opioid guidline 2022: which pts shld be offered naloxone w their rx?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "patients with a history of overdose"),
        # a dosing chart's row for the age asked, though it gives no amount; "4 to under 6" is no "under 6"
        ("Paediatric nurse: a parent wants to give Triaminic Children's Night Time Cold & Cough to her 5-year-old. "
         "What does the dosing chart say for that age?", "labels/cough",
         "children 4 to under 6 years of age; do not use unless directed by a doctor"),
        # "by how much", "how much higher": the size of an effect, not an amount to give
        ("haldol + rifampin - do haloperidol levels drop? by how much? pt schizophrenc", "labels/no-title",
         "decreased by a mean of 70%"),
        ("In cancer patients with bone metastases receiving zoledronic acid, how much higher was the risk of death on "
         "study with high urinary Ntx levels?", "beir-scifact:8037453", "4- to 6-fold increased risk of death"),
        # how a drug is started is a dose question; titration how it is given, not what it is for
        ("How should sildenafil be started in a man who already takes an alpha-blocker for benign prostatic "
         "hyperplasia?", "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "stable on alpha-blocker therapy"),
        ("An 8-year-old boy (25 kg) with Tourette's is starting oral haloperidol. What starting dose and titration "
         "does the label recommend for children?", "labels/no-title", "lowest dose possible (0.5 mg per day)"),
        # "freq in the HPO list": a symptom table answers
        ("JDM: periorbital edema freq in the HPO list?", "medquad:GARD_0003320_2", "Periorbital edema 90%"),
        # how many took part: the sentence with the count, not the findings
        ("How many postmenopausal women took part in the retrospective pilot study of urinary phytate levels and "
         "bone mineral density?", "beir-nfcorpus:MED-2989", "180 postmenopausal women"),
        # "how soon" after the dose is changed asks when, not how much
        ("After atorvastatin is started or the dose is changed, how soon should lipid levels be checked?",
         "labels/lipitor-orig", "within 2 to 4 weeks"),
        # "the children's … syrup" names a product: its directions hold for whoever it is given to
        ("How often can the children's diphenhydramine and phenylephrine night-time syrup be given, and what is the "
         "most doses per day?", "labels/cough", "more than 6 doses in 24 hours"),
        # a urine drug test is the guideline's "toxicology testing"
        ("How often should urine tox be done for patients on long-term opioid therapy per the CDC guideline?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "at least annually"),
        # "This testing may include: …" leans on the sentence before it, which is quoted: it is read with it
        ("what tests confirm a dx of polymyositis?", "medquad:GARD_0004960_3", "creatine kinase and aldolase"),
        # drug acronyms no source writes (AZT, 3TC, IFN) are searched by what they stand for; "responded" is said
        # by "response"
        ("ATLL phase II, EPOCH then AZT/3TC/IFN - how many responded and for how long?", "beir-scifact:601033",
         "Eleven patients achieved an objective response"),
        # "malnourished" is said by "malnutrition": no unknown word
        ("Hemodialysis patients having AV fistula surgery: in the radial artery calcification study, what share "
         "were malnourished and how did serum albumin relate to calcification?", "pubmedqa:23506394",
         "66.18% hemodialysis patients were malnutrition"),
        ("IIM incidence per yr? M vs F?", "medquad:GHR_0000511_2", "2 to 8 cases per million"),
        # an amount of juice is in liters; "how much were fractures cut" asks an effect's size
        ("How much grapefruit juice a day counts as excessive for someone taking atorvastatin?", "labels/lipitor-orig",
         "1.2 liters per day"),
        ("FIT alendronate, women w/o vertebral fx but femoral neck osteoporosis - how much were clinical fractures "
         "cut?", "beir-scifact:11246427", "reduced clinical fractures by 36%"),
        # "a third" gives a proportion
        ("What proportion of people with systemic lupus erythematosus develop kidney disease?", "medquad:GHR_0000966_1",
         "About a third of people with SLE"),
        # the label's "BP" says the question's "pressure"
        ("For which resting blood pressure levels are there no controlled data on the safety of Viagra?",
         "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "BP <90/50 mmHg"),
        # drug names typed short ("clarithro", "atorva"); "disabling" is a form of an everyday word, no indication
        # the label must name
        ("lipitor + clarithro — max atorva dose?", "labels/lipitor-orig", "clarithromycin"),
        ("8-year-old, 25 kg, Tourette's with disabling tics, starting oral haloperidol. What dose should therapy "
         "begin at, and what mg/kg/day range applies to Tourette's?", "labels/no-title",
         "lowest dose possible (0.5 mg per day)"),
        # how a product is kept when travelling is its storage; "in utero" asks of pregnancy
        ("adalimumab pens, pt travelling - how to keep them?", "labels/humira", "cool carrier with an ice pack"),
        ("How long after birth can adalimumab still be detected in the blood of an infant who was exposed in utero?",
         "labels/humira", "in utero for at least 3 months from birth"),
        # TST, PPD and BCG are searched as the label writes them out
        ("PPD cutoff for a positive TST before starting adalimumab? pt had BCG as a baby", "labels/humira",
         "induration of ≥ 5 mm"),
        # "bup" is buprenorphine; "after the last … dose" asks when, not how much
        ("bup induction - how long after the last short-acting full agonist dose?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "wait at least 8–12 hours after the last dose"),
        # a drug no source names (alprazolam) is asked about as its class, which the quote names
        ("62-year-old woman on long-term oxycodone and alprazolam for years; we want to get her off the "
         "benzodiazepine. How should it be stopped?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "should taper benzodiazepines gradually before"),
        # an ambiguous acronym read as the meaning the sources hold with the question's other words; "%" asks
        # how often
        ("amyopathic DM: % with periorbital edema?", "medquad:GARD_0000306_2", "Periorbital edema 90%"),
        # how to stop a short course without withdrawal is how to taper it, the guideline's word
        ("34-year-old took oxycodone around the clock for 5 days after an ankle fracture; pain is settling. How "
         "should I stop it to avoid withdrawal?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "reducing the daily dosage to 50% for 2 days"),
        ("If a patient took opioids around the clock for about five days after surgery, how should the dose be "
         "brought down when stopping?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "reducing the daily dosage to 50% for 2 days"),
        # "where" is answered by the sentence that names the places
        ("Where do the calcium deposits usually form in hyperphosphatemic familial tumoral calcinosis?",
         "medquad:GHR_0000499_1", "most often the hips, shoulders, and elbows"),
        # "vax"; "Chron's" (letters swapped) is Crohn's, not "chronic"
        ("adalimumab + live vax ok?", "labels/humira", "except for live vaccines"),
        ("38-year-old man with moderate to severe Chron's disease is starting adalimumab. What are the induction "
         "doses on day 1 and day 15?", "labels/humira", "Initial dose (Day 1): 160 mg"),
        # the dosing interval in renal or hepatic dysfunction: how it changes, not an amount
        ("71M with CKD stage 4 is being moved onto an ER/LA opioid. What does the CDC 2022 guideline advise about "
         "the dosing interval in renal or hepatic dysfunction?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "consider a longer dosing interval"),
        # how a product is kept: the temperature, not the carton list
        ("How should Humira pens be stored, and can a pen that froze be used after it thaws?", "labels/humira",
         "36ºF to 46ºF"),
        ("family flying abroad w/ adalimumab pens - fridge temp + how to carry them?", "labels/humira",
         "36°F to 46°F"),
        # "infxn", "RCTs" (spelt out: the label says "controlled … clinical trials"), "pt-yrs"
        ("serious infxn rate humira vs control in the RCTs, per 100 pt-yrs?", "labels/humira",
         "4.6 per 100 patient-years"),
        # a drug no source names beside a class the question names is asked about as its own class
        ("Pt on long-term diazepam now needs an opioid for pain. What does the CDC guideline say about "
         "co-prescribing?", "guidelines/cdc-2022-opioid-rr7103a1-H", "benzodiazepines concurrently"),
        # "opioids" said as an older label says it: "opiates"
        ("haldol + opioids - does it potentiate them?", "labels/no-title",
         "potentiating CNS depressants such as anesthetics, opiates"),
        # an age band asked as the dosing row says it
        ("What is the dose of Triaminic Night Time Cold and Cough for a child aged 6 to under 12 years?",
         "labels/cough", "2 teaspoonfuls (10 mL)"),
        # "yo" is years old, the label's "years of age"
        ("triaminic night time ok for a 3 yo? what about a 5 yo?", "labels/cough", "children under 4 years of age"),
        # "x5 days" is for five days; a drug the guideline names by its class ("opioids"), "took" is "taken"
        ("pt took hydrocodone around the clock x5 days after hip fx — taper or just stop?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "prescribe a brief taper"),
        # "newborn" and "neonatal" are the guideline's "infants"; "mom" its "mother"
        ("newborn of mom on methadone maintenance - how long to observe for neonatal withdrawal?",
         "guidelines/cdc-2022-opioid-rr7103a1-H", "5–7 days if exposed to methadone"),
        # "septic" is the statin label's "severe acute infection", "held" its "withheld"
        ("Should Lipitor be held in a patient who becomes acutely septic and hypotensive?", "labels/lipitor-orig",
         "temporarily withheld or discontinued"),
        # Benadryl is diphenhydramine: "together" is answered by the warning that names it, whatever the rash is
        ("A mother puts Benadryl cream on her 7-year-old's eczema every night and wants to give him Triaminic Night "
         "Time for his cold as well. Is that okay?", "labels/cough", "even one used on skin"),
        # of two drugs, the one asked to stop, and how quickly: the benzodiazepine's taper
        ("A patient on long-term oxycodone and alprazolam wants to stop the alprazolam right away after a "
         "near-overdose. How quickly should it be withdrawn?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "taper benzodiazepines gradually"),
        # how far a value fell: how much, not a distance
        ("In the Indian case series of Paget's disease of bone, how far did serum alkaline phosphatase fall after "
         "bisphosphonate treatment?", "pubmedqa:17089900", "decreased to 454"),
        # a caller's story around a labelled drug and a gated question (how it is kept, a missed dose): the label's
        # storage section and its missed-dose advice, however far the story's words are from them
        ("A patient using adalimumab pens calls before a ten-hour road trip to her sister's house. How should she "
         "keep the pens on the way?", "labels/humira", "cool carrier with an ice pack"),
        ("A caller says her husband forgot his atorvastatin last night and it is now about 14 hours later. Should "
         "he take the missed tablet now?", "labels/lipitor-orig", "more than 12 hours since you missed"),
        # "9yo" is a 9-year-old; how often and how many a day, said for every child the chart doses
        ("triaminic night time for a 9yo: how often can it be given + max doses/day?", "labels/cough",
         "may be given every 4 hours"),
        # an 82-year-old's caution is the Geriatric Use section's, not the JIA indication "4 years of age and older"
        ("humira in an 82yo w/ RA - any extra infection or cancer caution for elderly pts?", "labels/humira",
         "use caution when treating the elderly"),
        # "already" says nothing of the topic, nor does "a 70yo": the label's dose with an alpha-blocker, in words
        ("sildenafil for ED in a 70yo already on tamsulosin for BPH - starting dose?",
         "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "initiated at the lowest dose"),
        ("pt on lipitor 80 admitted w/ severe sepsis + low BP - hold the statin?", "labels/lipitor-orig",
         "temporarily withheld or discontinued"),
        # how much it raises the chance of dying: the boxed warning's figures, not the dose table
        ("On the consult service an 84-year-old with Alzheimer's dementia and evening agitation is on haloperidol, "
         "and the family asks how much it raises the chance of dying. What figures does the label give?",
         "labels/no-title", "about 4.5%"),
        ("After a man has taken sildenafil, how much time must pass before nitrates can be given safely?",
         "labels/64f8040f-938d-4236-8e22-c838c9b5f8da", "unknown when nitrates"),
        ("In ulcerative colitis, by what point must a patient show clinical remission for adalimumab to be "
         "continued?", "labels/humira", "clinical remission by eight weeks"),
        # a vaccine named as one of the live vaccines asked about is no unknown key word
        ("A mother took adalimumab throughout pregnancy and her baby is now due the rotavirus vaccine at 2 months. "
         "What does the label say about giving live vaccines to this infant?", "labels/humira",
         "live-attenuated vaccines in exposed infants is unknown"),
        ("Does haloperidol add to the sedative effect of opioid analgesics?", "labels/no-title",
         "potentiating CNS depressants"),
        # MMR is a live vaccine, as the label calls it; "genetics" is said by "gene"
        ("A 9-year-old with JIA on Humira is due for her MMR booster at school entry. Can she get it while on the "
         "drug?", "labels/humira", "Avoid the use of live vaccines"),
        ("scleroderma pt w/ primary biliary cirrhosis - Reynolds syndrome genetics?", "medquad:GARD_0005352_1",
         "mutations in the LBR gene"),
        # "how much did … rise" asks the size of a change, not a dose
        ("In the EPOCH-then-antiretroviral trial for adult T-cell leukemia-lymphoma, how much did viral RNA "
         "expression rise during chemotherapy?", "beir-scifact:601033", "median 190-fold"),
        # "dispense" is said by the guideline's "prescribe"
        ("post-op acute pain opioid rx - how much to dispense per CDC?", "guidelines/cdc-2022-opioid-rr7103a1-H",
         "no greater quantity than needed"),
        # "What does NIH say?" names who publishes the page, not what it is about
        ("A patient with suspected limited scleroderma asks whether the antibody blood test will settle the "
         "diagnosis. What does NIH say?", "medquad:GARD_0001661_4", "isn't a definitive test"),
        # the third trimester asks of pregnancy: the infants exposed in utero
        ("mom on adalimumab into 3rd trimester - how long can drug be detected in the baby's serum?", "labels/humira",
         "for at least 3 months from birth"),
    ],
)  # fmt: skip
def test_a_clinician_s_words_are_read_as_the_sources_say_them(
    ask: Callable[[str], Answer], question: str, doc_id: str, needle: str
) -> None:
    quote_of(ask(question), doc_id, needle)


def test_an_acronym_s_spelt_out_words_are_no_rarer_than_the_acronym(default_engine: Any) -> None:
    # the guideline writes "MME", so its rare "milligram" says nothing rarer than the question's "apnea": the quotes
    # must name the sleep apnea asked about, not only morphine milligram equivalents
    from bot.query import analyse

    query = analyse("Patient with sleep apnea on hydrocodone at 30 MME/day. Offer naloxone?", default_engine.index)
    assert query.specific[0] == "apnea"
    assert "milligram" in query.specific
