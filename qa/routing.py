"""The document stage: which documents a question names, by what their cards say (qa/cards.py).

A question about one report among many like it names the report by what it is, not by its words:
"What were AMD's capital expenditures in fiscal 2015, per its 2015 10-K?" names an issuer (AMD), a
period (2015) and a kind (an annual report), and every AMD filing holds the same line items, several
of them the 2015 figures too. So before ranking passages, the question's names are matched against
the cards of the documents it may see:

- issuers: a run of the question's words that is an issuer's name or alias ("amd", "coca cola",
  "pg e"), compared word by word and run together ("CocaCola" is "Coca-Cola");
- periods: the years it names ("2015", "FY2015", "fiscal 2015", "Q3 2023"); with several, the one
  named most, then the latest (a report covers the year before too);
- kinds: "annual report", "10-K", "quarterly report", "manual", "agreement", ...

The documents that match all it names are the route; search looks at their passages first
(qa/search/retrieve.py). Years alone route only in a collection of periodic documents (most cards have a
year): in a set of encyclopedia articles "in 2016" is about an event, not a document. A question
that names an issuer or a period no document holds gets `missing`, the reason the answer is doubted
("no document for 2019; closest: the annual report (Form 10-K) for 2018 and for 2020").

Example: cards AMD 2015..2018 and Apple 2018..2021; "What did AMD spend on R&D in 2016, per its
2016 10-K?" -> Route(documents=[AMD 2016], words={"amd", "2016", "10", "k"}).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from qa.cards import FORMS, KIND_PATTERNS, Card, LEGAL_FORM, core_name
from qa.terms import words

if TYPE_CHECKING:
    from qa.search.query import Query

MAX_NAME_WORDS = 6  # the longest issuer name matched, in words
PERIODIC_SHARE = 0.5  # years route alone when at least this share of the documents have a card year
YEAR = re.compile(r"(?<![\d.,$])((?:19|20)\d\d)(?!\d|,\d|%|\.\d)")  # not "2,019" nor "2019.5"
SHORT_FISCAL_YEAR = re.compile(r"\bFY\s?'?(\d\d)\b", re.I)  # "FY18"
FORM_NAMED = re.compile(r"\b(10-?K|10-?Q|20-?F|40-?F|8-?K|6-?K|DEF\s*14A)\b", re.I)
# A company the question names in a form that can only be a name: "Microsoft's", "Acme Corp", "MSFT".
NAMED_ORGANISATION = re.compile(r"\b([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*){0,3})['’]s\b|"
                                r"\b([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*){0,3}\s+(?:Inc|Corp|Corporation|Co|Ltd|LLC|plc))\b")


@dataclass
class Route:
    documents: list[int] = field(default_factory=list)  # catalog rows of the documents named, none: no route
    words: set[str] = field(default_factory=set)  # the question's words that named them (folded)
    named: list[str] = field(default_factory=list)  # what it named, for people: "AMD", "fiscal 2016", "annual report"
    missing: str | None = None  # why no document matches all the question names
    issuer_named: bool = False  # it named the issuer of one of the documents


@dataclass
class Entry:
    """What matching needs of one card."""
    card: Card
    kind: str | None  # the card's kind family: "annual report", "manual", ...


class Directory:
    """The cards of an index's documents, indexed for matching: `documents` is (id, collection, card)
    of each, and a row is its position there."""

    def __init__(self, documents: list[tuple[str, str, Card]]):
        cards = [card for _, _, card in documents]
        self.ids = [document_id for document_id, _, _ in documents]
        self.collections = np.array([collection for _, collection, _ in documents], dtype=object)
        self.entries = [Entry(card, kind_family(card)) for card in cards]
        self.years = np.array([card.year or 0 for card in cards], dtype=np.int64)
        self.kinds = np.array([entry.kind or "" for entry in self.entries], dtype=object)
        self.has_issuer = np.array([bool(card.issuer) for card in cards], dtype=bool)
        self.by_name: dict[tuple[str, ...], set[int]] = {}
        self.by_squashed: dict[str, set[int]] = {}
        for row, card in enumerate(cards):
            for name in issuer_names(card):
                key = tuple(words(name))
                if key:
                    self.by_name.setdefault(key, set()).add(row)
                    squashed = "".join(key)
                    if len(squashed) >= 4:
                        self.by_squashed.setdefault(squashed, set()).add(row)

    def route(self, query: Query, allowed: np.ndarray) -> Route:
        """The documents among `allowed` (bool by catalog row) that the question names."""
        route = Route()
        issuers, issuer_words = self.issuers_named(query.words, allowed)
        years, kind, kind_words = query.years, query.kind, query.kind_words
        named_issuer = bool(issuers.any())
        if not (named_issuer or years or kind) or not allowed.any():
            return route  # names no document: most questions, and every question of a collection without cards
        candidates = issuers if named_issuer else allowed
        with_years = candidates & (self.years > 0)
        periodic = named_issuer or with_years.sum() >= PERIODIC_SHARE * candidates.sum()
        if named_issuer:
            route.issuer_named = True
            route.words |= issuer_words
            route.named.append(" ".join(sorted(issuer_words)))
        if kind and (candidates & (self.kinds == kind)).any():
            candidates = candidates & (self.kinds == kind)
            route.words |= kind_words
            route.named.append(kind)
        if years and periodic and with_years.any():
            year = max(years, key=lambda y: (years[y], y))
            dated = candidates & (self.years == year)
            if dated.any():
                candidates = dated
                route.words |= {str(y) for y in years} | {f"fy{y}" for y in years} | {f"fy{y % 100:02d}" for y in years}
                route.named.append(f"{year}")
            else:
                route.missing = self.missing_period(year, candidates)
        if not route.named or candidates.sum() == allowed.sum():  # names nothing that tells documents apart
            return Route(missing=route.missing, issuer_named=route.issuer_named)
        route.documents = np.flatnonzero(candidates).tolist()
        return route

    def may_name(self, query: Query) -> bool:
        """Whether the question names a year, a kind, or any document's issuer (a cheap first look)."""
        if query.years or query.kind:
            return True
        if not self.by_name:
            return False
        folded = query.words
        return any(tuple(folded[start : start + size]) in self.by_name or "".join(folded[start : start + size])
                   in self.by_squashed for size in range(1, min(MAX_NAME_WORDS, len(folded)) + 1)
                   for start in range(len(folded) - size + 1))

    def issuers_named(self, folded: list[str], allowed: np.ndarray) -> tuple[np.ndarray, set[str]]:
        """The documents (bool by row, among `allowed`) whose issuer a run of the question's words
        names, and those words."""
        found = np.zeros(len(self.entries), dtype=bool)
        used: set[str] = set()
        if not self.by_name:
            return found, used
        for size in range(min(MAX_NAME_WORDS, len(folded)), 0, -1):
            for start in range(len(folded) - size + 1):
                run = tuple(folded[start : start + size])
                matched = self.by_name.get(run, set()) | self.by_squashed.get("".join(run), set())
                if matched:
                    rows = [row for row in matched if allowed[row]]
                    if rows:
                        found[rows] = True
                        used |= set(run)
        return found, used

    def missing_period(self, year: int, candidates: np.ndarray) -> str:
        """"no document for 2019; closest: the annual report (Form 10-K) for 2018 and for 2020"."""
        rows = np.flatnonzero(candidates).tolist()
        held = sorted({self.entries[row].card.year for row in rows if self.entries[row].card.year})
        below = [y for y in held if y < year][-1:]
        above = [y for y in held if y > year][:1]
        closest = below + above
        kinds = Counter(self.entries[row].card.kind.value for row in rows if self.entries[row].card.kind)
        what = f"the {kinds.most_common(1)[0][0]} " if kinds else "the documents "
        return (f"no document for {year}; closest: {what}{' and '.join(f'for {y}' for y in closest)}" if closest
                else f"no document for {year}")

    def organisations_missing(self, query: Query, route: Route, allowed: np.ndarray) -> str | None:
        """A company the question plainly names ("Microsoft's", "Acme Corp") that issued none of the
        documents, when it asks for a document by its period or kind ("... in fiscal 2018", "... 10-K"),
        the documents have issuers, and it named none of them. Without a period or kind, a possessive
        is as often a place or a person ("China's largest cloud provider")."""
        if route.issuer_named or not (query.years or query.kind) or not query.organisations:
            return None
        if not (allowed & self.has_issuer).any():
            return None
        for name in query.organisations:
            if not self.issuers_named(words(name), allowed)[0].any() and name.split()[0].casefold() not in ("the", "what"):
                # Listed only now: reading every allowed card's issuer costs ms at 10k documents.
                rows = np.flatnonzero(allowed).tolist()
                issuers = sorted({self.entries[row].card.issuer.value for row in rows if self.entries[row].card.issuer})
                listed = ", ".join(issuers[:5]) + (", ..." if len(issuers) > 5 else "")
                return f"no document from {name}; the documents are from {listed}"
        return None


    # -- filters (qa/catalog.py): the same matching, asked for by name ------------------------------

    def issued_by(self, name: str) -> np.ndarray:
        """Documents (bool by row) whose issuer the name names: "AMD", "Coca-Cola", "Apple Inc."."""
        key = tuple(words(LEGAL_FORM.sub("", name).strip(" ,") or name))
        rows = self.by_name.get(key, set()) | self.by_squashed.get("".join(key), set())
        return self.flags(rows)

    def covering(self, period: str) -> np.ndarray:
        """Documents whose card covers the period: "2019", "FY2019", "Q3 2023", a version "3.2"."""
        years = years_named(period)
        quarter = re.search(r"\bq([1-4])\b", period, re.I)
        version = re.fullmatch(r"\s*(?:v|version\s*)?(\d+(?:\.\d+)*[a-z]?)\s*", period, re.I)
        rows = []
        for row, entry in enumerate(self.entries):
            card = entry.card
            if years:
                held = card.year in years and (quarter is None or card.quarter == int(quarter.group(1)))
            else:
                held = version is not None and card.version == version.group(1)
            if held:
                rows.append(row)
        return self.flags(rows)

    def of_kind(self, kind: str) -> np.ndarray:
        """Documents whose card's kind the words name: "annual report", "10-K", "manual"."""
        wanted, _ = kind_named(kind)
        wanted = wanted or " ".join(kind.casefold().split())
        return self.flags([row for row, entry in enumerate(self.entries)
                           if entry.kind == wanted or (entry.card.kind and wanted in entry.card.kind.value.casefold())])

    def flags(self, rows) -> np.ndarray:
        found = np.zeros(len(self.entries), dtype=bool)
        found[list(rows)] = True
        return found


def issuer_names(card: Card) -> list[str]:
    """The names an issuer is matched by: its name without the legal form, and its aliases."""
    if card.issuer is None:
        return []
    names = [card.issuer.value, core_name(card.issuer.value), *card.aliases]
    return [LEGAL_FORM.sub("", name).strip(" ,") or name for name in names]


def kind_family(card: Card) -> str | None:
    """A card's kind without its form number: "annual report (Form 10-K)" -> "annual report"."""
    return card.kind.value.split(" (")[0] if card.kind else None


def years_named(question: str) -> Counter:
    """The years a question names, with how often ("FY18" is 2018)."""
    found = Counter(int(year) for year in YEAR.findall(question))
    found.update(2000 + int(short) for short in SHORT_FISCAL_YEAR.findall(question))
    return found


def kind_named(question: str) -> tuple[str | None, set[str]]:
    """The kind of document a question names, and its words: "its 2015 10-K" -> annual report."""
    form = FORM_NAMED.search(question)
    if form:
        number = re.sub(r"(\d)-?([A-Z])", r"\1-\2", " ".join(form.group(1).upper().split()))
        kind = FORMS.get(number) or FORMS.get(number.replace("DEF14A", "DEF 14A"))
        return kind, set(words(form.group(0))) | {"form"}
    for kind, pattern in KIND_PATTERNS:
        match = pattern.search(question)
        if match:
            return kind, set(words(match.group(0)))
    return None, set()
