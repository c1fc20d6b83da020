"""Drug names (bot/data/drugs.tsv): a brand a question names is read as its generic, and a question that names
a drug is answered by quotes about that drug. Used only to read questions, never as answer text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

from .lexical import TOKEN_RE, tokenize

DATA_FILE = "drugs.tsv"
MIN_NAME_CHARS = 4
MIN_CLIPPED_CHARS = 5  # "atorva", "clarithro": the start of one generic's name, as clinicians type it
# "a long-acting opioid like OxyContin": the drug is an example of what is asked about, not its topic
EXAMPLE_RE = re.compile(r"\b(?:like|such as|e\.g\.?|for example|for instance|including)\s*$", re.I)
# "not on methotrexate; we're starting Humira": a drug the patient does not take is not asked about with it
NEGATED_RE = re.compile(r"\b(?:not|never|no longer)\s+(?:on|taking|using|given|receiving)\s*$|\bwithout\s*$", re.I)


class DrugListError(ValueError):
    """The drug list is damaged."""


@dataclass(frozen=True)
class DrugNames:
    generic_of: dict[str, str]  # name (generic or brand) -> its generic, both as words ("depo provera")
    brands: frozenset[str]  # lower-case brand names
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # generic -> its classes ("nitrates")

    def named_in(self, question: str) -> list[tuple[int, int, str]]:
        """(start, end, generic) of each drug name the question holds as whole words, longest names first."""
        words = list(TOKEN_RE.finditer(question))
        low = [w.group(0).lower() for w in words]
        out: list[tuple[int, int, str]] = []
        taken: set[int] = set()
        for size in (3, 2, 1):
            for i in range(len(words) - size + 1):
                span = range(i, i + size)
                name = " ".join(low[i : i + size])
                if len(name) >= MIN_NAME_CHARS and name in self.generic_of and not taken & set(span):
                    taken |= set(span)
                    out.append((words[i].start(), words[i + size - 1].end(), self.generic_of[name]))
        return sorted(out)


def parse(text: str) -> DrugNames:
    """The drug list from its text: `generic<TAB>Brand|Brand<TAB>class|class` a line, `#` comments."""
    generic_of: dict[str, str] = {}
    brands: set[str] = set()
    classes: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t") + ["", ""]
        generic = fields[0].strip()
        if len(fields) > 5 or not generic or generic != generic.lower():
            raise DrugListError(
                f"{DATA_FILE} line {number}: expected 'generic<TAB>Brand|Brand<TAB>class|class', got {line!r}"
            )
        generic = _key(generic)
        generic_of.setdefault(generic, generic)
        for brand in fields[1].split("|"):
            name = _key(brand)
            if name and generic_of.get(name, generic) != generic:
                raise DrugListError(
                    f"{DATA_FILE} line {number}: {brand.strip()!r} is already a name of {generic_of[name]}"
                )
            if name:
                generic_of[name] = generic
                brands.add(name)
        found = tuple(_key(c) for c in fields[2].split("|") if _key(c))
        if found:
            classes[generic] = classes.get(generic, ()) + found
    return DrugNames(generic_of, frozenset(brands), classes)


def _key(name: str) -> str:
    """A name as a question's words say it ("Depo-Provera" -> "depo provera")."""
    return " ".join(TOKEN_RE.findall(name.lower()))


@lru_cache(maxsize=1)
def drug_names() -> DrugNames:
    return parse(files("bot").joinpath("data", DATA_FILE).read_text(encoding="utf-8"))


def with_generics(
    question: str, known: Callable[[str], bool], *, classes: bool = True, general: Callable[[str], bool] | None = None
) -> str:
    """The question with each drug name that no source holds written as one the sources do hold: a brand as
    its generic ("haldol dose elderly" -> "haloperidol dose elderly" over a haloperidol label that never says
    Haldol), else a drug as its class ("on isosorbide mononitrate … sildenafil" -> "on nitrates … sildenafil"
    over a label that contraindicates "organic nitrates"; not with `classes` false: a class has no dose; nor
    for a drug of a class that is `general`, one most sources speak of: in an opioid guideline "oliceridine"
    read as "opioids" would be answered by any passage)."""
    names = drug_names()
    out, last = [], 0
    for start, end, generic in names.named_in(question):
        written = question[start:end]
        if known(written):
            continue
        kinds = names.classes.get(generic, ()) if classes else ()
        if general is not None and any(general(k) for k in kinds):
            kinds = ()
        said = [n for n in (generic, *kinds) if n != written.lower() and known(n)]
        if said:
            out += [question[last:start], said[0]]
            last = end
    return "".join(out) + question[last:] if out else question


def with_clipped_names(question: str, ordinary: Callable[[str], bool]) -> str:
    """The question with each drug name typed short written whole: a word of at least MIN_CLIPPED_CHARS letters
    that is no `ordinary` word (an everyday word, a word some source holds) and begins exactly one one-word
    generic ("lipitor + clarithro — max atorva dose?" -> "… clarithromycin … atorvastatin …")."""
    names = drug_names().generic_of
    out, last = [], 0
    for m in TOKEN_RE.finditer(question):
        word = m.group(0).lower()
        if len(word) < MIN_CLIPPED_CHARS or not word.isalpha() or word in names or ordinary(word):
            continue
        whole = [g for g in _one_word_generics() if g.startswith(word)]
        if len(whole) == 1:
            out += [question[last : m.start()], whole[0]]
            last = m.end()
    return "".join(out) + question[last:] if out else question


@lru_cache(maxsize=1)
def _one_word_generics() -> tuple[str, ...]:
    return tuple(sorted({g for g in drug_names().generic_of.values() if " " not in g}))


def asked_about(question: str) -> tuple[str, ...]:
    """The generics of the drugs a question asks about: every drug it names except one given as an example
    ("Should I start a long-acting opioid like OxyContin …" asks about long-acting opioids)."""
    found = [
        g
        for start, _end, g in drug_names().named_in(question)
        if not EXAMPLE_RE.search(question[:start]) and not NEGATED_RE.search(question[:start])
    ]
    return tuple(dict.fromkeys(found))


def spelling(words: str) -> str:
    """A drug name with the INN and British spellings made one with the US ("clomifene", "cefalexin",
    "oestradiol", "sulphasalazine" -> the same as "clomiphene", "cephalexin", "estradiol", "sulfasalazine")."""
    out = words.lower().replace("ph", "f").replace("ae", "e")
    return re.sub(r"\boe", "e", out)


def names_any(text: str, drugs: tuple[str, ...], *, classes: bool = True) -> bool:
    """Whether the text names one of `drugs` (generics as words) in any of their spellings, or one of their
    classes ("use of macrolides" names erythromycin's class; not with `classes` false: a class has no dose)."""
    words = TOKEN_RE.findall(text)
    low = " " + spelling(" ".join(words)) + " "
    if any(f" {spelling(d)} " in low for d in drugs):
        return True
    if not classes:
        return False
    kinds = {c for d in drugs for c in drug_names().classes.get(d, ())}
    if not kinds:
        return False
    stems = " " + " ".join(tokenize(" ".join(words))) + " "
    said = (" ".join(tokenize(c)) for c in kinds)
    return any(f" {c} " in stems for c in said if c)


def same_drugs(names: tuple[str, ...]) -> frozenset[str]:
    """The distinct drugs among `names` (brands and generics: "viagra" and "sildenafil" are one)."""
    generic_of = drug_names().generic_of
    return frozenset(generic_of.get(_key(n), n) for n in names)
