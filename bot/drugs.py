"""Drug names (bot/data/drugs.tsv): a brand a question names is read as its generic, and a question that names
a drug is answered by quotes about that drug. Used only to read questions, never as answer text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from .lexical import TOKEN_RE

DATA_FILE = "drugs.tsv"
MIN_NAME_CHARS = 4
# "a long-acting opioid like OxyContin": the drug is an example of what is asked about, not its topic
EXAMPLE_RE = re.compile(r"\b(?:like|such as|e\.g\.?|for example|for instance|including)\s*$", re.I)


class DrugListError(ValueError):
    """The drug list is damaged."""


@dataclass(frozen=True)
class DrugNames:
    generic_of: dict[str, str]  # name (generic or brand) -> its generic, both as words ("depo provera")
    brands: frozenset[str]  # lower-case brand names

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
    """The drug list from its text: `generic<TAB>Brand|Brand` a line, `#` comments."""
    generic_of: dict[str, str] = {}
    brands: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        generic = fields[0].strip()
        if len(fields) > 2 or not generic or generic != generic.lower():
            raise DrugListError(f"{DATA_FILE} line {number}: expected 'generic<TAB>Brand|Brand', got {line!r}")
        generic = _key(generic)
        generic_of.setdefault(generic, generic)
        for brand in fields[1].split("|") if len(fields) == 2 else []:
            name = _key(brand)
            if name and generic_of.get(name, generic) != generic:
                raise DrugListError(
                    f"{DATA_FILE} line {number}: {brand.strip()!r} is already a name of {generic_of[name]}"
                )
            if name:
                generic_of[name] = generic
                brands.add(name)
    return DrugNames(generic_of, frozenset(brands))


def _key(name: str) -> str:
    """A name as a question's words say it ("Depo-Provera" -> "depo provera")."""
    return " ".join(TOKEN_RE.findall(name.lower()))


@lru_cache(maxsize=1)
def drug_names() -> DrugNames:
    return parse(files("bot").joinpath("data", DATA_FILE).read_text(encoding="utf-8"))


def with_generics(question: str, known: Callable[[str], bool]) -> str:
    """The question with each brand name that no source holds written as its generic, where a source holds
    that ("haldol dose elderly" -> "haloperidol dose elderly" over a haloperidol label that never says Haldol)."""
    names = drug_names()
    out, last = [], 0
    for start, end, generic in names.named_in(question):
        written = question[start:end]
        if written.lower() in names.brands and not known(written) and known(generic):
            out += [question[last:start], generic]
            last = end
    return "".join(out) + question[last:] if out else question


def asked_about(question: str) -> tuple[str, ...]:
    """The generics of the drugs a question asks about: every drug it names except one given as an example
    ("Should I start a long-acting opioid like OxyContin …" asks about long-acting opioids)."""
    found = [g for start, _end, g in drug_names().named_in(question) if not EXAMPLE_RE.search(question[:start])]
    return tuple(dict.fromkeys(found))


def spelling(words: str) -> str:
    """A drug name with the INN and British spellings made one with the US ("clomifene", "cefalexin",
    "oestradiol", "sulphasalazine" -> the same as "clomiphene", "cephalexin", "estradiol", "sulfasalazine")."""
    out = words.lower().replace("ph", "f").replace("ae", "e")
    return re.sub(r"\boe", "e", out)


def names_any(text: str, drugs: tuple[str, ...]) -> bool:
    """Whether the text names one of `drugs` (generics as words), in any of their spellings."""
    low = " " + spelling(" ".join(TOKEN_RE.findall(text))) + " "
    return any(f" {spelling(d)} " in low for d in drugs)
