"""How documents become passages: the chunking settings, and the text the model reads for each.

Changing CHUNKING re-chunks every document on the next ingest (the index records the settings it
was built with). Measured on the eval sets (bench/README.md): ~200-token passages, no passage of a
lone title or heading, the title given to the model, sentence vectors pooled from the passage's
token states.
"""
from __future__ import annotations

import json
from typing import Protocol

from qa.chunking import Passage, TokenCounter, split_passages
from qa.documents import Document

CHUNKING = {"target_tokens": 198, "overlap_tokens": 48, "min_tokens": 32,
            "title_in_embedding": True, "sentence_vectors": "pooled", "word_states": "int4",
            "headings_lead": True, "tables": True, "card": 3}


class Tokenizer(Protocol):
    """What chunking needs of an embedder: its token counts and limits."""
    special_tokens: int
    max_tokens: int
    count_tokens: TokenCounter


class ChunkingPolicy:
    def __init__(self, settings: dict | None = None):
        self.settings = dict(CHUNKING if settings is None else settings)

    @property
    def fingerprint(self) -> str:
        """The settings as the index records them: another fingerprint means re-chunk."""
        return json.dumps(self.settings, sort_keys=True)

    def embedding_text(self, label: str, context: str, text: str) -> str:
        """What the model reads for a passage: its document's label (the title, and the card's issuer,
        kind and period, qa/cards.py) gives it the topic the text omits ("He died in 1893" is about
        Tchaikovsky only through the title; a cash flow statement's row is Apple's fiscal 2019 only
        through the card), then its context (a table's title and header rows), then the text."""
        if not self.settings["title_in_embedding"]:
            return text
        lead = [part for part in (label, context) if part and not text.startswith(part)]
        return ". ".join(lead + [text])

    def chunk(self, document: Document, tokenizer: Tokenizer) -> list[Passage]:
        """Passages of about target_tokens, each fitting the model with the label in front of it."""
        reserved = tokenizer.special_tokens
        if self.settings["title_in_embedding"]:
            reserved += tokenizer.count_tokens([document.label + ". "])[0]
        return split_passages(
            document,
            tokenizer.count_tokens,
            target_tokens=self.settings["target_tokens"],
            max_tokens=max(16, tokenizer.max_tokens - reserved),
            overlap_tokens=self.settings["overlap_tokens"],
            min_tokens=self.settings["min_tokens"],
            headings_lead=self.settings.get("headings_lead", False),  # absent from older indexes' records
            tables=self.settings.get("tables", False),
        )
