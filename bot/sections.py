"""What the parts of a source are called: SPL LOINC section codes with their names, and the names a
reference shows for a part ("Boxed Warning", "Dosage and Administration")."""

from __future__ import annotations

# LOINC codes of SPL sections (FDA "Section Headings (LOINC)"; openFDA's sections.csv), with the name a
# reader knows them by. Only codes that name what a section is about; 42229-5 (SPL unclassified) is not here.
LOINC_SECTIONS: dict[str, str] = {
    "34066-1": "Boxed Warning",
    "34067-9": "Indications and Usage",
    "34068-7": "Dosage and Administration",
    "43678-2": "Dosage Forms and Strengths",
    "34070-3": "Contraindications",
    "43685-7": "Warnings and Precautions",
    "34071-1": "Warnings",
    "42232-9": "Precautions",
    "34084-4": "Adverse Reactions",
    "34073-7": "Drug Interactions",
    "43684-0": "Use in Specific Populations",
    "42228-7": "Pregnancy",
    "34077-8": "Teratogenic Effects",
    "34080-2": "Nursing Mothers",
    "77290-5": "Lactation",
    "34081-0": "Pediatric Use",
    "34082-8": "Geriatric Use",
    "42227-9": "Drug Abuse and Dependence",
    "34088-5": "Overdosage",
    "34089-3": "Description",
    "34090-1": "Clinical Pharmacology",
    "43679-0": "Mechanism of Action",
    "43681-6": "Pharmacodynamics",
    "43682-4": "Pharmacokinetics",
    "43680-8": "Nonclinical Toxicology",
    "34083-6": "Carcinogenesis, Mutagenesis, Impairment of Fertility",
    "34092-7": "Clinical Studies",
    "34069-5": "How Supplied/Storage and Handling",
    "44425-7": "Storage and Handling",
    "34076-0": "Patient Counseling Information",
    "42230-3": "Patient Package Insert",
    "42231-1": "Medication Guide",
    "59845-8": "Instructions for Use",
    "38056-8": "Supplemental Patient Material",
    "34093-5": "References",
    "34072-9": "General Precautions",
    "34074-5": "Drug/Laboratory Test Interactions",
    "34075-2": "Laboratory Tests",
    "34079-4": "Labor and Delivery",
    "34085-1": "Controlled Substance",
    "34086-9": "Abuse",
    "34087-7": "Dependence",
    "60555-0": "Accessories",
    "66106-6": "Recent Major Changes",
    "43683-2": "Recent Major Changes",
    # OTC "Drug Facts"
    "55106-9": "Active Ingredient",
    "55105-1": "Purpose",
    "50565-1": "Keep Out of Reach of Children",
    "50566-9": "Stop Use",
    "50567-7": "When Using",
    "50568-5": "Ask Doctor or Pharmacist",
    "50569-3": "Ask Doctor",
    "50570-1": "Do Not Use",
    "53413-1": "Questions",
    "53414-9": "Pregnancy or Breast Feeding",
    "51727-6": "Inactive Ingredient",
    "60561-8": "Other Safety Information",
    "53412-3": "Pregnancy or Breast Feeding",
    # not indexed (see bot/sources/spl.py): product data, package label / carton panels
    "48780-1": "SPL Product Data Elements",
    "51945-4": "Package Label.Principal Display Panel",
}
# Other names labels print for these sections (Drug Facts headings, older labels), lower-case, "&" written
# "and". A section title names its section better than a label's own code, which is often generic (42229-5)
# or wrong; readers match titles against these and the names above (see bot/sources/spl.py).
SECTION_ALIASES: dict[str, str] = {
    "boxed warning": "34066-1",
    "uses": "34067-9",
    "indications": "34067-9",
    "directions": "34068-7",
    "dosage": "34068-7",
    "how supplied": "34069-5",
    "how supplied storage and handling": "34069-5",
    "information for patients": "34076-0",
    "patient information": "42230-3",
    "do not use": "50570-1",
    "ask a doctor": "50569-3",
    "ask a doctor or pharmacist": "50568-5",
    "when using this product": "50567-7",
    "stop use and ask a doctor": "50566-9",
    "stop use": "50566-9",
    "keep out of reach of children": "50565-1",
    "active ingredient": "55106-9",
    "active ingredients": "55106-9",
    "purpose": "55105-1",
    "purposes": "55105-1",
    "inactive ingredients": "51727-6",
    "inactive ingredient": "51727-6",
    "other information": "60561-8",
    "questions": "53413-1",
    "questions or comments": "53413-1",
    "if pregnant or breast feeding": "53414-9",
    "if pregnant or breast-feeding": "53414-9",
}
# Drug Facts (OTC) codes: a Drug Facts sub-section ("Do not use" under "Warnings") keeps its own code.
DRUG_FACTS_CODES = {
    "55106-9", "55105-1", "50565-1", "50566-9", "50567-7", "50568-5", "50569-3", "50570-1",
    "53413-1", "53414-9", "51727-6", "60561-8", "53412-3",
}  # fmt: skip
# Sections that are not label text a clinician would want quoted: carton and package panels, product data.
NOT_INDEXED = {"48780-1", "51945-4"}


def section_name(code: str | None) -> str | None:
    """The reader's name of a coded section, or None."""
    return LOINC_SECTIONS.get(code or "")
