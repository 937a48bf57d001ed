"""A question, analysed once at the door: every stage of a search reads this, none splits the text again.

    words       the question's words, folded (lower case, accents dropped), as BM25 and the cards see them
    terms       its content words (stop words out; all of them when every one is a stop word)
    pages       the pages it names ("on page 17", "the cover page") and the words of those mentions
    search      its terms without the page mentions: what BM25 and the re-rank look for
    answering   those without its frame ("as mentioned in the report", "the name of"): what an
                answering passage should hold (the confidence's coverage)
    tokens      its tokens as written, with their folded words (key terms, names, phrases)
    follow_up   whether it leans on an earlier question ("When did he die?")
    asked       its content words that are not pronouns (what a conversation carries forward)
    years, kind, organisations
                what it names a document by: years ("FY2018"), a kind ("10-K"), a company
                plainly named ("Microsoft's") (qa/routing.py matches them against the cards)

Example: Query.parse("What did AMD spend on R&D on page 56 of its FY2015 10-K?") -> terms [amd,
spend, r, d, page, 56, fy2015, 10, k], pages [56], search [amd, spend, r, d, fy2015, 10, k], years
{2015: 1}, kind "annual report" (words {10, k, form}).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from qa.conversation import is_follow_up, topic_words
from qa.page_references import mention_words, named_pages
from qa.routing import NAMED_ORGANISATION, kind_named, years_named
from qa.terms import STOP_WORDS, without_frame, words

TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Query:
    text: str
    words: list[str]
    terms: list[str]
    pages: list[int]
    mentioned: frozenset[str]  # the words of its page mentions
    search: list[str]
    answering: list[str]
    tokens: list[str]
    token_spans: list[tuple[int, int]]  # where each token stands in the text
    token_words: list[list[str]]  # each token's folded words
    pieces: list[tuple[str, frozenset[str]]]  # the text cut at white space (kept), each piece's folded words
    follow_up: bool
    asked: list[str]
    years: Counter = field(default_factory=Counter)
    kind: str | None = None
    kind_words: frozenset[str] = frozenset()
    organisations: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Query:
        found = words(text)
        content = [w for w in found if w not in STOP_WORDS]
        terms = content or found
        mentioned = frozenset(mention_words(text))
        search = [term for term in terms if term not in mentioned] or terms
        matches = list(TOKEN.finditer(text))
        tokens = [match.group() for match in matches]
        kind, kind_words = kind_named(text)
        pieces = [(piece, frozenset(words(piece))) for piece in re.split(r"(\s+)", text)]
        return cls(text, found, terms, named_pages(text), mentioned, search, without_frame(search, text), tokens,
                   [match.span() for match in matches], [words(token) for token in tokens], pieces, is_follow_up(text), topic_words(found), years_named(text),
                   kind, frozenset(kind_words),
                   [(match.group(1) or match.group(2)).strip() for match in NAMED_ORGANISATION.finditer(text)])

    def without(self, folded: set[str] | frozenset[str]) -> str:
        """The question without the words (folded) that named its documents, and the possessive they
        leave: "What did AMD's 2015 10-K report?" less {amd, 2015, 10, k} -> "What did report?"."""
        if not folded:
            return self.text
        kept = [piece for piece, found in self.pieces if not (found and found - {"s"} <= folded)]
        return " ".join("".join(kept).split()) or self.text
