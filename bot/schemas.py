"""Pydantic models at the HTTP edge: the request and the JSON answer contract."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., description="The question; 1 to 1,000 characters (BOT_MAX_QUESTION_CHARS).",
                          examples=["What does the boxed warning for Humira say?"])  # fmt: skip
    kinds: list[str] | None = Field(None, description="Only quote sources of these kinds.",
                                    examples=[["guideline", "research"]])  # fmt: skip


class BulletModel(BaseModel):
    quote: str = Field(..., description="Exact text of the source: document.text[start:end].")
    citations: list[int]
    doc_id: str
    start: int
    end: int
    section: str | None = Field(
        None,
        description="Where in its source the quote comes from (the section path or page), e.g. "
        "`Boxed Warning › WARNING: SERIOUS INFECTIONS AND MALIGNANCY`, `CONCLUSIONS`, `Recommendations, p. 16`; "
        "null when the source has no known structure.",
    )


class SectionModel(BaseModel):
    kind: str
    heading: str
    bullets: list[BulletModel]


class ReferenceModel(BaseModel):
    n: int
    doc_id: str
    title: str
    kind: str
    url: str | None
    source: str | None = Field(
        None, description="What the document is: `FDA label`, `PubMed`, `PMC`, `PDF`…; null for plain text."
    )
    date: str | None = Field(
        None, description="The document's date as its source gives it: `2013-09-30` (label), `2018` (year)."
    )
    locator: str | None = Field(
        None,
        description="The parts of the document the answer quotes: `Boxed Warning`, "
        "`Dosage and Administration; Boxed Warning`, `CONCLUSIONS`, `pp. 16, 17`.",
    )


class AnswerModel(BaseModel):
    # `Infinity`/`NaN` (which Python's JSON parser reads) would be stored and exported as invalid JSON
    model_config = ConfigDict(allow_inf_nan=False)

    question: str
    answered: bool
    sections: list[SectionModel]
    references: list[ReferenceModel]
    took_ms: float
    message: str | None = Field(None, description="Why the bot declined, when answered is false.")


class ErrorModel(BaseModel):
    detail: str


class HealthModel(BaseModel):
    status: str = Field(..., description="`ok` when an index is loaded, else `unavailable`.")
    ready: bool
    version: str
    documents: int | None = None
    chunks: int | None = None
    model: str | None = None
    built_at: str | None = None
    kinds: dict[str, int] = Field(default_factory=dict)
    build: str | None = None
    error: str | None = None
