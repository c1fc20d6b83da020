"""openFDA drug label JSON (records of the drug/label endpoint).

A `.json` file holds an openFDA response (`{"meta": …, "results": [...]}`), a list of records or one record.
Each record is one `drug_label` document shaped like an SPL label's (see `spl`): title "BRAND (generic)"
from `openfda.brand_name` / `openfda.generic_name`, `meta` with set id, version, effective date, labeler,
products, generics and entities, and one part per section field (`FIELDS`: its heading, LOINC code and
the heading words its text may begin with). openFDA values begin with the section heading ("BOXED WARNING
WARNING: …", "1 INDICATIONS AND USAGE HUMIRA is …"): that heading and its number are stripped from the
part text, except for Drug Facts fields whose heading begins the sentence ("Do not use in a child …").
Each string of a field's list is one line.

Left out: `package_label_principal_display_panel`, `spl_product_data_elements`, the `*_table` HTML fields
and every field not in `FIELDS`. A record with no usable section is a problem of its own (the rest of the
file loads); a file that is not JSON or not of this shape is a `CorpusError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from ..documents import Document
from .base import Context, CorpusError, TextBuilder, make_document
from .spl import DAILYMED_URL, entities, iso_date, label_title

SUFFIXES = {".json"}

# field: (heading, LOINC code, extra heading words to strip (regex), strip the heading at all)
FIELDS: dict[str, tuple[str, str, str, bool]] = {
    "boxed_warning": ("Boxed Warning", "34066-1", "", True),
    "indications_and_usage": ("Indications and Usage", "34067-9", "uses", True),
    "dosage_and_administration": ("Dosage and Administration", "34068-7", "directions", True),
    "dosage_forms_and_strengths": ("Dosage Forms and Strengths", "43678-2", "", True),
    "contraindications": ("Contraindications", "34070-3", "", True),
    "warnings_and_cautions": ("Warnings and Precautions", "43685-7", "warnings and cautions", True),
    "warnings": ("Warnings", "34071-1", "warning", True),
    "precautions": ("Precautions", "42232-9", "", True),
    "general_precautions": ("General Precautions", "34072-9", "general", True),
    "adverse_reactions": ("Adverse Reactions", "34084-4", "", True),
    "drug_interactions": ("Drug Interactions", "34073-7", "", True),
    "use_in_specific_populations": ("Use in Specific Populations", "43684-0", "", True),
    "pregnancy": ("Pregnancy", "42228-7", "", True),
    "nursing_mothers": ("Nursing Mothers", "34080-2", "", True),
    "lactation": ("Lactation", "77290-5", "", True),
    "pediatric_use": ("Pediatric Use", "34081-0", "", True),
    "geriatric_use": ("Geriatric Use", "34082-8", "", True),
    "drug_abuse_and_dependence": ("Drug Abuse and Dependence", "42227-9", "", True),
    "overdosage": ("Overdosage", "34088-5", "", True),
    "description": ("Description", "34089-3", "", True),
    "clinical_pharmacology": ("Clinical Pharmacology", "34090-1", "", True),
    "mechanism_of_action": ("Mechanism of Action", "43679-0", "", True),
    "pharmacodynamics": ("Pharmacodynamics", "43681-6", "", True),
    "pharmacokinetics": ("Pharmacokinetics", "43682-4", "", True),
    "nonclinical_toxicology": ("Nonclinical Toxicology", "43680-8", "", True),
    "clinical_studies": ("Clinical Studies", "34092-7", "", True),
    "how_supplied": ("How Supplied/Storage and Handling", "34069-5", "how supplied", True),
    "storage_and_handling": ("Storage and Handling", "44425-7", "", True),
    "information_for_patients": ("Patient Counseling Information", "34076-0", "information for patients", True),
    "spl_patient_package_insert": ("Patient Package Insert", "42230-3", "patient information", True),
    "spl_medguide": ("Medication Guide", "42231-1", "", True),
    "active_ingredient": ("Active Ingredient", "55106-9", "active ingredients?", True),
    "purpose": ("Purpose", "55105-1", "purposes?", True),
    "do_not_use": ("Do Not Use", "50570-1", "", False),
    "ask_doctor": ("Ask a Doctor", "50569-3", "", False),
    "ask_doctor_or_pharmacist": ("Ask a Doctor or Pharmacist", "50568-5", "", False),
    "when_using": ("When Using", "50567-7", "", False),
    "stop_use": ("Stop Use", "50566-9", "", False),
    "keep_out_of_reach_of_children": ("Keep Out of Reach of Children", "50565-1", "", False),
    "pregnancy_or_breast_feeding": ("Pregnancy or Breast Feeding", "53414-9", "", False),
    "inactive_ingredient": ("Inactive Ingredients", "51727-6", "inactive ingredients?", True),
    "questions": ("Questions", "53413-1", r"questions(?: or comments)?\??", True),
    "other_safety_information": ("Other Information", "60561-8", "other information", True),
}


def _words(heading: str) -> str:
    words = heading.lower().replace("/", " ").replace(" and ", " ").split()
    return r"[\s/,:&-]*(?:and\s+)?".join(re.escape(w) for w in words)


_STRIP = {
    name: re.compile(
        r"^\s*(?:\d+(?:\.\d+)*\.?\s+)?(?:" + "|".join(filter(None, [_words(heading), extra])) + r")(?:\s*:)?\s+",
        re.I,
    )
    for name, (heading, _code, extra, strip) in FIELDS.items()
    if strip
}


def strip_heading(field: str, text: str) -> str:
    """The text less the section heading (and number) it begins with: "1 INDICATIONS AND USAGE X" -> "X"."""
    pattern = _STRIP.get(field)
    if pattern:
        rest = pattern.sub("", text, count=1)
        if rest.strip():
            return rest
    return text


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _first(block: dict[str, Any], key: str) -> str | None:
    values = _strings(block.get(key))
    return values[0].strip() if values and values[0].strip() else None


def _block(record: dict[str, Any]) -> dict[str, Any]:
    block = record.get("openfda")
    return block if isinstance(block, dict) else {}


def records_of(data: Any) -> list[Any]:
    """The label records of an openFDA response, a list of records or one record."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return list(data["results"])
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and ("openfda" in data or "set_id" in data or any(f in data for f in FIELDS)):
        return [data]
    raise CorpusError("JSON is not an openFDA drug label response, record list or record")


def from_record(record: dict[str, Any], doc_id: str, source: str) -> Document:
    block = _block(record)
    tb = TextBuilder()
    for name, (heading, code, _extra, _strip) in FIELDS.items():
        lines = [strip_heading(name, s) for s in _strings(record.get(name))]
        if any(ln.strip() for ln in lines):
            tb.heading(heading)
            tb.paragraphs(lines, path=(heading,), code=code)
    text, parts = tb.finish()
    if not parts:
        raise CorpusError("label record with no usable section")
    brands = list(dict.fromkeys(_strings(block.get("brand_name"))))
    generics = list(dict.fromkeys(_strings(block.get("generic_name"))))
    substances = list(dict.fromkeys(_strings(block.get("substance_name"))))
    set_id = _first(block, "spl_set_id") or _first(record, "set_id")
    date = iso_date(_first(record, "effective_time"))
    meta = {
        "origin": "FDA label",
        "set_id": set_id,
        "version": _first(record, "version"),
        "effective_date": date,
        "document_type": _first(block, "product_type"),
        "labeler": _first(block, "manufacturer_name"),
        "products": brands,
        "generics": generics,
        "entities": entities(brands, generics + substances),
    }
    generic = generics[0].lower() if generics else None
    return make_document(
        doc_id,
        text,
        title=label_title(brands[0] if brands else None, generic) or (generic or "").title() or None,
        kind="drug_label",
        url=DAILYMED_URL.format(set_id) if set_id else None,
        date=date,
        source=source,
        parts=parts,
        meta=meta,
    )


def load(ctx: Context) -> Iterable[Document]:
    data = ctx.path.read_bytes()
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise CorpusError(f"not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CorpusError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    records = records_of(parsed)
    if not records:
        raise CorpusError("openFDA JSON with no label records")
    docs: list[Document] = []
    for n, record in enumerate(records, 1):
        where = f"{ctx.path}:record {n}"
        if not isinstance(record, dict):
            ctx.problem(where, "label record is not a JSON object")
            continue
        key = _first(_block(record), "spl_set_id") or _first(record, "set_id") or _first(record, "id")
        doc_id = f"openfda/{key}" if key else f"{ctx.doc_id}/{n}"
        try:
            docs.append(from_record(record, doc_id, str(ctx.path)))
        except CorpusError as exc:
            ctx.problem(where, str(exc))
    return docs
