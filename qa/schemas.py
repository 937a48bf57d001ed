"""The API's bodies as pydantic models: requests are validated with them, responses are checked
against them in the tests, and the OpenAPI document is generated from them (qa/openapi.py).

Response models forbid extra fields, so a field added to a response without its model fails the
tests instead of going undocumented."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from flask import current_app
from pydantic import (BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, field_validator,
                      model_validator)

from qa.errors import BadRequest, EmptyQuestion
from qa.cards import MAX_FIELD_CHARS as MAX_CARD_CHARS
from qa.catalog import Scope
from qa.metadata import DEFAULT_COLLECTION, MAX_TAGS, check_collection, clean_tags
from qa.readers import FORMATS, supported

FormatType = Literal[tuple(dict.fromkeys(f.type for f in FORMATS))]  # txt, md, html, pdf, docx, pptx
Collection = Annotated[StrictStr, Field(description="A collection of documents (see GET /api/collections); "
                                                    "1-64 lower-case letters, digits, '-' or '_'.")]

# -- requests ---------------------------------------------------------------------------------------

# JSON may escape half of a UTF-16 pair ("\ud800"); Python keeps it as a lone surrogate, which
# cannot be encoded as UTF-8 and so cannot reach the tokenizer, SQLite or a JSON answer.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Request(BaseModel):
    """A request body: every string field must be text that UTF-8 can encode."""
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def encodable(cls, value, info: ValidationInfo):
        if isinstance(value, str) and LONE_SURROGATE.search(value):
            raise BadRequest(f"{info.field_name}: holds a lone surrogate (an escape such as \\ud800 without its "
                             "pair), which is not text; send valid Unicode.")
        return value


def day(value, field: str) -> object:
    """A date field takes "YYYY-MM-DD" text only (pydantic would also take a number of seconds)."""
    if value is not None and not isinstance(value, str | dt.date):
        raise BadRequest(f"{field}: send a date as \"YYYY-MM-DD\"; got {value!r}.")
    return value


class Filter(Request):
    """Which documents a question may see: every field given must hold (they combine with "and").
    The search runs inside the filter, so a narrow filter still returns up to top_k passages."""
    model_config = ConfigDict(extra="forbid")

    source: Annotated[StrictStr, Field(min_length=1, max_length=500)] | None = Field(
        None, description="A glob over the document's source, e.g. \"reports/*.pdf\" (* ? [abc]; case-sensitive).")
    document_ids: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
                            Field(min_length=1, max_length=1000)] | None = Field(None, description="These documents only.")
    tags: Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_TAGS)] | None = Field(
        None, description="Documents with any (or all, see tags_match) of these tags.")
    tags_match: Literal["any", "all"] = Field("any", description="any: at least one of the tags; all: every one.")
    type: Annotated[list[FormatType], Field(min_length=1)] | None = Field(
        None, description="Documents of these formats (a single type is taken too).")
    after: dt.date | None = Field(None, description="Documents dated on or after this day (YYYY-MM-DD); "
                                                     "documents without a date are left out.")
    before: dt.date | None = Field(None, description="Documents dated on or before this day (YYYY-MM-DD).")
    issuer: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CARD_CHARS)] | None = Field(
        None, description="Documents whose card names this issuer (its name or an alias, whole words, any case), "
                          "e.g. \"AMD\" or \"Coca-Cola\".")
    period: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CARD_CHARS)] | None = Field(
        None, description="Documents whose card covers this period: a year (\"2019\", \"FY2019\"), a quarter "
                          "(\"Q3 2023\") or a version (\"3.2\").")
    kind: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CARD_CHARS)] | None = Field(
        None, description="Documents of this kind, by their card: \"annual report\", \"10-K\", \"manual\", "
                          "\"contract\", \"paper\", ...")

    @field_validator("tags")
    @classmethod
    def tags_are_clean(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags, "filter.tags")

    @field_validator("type", mode="before")
    @classmethod
    def one_type_is_a_list(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("after", "before", mode="before")
    @classmethod
    def dates_are_text(cls, value, info: ValidationInfo):
        return day(value, f"filter.{info.field_name}")

    @model_validator(mode="after")
    def after_before_before(self) -> Filter:
        if self.after and self.before and self.after > self.before:
            raise BadRequest(f"filter.after: {self.after} is later than filter.before ({self.before}); "
                             "no document could match.")
        return self

    @property
    def empty(self) -> bool:
        return not self.model_fields_set - {"tags_match"}

    def scope(self, collection: str) -> Scope:
        """The search's own type for where a question looks (search knows nothing of HTTP)."""
        listed = lambda values: tuple(values) if values is not None else None  # noqa: E731
        return Scope(collection, self.source, listed(self.document_ids), listed(self.tags), self.tags_match,
                     listed(self.type), self.after, self.before, self.issuer, self.period, self.kind)


class AskRequest(Request):
    """A question, optionally continuing a conversation, in one collection, optionally filtered."""

    question: StrictStr
    top_k: Annotated[StrictInt, Field(ge=1, le=50)] = 5
    conversation_id: StrictStr | None = None
    collection: Collection = DEFAULT_COLLECTION
    filter: Filter | None = None

    @field_validator("collection")
    @classmethod
    def collection_is_a_name(cls, name: str) -> str:
        return check_collection(name)

    @field_validator("question")
    @classmethod
    def question_has_words(cls, question: str) -> str:
        limit = current_app.config["MAX_QUESTION_CHARS"]
        if not question.strip():
            raise EmptyQuestion("The question is empty.")
        if len(question) > limit:
            raise BadRequest(f"The question is {len(question)} characters long; the limit is {limit}.")
        return question.strip()


class AddDocumentRequest(Request):
    """A document sent as JSON. `source` names it in citations (a label, never a file path);
    a document with the same source is replaced. The title defaults to the text's first line."""

    text: Annotated[StrictStr, Field(min_length=1)]
    source: Annotated[StrictStr, Field(min_length=1, max_length=500)]
    title: Annotated[StrictStr, Field(max_length=500)] | None = None
    tags: Annotated[list[StrictStr], Field(max_length=MAX_TAGS)] | None = Field(
        None, description="Tags to filter by (lower-cased); omitted: a replaced document keeps its tags.")
    date: dt.date | None = Field(None, description="The document's date (YYYY-MM-DD), for after/before filters.")
    collection: Collection = DEFAULT_COLLECTION

    @field_validator("tags")
    @classmethod
    def tags_are_clean(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags)

    @field_validator("date", mode="before")
    @classmethod
    def date_is_text(cls, value):
        return day(value, "date")

    @field_validator("collection")
    @classmethod
    def collection_is_a_name(cls, name: str) -> str:
        return check_collection(name)


CardText = Annotated[StrictStr, Field(min_length=1, max_length=MAX_CARD_CHARS)]


class CardEdit(Request):
    """Fields of a document's card to set (each given replaces the one read; null clears it). The
    document's passages are indexed again under the new card."""
    model_config = ConfigDict(extra="forbid")

    issuer: CardText | None = None
    aliases: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=100)]], Field(max_length=10)] | None = None
    kind: CardText | None = None
    period: CardText | None = None
    year: Annotated[StrictInt, Field(ge=1000, le=9999)] | None = None
    quarter: Annotated[StrictInt, Field(ge=1, le=4)] | None = None
    version: Annotated[StrictStr, Field(min_length=1, max_length=50)] | None = None
    title: CardText | None = None

    @model_validator(mode="after")
    def something_to_set(self) -> CardEdit:
        if not self.model_fields_set:
            raise BadRequest("card: name the fields to set (issuer, aliases, kind, period, year, quarter, version, title).")
        return self


class EditDocumentRequest(Request):
    """New metadata for a document: `tags` replaces its tags, `date` its date (null clears it), `card`
    the fields of its card it names."""
    model_config = ConfigDict(extra="forbid")

    tags: Annotated[list[StrictStr], Field(max_length=MAX_TAGS)] | None = None
    date: dt.date | None = None
    card: CardEdit | None = None

    @field_validator("tags")
    @classmethod
    def tags_are_clean(cls, tags: list[str] | None) -> list[str]:
        if tags is None:
            raise BadRequest("tags: send a list of strings ([] removes every tag), or leave tags out.")
        return clean_tags(tags)

    @field_validator("date", mode="before")
    @classmethod
    def date_is_text(cls, value):
        return day(value, "date")

    @model_validator(mode="after")
    def something_to_change(self) -> EditDocumentRequest:
        if not self.model_fields_set:
            raise BadRequest("Send \"tags\", \"date\" and/or \"card\" to change; the body changed nothing.")
        return self


# A file upload: multipart/form-data with the document in the field "file".
UPLOAD_FORM_SCHEMA = {
    "type": "object",
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": f"A {supported()} file; its name becomes the source."},
                   "tags": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TAGS,
                            "description": "Tags (the field repeated, or one field with tags separated by commas)."},
                   "date": {"type": "string", "format": "date",
                            "description": "The document's date (YYYY-MM-DD); it wins over a date in the file's metadata."},
                   "collection": {"type": "string", "description": "The collection to add it to (default: default)."}},
    "required": ["file"],
}

# -- responses --------------------------------------------------------------------------------------


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(Response):
    start: int
    end: int


class Box(Response):
    page: int
    x0: float = Field(description="PDF points from the page's left edge.")
    y0: float = Field(description="PDF points from the page's top edge (y grows downward).")
    x1: float
    y1: float


class CitationCard(Response):
    name: str = Field(description="The document's name: its title, with its issuer, kind and period where the title "
                                  "does not say them.")
    issuer: str | None
    kind: str | None
    period: str | None
    year: int | None


class Citation(Response):
    document_id: str
    title: str
    source: str
    passage: int = Field(description="The passage's position in its document.")
    start: int = Field(description="Character offset of the passage in the document's text.")
    end: int
    page: int | None = Field(description="The first page the passage is on (1-based physical page; the slide "
                                         "of a presentation); null for documents without pages.")
    pages: list[int] | None = Field(description="[first, last] page the passage spans; null without pages.")
    section: str | None = Field(description="The heading the passage falls under (Word documents).")
    document_hash: str = Field(description="SHA-256 of the document's text when quoted: a changed document "
                                           "has a new hash under the same id.")
    boxes: list[Box] = Field(description="The passage's rectangles on its pages, one per line (PDF only), "
                                         "to draw over GET /api/documents/{id}/pages/{n}.png.")
    page_labels: list[str | None] | None = Field(None, description="The numbers printed on the [first, last] page "
                                                 "(the PDF's page labels, else its running page numbers), "
                                                 "which a reader holding the document sees; null when unknown.")
    card: CitationCard | None = Field(None, description="Whose, what and when the quoted document is (its card).")
    context: str = Field("", description="What the passage stands under and does not repeat: its table's title "
                                         "and header rows (empty outside tables).")


class Passage(Response):
    rank: int
    score: float
    text: str
    citation: Citation
    highlight: Span = Field(description="Document offsets of the sentence that best answers the question.")


class AskResponse(Response):
    question: str
    conversation_id: str = Field(description="32 hexadecimal digits; send it back to ask a follow-up.")
    confident: bool = Field(description="False when the passages probably do not answer the question: show "
                                        "them as the closest matches, not as an answer.")
    confidence: float = Field(0.0, ge=0.0, le=1.0, description="How likely the top passage answers the question; "
                                                          "confident is confidence >= 0.5.")
    confidence_reasons: list[str] = Field(default_factory=list, description="Why the answer is doubted, strongest first (empty when "
                                                      "confident), e.g. \"names not found in the documents: Volta\".")
    passages: list[Passage]
    took_ms: float
    collection: str = Field(DEFAULT_COLLECTION, description="The collection searched.")
    filter_matched: int | None = Field(None, description="Documents the filter kept (null without a filter); "
                                                         "0: nothing was searched, see message.")
    message: str | None = Field(None, description="Why no passage came back, when a filter matched nothing.")


class Turn(AskResponse):
    asked_at: float = Field(description="Unix time.")


class Conversation(Response):
    id: str
    turns: list[Turn]


class UnreadPage(Response):
    number: int
    problem: str = Field(description="Why the page gave no text, and what would read it.")


class Page(Response):
    number: int = Field(description="1-based physical page (the slide of a presentation).")
    start: int = Field(description="The page's text is text[start:end].")
    end: int
    width: float = Field(description="In PDF points; 0 when the format has no page geometry.")
    height: float
    read_by: str = Field(description="text (its text layer), ocr, or none.")
    problem: str | None
    label: str | None = Field(None, description="The page's own number (the PDF's page label, or the number "
                                                "printed in its header or footer), when it has one.")


class Section(Response):
    start: int = Field(description="Offset of the heading in the text.")
    title: str


class CardFact(Response):
    value: str
    found_in: str = Field(description="Where it was read: cover page, running header, text, metadata, title, "
                                      "file name, or edited (set through PATCH).")


class DocumentCard(Response):
    issuer: CardFact | None = Field(None, description="Who issued it: a company, an author, an organisation.")
    aliases: list[str] = Field(default_factory=list, description="Other names of the issuer (\"AMD\").")
    kind: CardFact | None = Field(None, description="What it is: annual report (Form 10-K), manual, contract, paper, ...")
    period: CardFact | None = Field(None, description="The period or version it covers, as printed.")
    year: int | None = Field(None, description="The (fiscal) year that period ends in.")
    quarter: int | None = None
    version: str | None = None
    title: CardFact | None = None


class DocumentSummary(Response):
    id: str
    title: str
    source: str
    passages: int
    hash: str = Field(description="SHA-256 of the document's cleaned text.")
    type: str = Field(description="The format it was read from: txt, md, html, pdf, docx or pptx.")
    page_count: int = Field(description="Pages (slides) it has; 0 for formats without pages.")
    unread_pages: list[UnreadPage] = Field(description="Pages that gave no text (e.g. scanned, without OCR).")
    collection: str
    tags: list[str]
    date: str | None = Field(description="YYYY-MM-DD: from the file's metadata (HTML, PDF), the upload, or the "
                                         "file's modification time; null when unknown.")
    name: str = Field("", description="The document's name (its card's): title, issuer, kind and period.")
    card: DocumentCard = Field(default_factory=DocumentCard, description="Who issued it, what it is, the period it "
                               "covers, each with where it was read (qa/cards.py); questions naming them find it first.")


class DocumentDetail(DocumentSummary):
    text: str = Field(description="The cleaned text that citation offsets index into.")
    pages: list[Page]
    sections: list[Section]


class DocumentList(Response):
    documents: list[DocumentSummary]


class CollectionInfo(Response):
    name: str
    documents: int
    writable: bool = Field(description="Whether the caller's token may add, edit and remove its documents.")


class CollectionList(Response):
    collections: list[CollectionInfo]


class Health(Response):
    ok: bool
    documents: int | None = Field(None, description="Absent unless the caller may read every collection (reads "
                                                    "open, or a token reaching all collections).")
    passages: int | None = Field(None, description="Passages in SQLite, the source of truth (absent as documents).")
    vectors: int | None = Field(None, description="Vectors in the FAISS index in memory (absent as documents).")
    consistent: bool = Field(description="True when every passage has its vector (passages == vectors).")
    model: str


class ErrorBody(Response):
    code: str = Field(description="Stable, machine-readable, e.g. document_not_found.")
    message: str = Field(description="For people: what went wrong and how to fix it.")


class ErrorResponse(Response):
    error: ErrorBody
