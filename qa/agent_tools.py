"""What an AI agent may do with qa, as plain functions over the Service: search, list and read
documents, list collections. qa/mcp.py serves them over MCP; nothing here knows the protocol.

Every result is quoted from the documents (passages with citations), never written by a model.
`collection` and `filter` are handed to the service where it takes them (detected from Service.ask's
signature); a service without them refuses a collection other than "default", or any filter, rather
than ignoring it. `caller` (qa/auth.py) is who asks over HTTP: a collection their token does not
reach is refused, a document in one is not found. None (stdio: the local user) reaches everything.

Example: search(service, "How much did Trump demand?", top_k=3) -> SearchResult with up to 3
passages, each with its text, score and a citation (document id, title, source, pages, offsets).
"""
from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel, Field

from qa.auth import EVERYTHING, Caller
from qa.errors import BadRequest, DocumentNotFound
from qa.search import Answer, clean_question
from qa.service import Service

DEFAULT_COLLECTION = "default"
MAX_DOCUMENT_CHARS = 20_000  # the most text get_document returns at once (about 5,000 tokens)
DEFAULT_CONTEXT_CHARS = 500  # characters shown on each side of a requested range
MAX_CONTEXT_CHARS = 5_000


class Citation(BaseModel):
    document_id: str = Field(description="Pass to get_document to read around the passage.")
    title: str
    name: str = Field("", description="The document's name: its title with its issuer, kind and period (its card), "
                                      "e.g. \"Apple Inc. annual report (Form 10-K) · fiscal year ended September 28, 2019\".")
    context: str = Field("", description="What the passage stands under and does not repeat: its table's title "
                                         "and header rows (which column is which year). Empty outside tables.")
    source: str = Field(description="The file (or upload label) the document came from.")
    page: int | None = Field(description="First page of the passage (1-based; the slide of a presentation); "
                                         "null for documents without pages.")
    pages: list[int] | None = Field(description="[first, last] page the passage spans; null without pages.")
    page_labels: list[str | None] | None = Field(None, description="The numbers printed on the [first, last] "
                                                 "page, which can differ from the count (a cover, roman "
                                                 "numerals); cite these to a reader holding the document.")
    section: str | None = Field(description="The heading the passage falls under (Word documents).")
    start: int = Field(description="Character offset of the passage in the document's text.")
    end: int


class Passage(BaseModel):
    rank: int
    score: float
    text: str = Field(description="Quoted verbatim from the document.")
    citation: Citation
    highlight: list[int] = Field(description="[start, end] document offsets of the sentence that best answers.")


class SearchResult(BaseModel):
    question: str
    confident: bool = Field(description="False when the passages probably do not answer the question: treat "
                                        "them as the closest matches, and say the documents do not answer it.")
    confidence: float
    confidence_reasons: list[str]
    passages: list[Passage]
    filter_matched: int | None = Field(None, description="Documents the filter kept (null without a filter); "
                                                         "0 means nothing was searched: widen the filter.")
    message: str | None = Field(None, description="Why no passage came back, when the filter kept nothing.")


class DocumentInfo(BaseModel):
    id: str
    title: str
    name: str = Field("", description="Its name: title, issuer, kind and period (its card).")
    source: str
    type: str = Field(description="txt, md, html, pdf, docx or pptx.")
    passages: int
    page_count: int


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


class DocumentText(BaseModel):
    id: str
    title: str
    source: str
    type: str
    length: int = Field(description="Characters in the whole document.")
    start: int = Field(description="Offset of the returned text in the document.")
    end: int
    truncated: bool = Field(description="True when the document goes on past `end` (or starts before `start`): "
                                        "ask again with start/end to read further.")
    pages: list[int] = Field(description="The pages the returned text is on (empty for documents without pages).")
    text: str


class Collections(BaseModel):
    collections: list[str]


def search(service: Service, question: str, top_k: int = 5, collection: str | None = None,
           filter: dict[str, Any] | None = None, caller: Caller | None = None) -> SearchResult:
    """The passages that best answer `question`, best first."""
    (caller or EVERYTHING).require(collection or DEFAULT_COLLECTION)
    question = clean_question(question)
    limit = service.config["MAX_QUESTION_CHARS"]
    if len(question) > limit:
        raise BadRequest(f"The question is {len(question)} characters long; the limit is {limit}.")
    answer: Answer = service.ask(question, top_k, **scope(service, collection, filter))
    return SearchResult(
        question=answer.question, confident=answer.confident, confidence=answer.confidence,
        confidence_reasons=answer.confidence_reasons, filter_matched=answer.filter_matched, message=answer.message,
        passages=[Passage(rank=hit.rank, score=round(hit.score, 4), text=hit.text,
                          citation=Citation(document_id=hit.citation.document_id, title=hit.citation.title,
                                            name=(hit.citation.card or {}).get("name") or hit.citation.title,
                                            context=hit.citation.context,
                                            source=hit.citation.source, page=hit.citation.page,
                                            pages=hit.citation.pages, page_labels=hit.citation.page_labels,
                                            section=hit.citation.section,
                                            start=hit.citation.start, end=hit.citation.end),
                          highlight=[hit.highlight.start, hit.highlight.end])
                  for hit in answer.passages])


def scope(service: Service, collection: str | None, filter: dict[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments for service.ask: collection and filter, where the service takes them."""
    takes = inspect.signature(service.ask).parameters
    arguments: dict[str, Any] = {}
    if collection is not None:
        if "collection" in takes:
            arguments["collection"] = collection
        elif collection != DEFAULT_COLLECTION:
            raise BadRequest(f"collection: this server has only the collection {DEFAULT_COLLECTION!r} "
                             f"(list_collections names them); got {collection!r}.")
    if filter:
        if "filter" not in takes:
            raise BadRequest("filter: this server does not filter questions yet; ask without a filter.")
        arguments["filter"] = filter
    return arguments


def list_documents(service: Service, collection: str | None = None, caller: Caller | None = None) -> DocumentList:
    (caller or EVERYTHING).require(collection or DEFAULT_COLLECTION)
    if collection is not None:
        scope(service, collection, None)  # refuses an unknown collection the same way as search
    return DocumentList(documents=[
        DocumentInfo(id=d["id"], title=d["title"], name=d.get("name", ""), source=d["source"], type=d["type"],
                     passages=d["passages"],
                     page_count=d["page_count"]) for d in documents_of(service, collection)])


def documents_of(service: Service, collection: str | None) -> list[dict]:
    takes = inspect.signature(service.documents).parameters
    return service.documents(collection=collection) if collection is not None and "collection" in takes \
        else service.documents()


def get_document(service: Service, document_id: str, start: int | None = None, end: int | None = None,
                 context: int = DEFAULT_CONTEXT_CHARS, caller: Caller | None = None) -> DocumentText:
    """The document's text: all of it (up to MAX_DOCUMENT_CHARS), or text[start:end] widened by
    `context` characters on each side (a citation's start/end shows the passage in its setting)."""
    found = service.document(document_id)  # DocumentNotFound names the id
    if not (caller or EVERYTHING).reaches(found.get("collection", DEFAULT_COLLECTION)):
        raise DocumentNotFound(f"No document has the id {document_id!r}.")
    text = found["text"]
    if start is None and end is None:
        begin, stop = 0, len(text)
    else:
        start = 0 if start is None else start
        end = len(text) if end is None else end
        if not 0 <= start <= end <= len(text):
            raise BadRequest(f"start and end must satisfy 0 <= start <= end <= {len(text)} (the document's length); "
                             f"got start={start}, end={end}.")
        if not 0 <= context <= MAX_CONTEXT_CHARS:
            raise BadRequest(f"context must be between 0 and {MAX_CONTEXT_CHARS} characters; got {context}.")
        begin, stop = max(0, start - context), min(len(text), end + context)
    stop = min(stop, begin + MAX_DOCUMENT_CHARS)
    pages = [p["number"] for p in found["pages"] if p["start"] < stop and p["end"] > begin]
    return DocumentText(id=found["id"], title=found["title"], source=found["source"], type=found["type"],
                        length=len(text), start=begin, end=stop, truncated=begin > 0 or stop < len(text),
                        pages=pages, text=text[begin:stop])


def list_collections(service: Service, caller: Caller | None = None) -> Collections:
    names = service.collections() if hasattr(service, "collections") else [DEFAULT_COLLECTION]
    return Collections(collections=[name for name in names if (caller or EVERYTHING).reaches(name)])
