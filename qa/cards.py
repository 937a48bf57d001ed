"""A document's card: who issued it, what kind of document it is, the period or version it covers,
and a real title, each with where it was read.

Collections people keep are many documents of one form (annual reports of several companies over
several years, a product's manuals by version), and a question names the document by what it is
("Acme's capital expenditure in fiscal 2019") while the passage that answers it (a row of a cash
flow statement) never says whose or when. The card says it for every passage (qa/policy.py puts it
in front of each passage's indexed text) and lets search pick the document first (qa/routing.py).

Read from the document itself, first what is surest:

- the cover (the first pages): a form's caption ("(Exact name of registrant as specified in its
  charter)" under the name), the form ("FORM 10-K"), the kind ("Annual Report", "User Guide",
  "Agreement"), the period ("For the fiscal year ended December 26, 2015", "Q3 2023", "Version 3.2");
- running headers and footers ("Apple Inc. | 2019 Form 10-K | 30"), which the PDF reader records;
- the organisation named most often in the whole text ("Advanced Micro Devices, Inc.", 110 times),
  with the short name it defines for itself ('("AMD")') or its initials where the text uses them;
- the file's metadata (author, subject, site name);
- the file name, as a last resort ("AMD_2015_10K.pdf": a year and a form).

No rule is written for one company: the patterns are those of covers, captions and defined terms.

Example: a 10-K whose cover reads "FORM 10-K ... For the fiscal year ended December 26, 2015 ...
ADVANCED MICRO DEVICES, INC. (Exact name of registrant as specified in its charter)" ->
Card(issuer="Advanced Micro Devices, Inc." (cover page), aliases ["AMD", "Advanced Micro Devices"],
kind="annual report (Form 10-K)" (cover page), period="fiscal year ended December 26, 2015", year 2015).
"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.documents import Document

COVER_CHARS = 12_000  # the cover and the pages after it: where a document says what it is
COVER_PAGES = 3
OPENING_CHARS = 2_000  # ... for a document without pages (an article), its opening
NAME_WORDS = 8  # an organisation's name is at most this many words
MIN_MENTIONS = 3  # an organisation named fewer times in the whole text is not the document's issuer
MANY_MENTIONS = 20  # ... named this often, it is, even when the cover does not print it (a logo)
MAX_FIELD_CHARS = 200
DEFINITIONS_SEARCHED = 50  # mentions of the issuer looked at for the short name it defines
HEADING_WORDS = 10  # a cover's line stating what the document is, at most

MONTHS = ("january february march april may june july august september october november december").split()
MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|" \
        r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
DATE = rf"(?:{MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d|\d{{1,2}}\s+{MONTH},?\s+(?:19|20)\d\d|(?:19|20)\d\d-\d\d-\d\d)"
YEAR = re.compile(r"(?<![\d.,$])((?:19|20)\d\d)(?!\d|,\d|\.\d)")  # not "2,019" nor "2019.5"



def loose(word: str) -> str:
    """A word as a pattern that also matches it letter-spaced, as some PDFs' text comes out ("Fis cal")."""
    return r"\s?".join(re.escape(ch) for ch in word)


# "For the fiscal year ended December 26, 2015", "for the year ended 31 December 2019", "For the
# quarterly period ended June 30, 2023": the period a report covers, as its cover states it.
PERIOD_ENDED = re.compile(rf"\b{loose('for')}\s+{loose('the')}\s+((?:{loose('fiscal')}\s+)?(?:{loose('year')}|"
                          rf"{loose('quarter')}|{loose('quarterly')}\s+{loose('period')}|(?:three|six|nine|twelve)\s+months|"
                          rf"{loose('period')}|half(?:-year)?))\s+{loose('end')}\s?(?:ed|ing)\s+({DATE})", re.I)
# "Annual Report 2019", "2019 Annual Report", "Fiscal 2019", "FY2019", "Q3 2023", "third quarter 2023".
YEAR_NAMED = re.compile(r"\b(?:(?:annual|integrated|sustainability|interim)\s+report|fiscal(?:\s+year)?|fy)\s*'?((?:19|20)\d\d)\b|"
                        r"\b((?:19|20)\d\d)\s+(?:annual|integrated|sustainability|interim)\s+report\b", re.I)
PERIOD_NAMES = {name.replace(" ", ""): name for name in ("fiscal year", "fiscal quarter", "quarterly period", "year",
                                                         "quarter", "period", "fiscal half", "half-year")}
QUARTER_NAMED = re.compile(r"\b(?:q([1-4])|(first|second|third|fourth)\s+quarter)(?:\s+(?:of\s+)?(?:fiscal\s+)?)?\s*'?((?:19|20)\d\d)\b", re.I)
ORDINAL_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
VERSION = re.compile(r"\b(?:version|release|revision|rev\.|edition)\s*:?\s*(\d+(?:\.\d+){0,3}[a-z]?)\b|\bv(\d+(?:\.\d+){1,3})\b", re.I)

# Forms whose number says what they are (securities filings; "FORM 10-K" on the cover).
FORMS = {"10-K": "annual report", "10-K405": "annual report", "10-KT": "annual report", "20-F": "annual report",
         "40-F": "annual report", "10-Q": "quarterly report", "8-K": "current report", "6-K": "current report",
         "S-1": "registration statement", "F-1": "registration statement", "DEF 14A": "proxy statement",
         "11-K": "annual report", "N-CSR": "shareholder report"}
FORM = re.compile(r"\bform\s+(10-K405|10-KT|10-K|10-Q|20-F|40-F|8-K|6-K|S-1|F-1|DEF\s+14A|11-K|N-CSR)\b", re.I)
FORM_IN_NAME = re.compile(r"(?<![A-Za-z0-9])(10-?K|10-?Q|20-?F|8-?K)(?![A-Za-z0-9])", re.I)
# Kinds of document by the words their covers and titles use, most specific first.
KINDS = (
    ("annual report", r"annual\s+report|integrated\s+report"),
    ("quarterly report", r"quarterly\s+report|interim\s+report"),
    ("sustainability report", r"sustainability\s+report|esg\s+report|corporate\s+(?:social\s+)?responsibility\s+report"),
    ("proxy statement", r"proxy\s+statement"),
    ("prospectus", r"prospectus"),
    ("manual", r"user(?:'s|s)?\s+(?:guide|manual)|owner(?:'s|s)?\s+manual|reference\s+(?:guide|manual)|"
               r"installation\s+guide|handbook|instruction\s+manual|manual"),
    ("contract", r"agreement|contract|memorandum\s+of\s+understanding|terms\s+and\s+conditions"),
    ("minutes", r"minutes\s+of\s+(?:the\s+)?(?:\w+\s+){0,4}meeting|meeting\s+minutes"),
    ("press release", r"press\s+release|news\s+release"),
    ("white paper", r"white\s*paper"),
)
KIND_PATTERNS = [(kind, re.compile(rf"\b(?:{pattern})\b", re.I)) for kind, pattern in KINDS]
PAPER_SIGNS = (re.compile(r"^\s*abstract\b", re.I | re.M), re.compile(r"^\s*(?:\d+\.?\s+)?introduction\s*$", re.I | re.M))

# An organisation's name: capitalised words ending in a legal form. "The Coca-Cola Company",
# "Advanced Micro Devices, Inc.", "PG&E Corporation", "Pacific Gas and Electric Company".
LEGAL_FORMS = (r"Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.?|Ltd\.?|Limited|LLC|L\.L\.C\.|LLP|L\.P\.|LP|"
               r"PLC|plc|N\.V\.|S\.A\.|SA|AG|SE|GmbH|Group|Holdings|Bancorp|Trust")
NAME_WORD = r"(?:[A-Z][\w&'’.\-]*|[a-z][A-Z][\w&'’.\-]*|&|and|of|de|the|for)"
ORGANISATION = re.compile(rf"(?<![\w&])((?:The\s+)?(?:[A-Z]|[a-z][A-Z])[\w&'’.\-]*(?:,?\s+{NAME_WORD}){{0,{NAME_WORDS - 2}}},?\s+(?:{LEGAL_FORMS}))"
                          rf"(?![\w&])")
LEGAL_FORM = re.compile(rf"(?:,?\s+(?:{LEGAL_FORMS}))+$")
LEGAL_FORM_ANY_CASE = re.compile(LEGAL_FORM.pattern, re.I)
# The wording of a form's cover, never a name: "Commission File Number", "(as specified in its charter)".
FORM_WORDING = re.compile(r"\b(?:commission|file\s+number|transition|period|pursuant|fiscal|report|charter|specified|"
                          r"jurisdiction|identification|address)\b|s\s?pecified", re.I)
# Capitalised words that begin generic phrases, not names ("The Company", "Target Company").
GENERIC_HEADS = frozenset("the a an this that our its such each any other every company registrant parent "
                          "subsidiary target public private holding operating participating electric".split())
# A caption printed under a name on a form: "(Exact name of registrant as specified in its charter)".
NAME_CAPTION = re.compile(r"\(?\s*(?:exact\s+)?name\s+of\s+(?:the\s+)?(?:registrant|issuer|company|entity|"
                          r"organi[sz]ation|applicant|employer|reporting\s+entity)\b", re.I)
# A short name an organisation defines for itself: 'Advanced Micro Devices, Inc. ("AMD," "we")'.
DEFINED_NAME = re.compile(r"(?:,?\s+and\s+(?:its\s+)?(?:consolidated\s+)?subsidiaries)?[\s,]{0,3}\(\s*(?:together\s+with\s+its\s+(?:consolidated\s+)?subsidiaries,?\s*|"
                          r"collectively,?\s*|hereinafter,?\s*)?(?:the\s+)?[\"“]([^\"”]{2,40}?)[,.]?[\"”]")
GENERIC_DEFINED = frozenset("company we us our registrant corporation group issuer firm business parent".split())
# Letterhead words of a form's cover ("UNITED STATES SECURITIES AND EXCHANGE COMMISSION", "FORM 10-K"):
# a title made of these alone names no document.
LETTERHEAD = frozenset("united states securities and exchange commission washington d c form 10 k q f "
                       "table of contents annual quarterly report mark one".split())


EDITED = "edited"
FACTS = ("issuer", "kind", "period", "title")


@dataclass
class Fact:
    """One field of a card and where it was read: "cover page", "running header", "text",
    "metadata", "file name", or "edited" (set through the API)."""
    value: str
    found_in: str


@dataclass
class Card:
    issuer: Fact | None = None  # who issued it: a company, an author, an organisation
    aliases: list[str] = field(default_factory=list)  # other names the issuer goes by ("AMD")
    kind: Fact | None = None  # what it is: "annual report (Form 10-K)", "manual", "contract", "paper"
    period: Fact | None = None  # the period or version it covers, as printed
    year: int | None = None  # the (fiscal) year that period ends in
    quarter: int | None = None  # 1-4, for a quarter's report
    version: str | None = None  # "3.2", for a version's manual
    title: Fact | None = None  # a real title
    edited_values: list[str] = field(default_factory=list)  # plain fields (year, quarter, version) set through the API

    @property
    def name(self) -> str:
        """The document's name for people: its title, with whose, what and when where the title
        does not say. Example: "Apple Inc. annual report (Form 10-K) · fiscal year ended September 29, 2018"."""
        title = self.title.value if self.title else ""
        parts = [title] if title else []
        for fact in (self.issuer, self.kind, self.period):
            if fact and fact.value.casefold() not in " ".join(parts).casefold():
                parts.append(fact.value)
        if self.year and str(self.year) not in " ".join(parts):
            parts.append(f"fiscal {self.year}" if self.kind and "report" in self.kind.value else str(self.year))
        return " · ".join(parts)

    @property
    def label(self) -> str:
        """What every passage's indexed text starts with (qa/policy.py): the name, and the issuer's
        other names, so a question that says "AMD" finds Advanced Micro Devices' passages."""
        names = [alias for alias in self.aliases if alias.casefold() not in self.name.casefold()]
        return self.name + (f" ({', '.join(names[:3])})" if names else "")

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """What a citation says of its document: its name and the card's values (no provenance)."""
        return {"name": self.name, "issuer": self.issuer.value if self.issuer else None,
                "kind": self.kind.value if self.kind else None, "period": self.period.value if self.period else None,
                "year": self.year}

    @property
    def edited(self) -> list[str]:
        """The fields set through the API (found_in "edited"), which a new reading of the file keeps."""
        facts = [key for key in FACTS if getattr(self, key) and getattr(self, key).found_in == EDITED]
        return facts + [key for key in self.edited_values if getattr(self, key) is not None]

    def edit(self, changes: dict) -> None:
        """Set fields by name (None clears one); each set fact is marked "edited"."""
        for key, value in changes.items():
            if key in FACTS:
                setattr(self, key, Fact(value, EDITED) if value else None)
            elif key == "aliases":
                self.aliases = list(value or [])
            else:
                setattr(self, key, value)
                if key not in self.edited_values:
                    self.edited_values.append(key)
        if "period" in changes and "year" not in changes and self.period:
            years = YEAR.findall(self.period.value)
            self.year = int(years[-1]) if years else self.year

    def keep_edits(self, edited: Card) -> None:
        """Take the fields edited on an earlier version's card (a file read again keeps its edits)."""
        for key in FACTS:
            fact = getattr(edited, key)
            if fact and fact.found_in == EDITED:
                setattr(self, key, fact)
        for key in edited.edited_values:
            setattr(self, key, getattr(edited, key))
        self.edited_values = list(edited.edited_values)
        if edited.issuer and edited.issuer.found_in == EDITED:
            self.aliases = list(edited.aliases)

    @classmethod
    def from_json(cls, data: dict | None) -> Card:
        if not data:
            return cls()
        facts = {key: Fact(**data[key]) if data.get(key) else None for key in FACTS}
        return cls(aliases=list(data.get("aliases") or []), year=data.get("year"), quarter=data.get("quarter"),
                   version=data.get("version"), edited_values=list(data.get("edited_values") or []), **facts)


def read_card(document: Document) -> Card:
    """The card of a document just read (see the module's docstring for the order of sources)."""
    cover = cover_text(document)
    headers = document.metadata.get("running_headers", "")
    card = Card()
    card.kind = kind_of(cover, "cover page") or kind_of(headers, "running header") or kind_of(document.title, "title")
    card.period, card.year, card.quarter = period_of(cover, "cover page")
    if card.year is None:
        card.period, card.year, card.quarter = period_of(headers, "running header")
    version = VERSION.search(document.title + "\n" + cover[:2000])
    if version:
        card.version = version.group(1) or version.group(2)
        if card.period is None:
            card.period = Fact(f"version {card.version}", "cover page")
    card.issuer, card.aliases = issuer_of(document, cover, headers)
    if card.kind is None and is_paper(cover):
        card.kind = Fact("paper", "cover page")
    from_file_name(card, document.source)
    card.title = title_of(document, card)
    return card


def cover_text(document: Document) -> str:
    """The first pages (or, without pages, the opening)."""
    if document.pages:
        last = document.pages[min(COVER_PAGES, len(document.pages)) - 1]
        return document.text[: min(last.end, COVER_CHARS)]
    return document.text[:OPENING_CHARS]


def kind_of(text: str, found_in: str) -> Fact | None:
    form = FORM.search(text)
    if form:
        number = " ".join(form.group(1).upper().split())
        return Fact(f"{FORMS[number]} (Form {number})", found_in)
    # A cover states its kind in a heading near its top ("Annual Report 2019", "User Guide", "Supply
    # Agreement"); in a sentence, a word like "agreement" is prose.
    headings = [line for line in text[:1500].split("\n") if 0 < len(line.split()) <= HEADING_WORDS]
    for kind, pattern in KIND_PATTERNS:
        if any(pattern.search(line) for line in headings):
            return Fact(kind, found_in)
    return None


def period_of(text: str, found_in: str) -> tuple[Fact | None, int | None, int | None]:
    """(the period as printed, its year, its quarter) from the first statement of one."""
    ended = PERIOD_ENDED.search(text)
    if ended:
        squashed = re.sub(r"\s+", "", ended.group(1)).lower()  # "Fis cal Year" -> "fiscalyear"
        what = PERIOD_NAMES.get(squashed, " ".join(ended.group(1).split()).lower())
        day = " ".join(ended.group(2).split())
        year = int(YEAR.findall(day)[-1])
        quarter = None
        if "quarter" in what:
            month = next((i for i, m in enumerate(MONTHS, 1) if day.lower().startswith(m[:3])), None)
            quarter = QUARTER_NAMED.search(text)
            quarter = quarter_number(quarter) if quarter else (month + 2) // 3 if month else None
        return Fact(f"{what} ended {day}", found_in), year, quarter
    quarter = QUARTER_NAMED.search(text[:3000])
    if quarter:
        number = quarter_number(quarter)
        return Fact(f"Q{number} {quarter.group(3)}", found_in), int(quarter.group(3)), number
    named = YEAR_NAMED.search(text[:3000])
    if named:
        year = named.group(1) or named.group(2)
        return Fact(" ".join(named.group(0).split()), found_in), int(year), None
    return None, None, None


def quarter_number(match: re.Match) -> int:
    return int(match.group(1)) if match.group(1) else ORDINAL_QUARTERS[match.group(2).lower()]


def issuer_of(document: Document, cover: str, headers: str) -> tuple[Fact | None, list[str]]:
    """The issuer and its other names: a name over a form's caption on the cover, else the
    organisation the whole text names most (on the cover, in a running header, or very often),
    else the file's metadata."""
    counts = organisations(document.text)
    captioned = captioned_names(cover)
    issuer: Fact | None = None
    if captioned:
        issuer = Fact(best_casing(captioned[0], counts), "cover page")
    elif counts:
        name, mentions = counts.most_common(1)[0]
        if mentions >= MIN_MENTIONS:
            folded = name.casefold()
            if folded in headers.casefold():
                issuer = Fact(name, "running header")
            elif folded in fold_spaces(cover).casefold():
                issuer = Fact(name, "cover page")
            elif mentions >= MANY_MENTIONS:
                issuer = Fact(name, "text")
    if issuer is None:
        for key in ("company", "author", "site_name", "publisher"):
            value = " ".join(document.metadata.get(key, "").split())
            if value and value.casefold() in document.text.casefold() and len(value.split()) <= NAME_WORDS:
                issuer = Fact(value[:MAX_FIELD_CHARS], "metadata")
                break
    if issuer is None:
        return None, []
    aliases = aliases_of(issuer.value, document.text, counts)
    for other in captioned[1:]:  # a filing made by two registrants names both on its cover
        other = best_casing(other, counts)
        if other.casefold() != issuer.value.casefold() and other not in aliases:
            aliases.append(other)
    return issuer, aliases


def organisations(text: str) -> Counter:
    """How often each organisation's name occurs, by its most common spelling."""
    spellings: dict[str, Counter] = {}
    for match in ORGANISATION.finditer(text):
        name = re.split(r"(?<=[a-z]{3})\.\s+", " ".join(match.group(1).split()))[-1]  # "Hull. Tidewater Cranes plc"
        words = name.split()
        if words[0] == "The" and len(words) > 1:
            words = words[1:]
        core = LEGAL_FORM.sub("", " ".join(words)).strip(" ,")
        if not core or core.split()[0].casefold() in GENERIC_HEADS or len(core) < 2:
            continue
        spellings.setdefault(name.casefold(), Counter())[name] += 1
    return Counter({forms.most_common(1)[0][0]: sum(forms.values()) for forms in spellings.values()})


def captioned_names(cover: str) -> list[str]:
    """Names a form's caption labels: the line just above "(Exact name of registrant as specified in
    its charter)", or the cells under a column headed "Exact Name of Registrant" (a filing made by
    several registrants lists them in a table)."""
    lines = [line.strip() for line in cover.split("\n")]
    found: list[str] = []

    def add(text: str) -> None:
        names = [" ".join(m.group(1).split()) for m in ORGANISATION.finditer(text)]
        name = names[-1] if names else " ".join(text.split())  # "Commission file number 001-37713 eBay Inc."
        if looks_like_name(name) and name not in found:
            found.append(name)

    for i, line in enumerate(lines):
        cells = [cell.strip() for cell in line.split(" | ")]
        captions = [NAME_CAPTION.search(cell) for cell in cells]
        column = next((k for k, caption in enumerate(captions) if caption), None)
        if column is None:
            continue
        before = cells[column][: captions[column].start()].strip()
        if len(cells) > 1 and not before:  # a table: the names stand in that column of the rows below
            for below in lines[i + 1 : i + 6]:
                row = below.split(" | ")
                if len(row) == len(cells) and re.search(r"[A-Za-z]{2}", row[column]):
                    add(row[column])
        elif before:  # "ACME CORP (Exact name of registrant ...)" read as one line
            add(before)
        else:
            above = next((lines[j] for j in range(i - 1, max(i - 4, -1), -1) if lines[j]), "")
            add(above.split(" | ")[0])
    return found


def looks_like_name(line: str) -> bool:
    """A short line that is not a form's wording, ending as a name does (a full stop only after a legal form)."""
    if not 0 < len(line.split()) <= NAME_WORDS + 2 or sum(ch.isalpha() for ch in line) < 2 or not line[0].isalnum():
        return False
    if FORM_WORDING.search(line):
        return False
    return not line.endswith((".", ":")) or bool(LEGAL_FORM_ANY_CASE.search(line))


def best_casing(name: str, counts: Counter) -> str:
    """The spelling the text uses most for a name a cover prints in capitals."""
    folded = " ".join(name.split()).casefold().rstrip(".")
    same = [(mentions, spelt) for spelt, mentions in counts.items() if spelt.casefold().rstrip(".") == folded]
    if same:
        return max(same)[1]
    return name.title() if name.isupper() else name


def aliases_of(issuer: str, text: str, counts: Counter) -> list[str]:
    """Other names for the issuer: the short one it defines for itself ('("AMD")'), its initials
    where the text uses them as a word, and its name without the legal form ("Apple")."""
    found: list[str] = []
    spelt = r"\s+".join(re.escape(word) for word in issuer.split())  # a name may break across lines
    for match in itertools.islice(re.finditer(spelt, text, re.I), DEFINITIONS_SEARCHED):
        defined = DEFINED_NAME.match(text, match.end())
        alias = defined.group(1).strip() if defined else ""
        if alias and alias.casefold() not in GENERIC_DEFINED:
            found.append(alias)
            break
    core = core_name(issuer)
    words = [w for w in re.findall(r"[A-Za-z][\w&'’\-]*", core) if w.casefold() not in ("and", "of", "the", "de", "for")]
    if len(words) >= 2:
        initials = "".join(w[0] for w in words).upper()
        if initials not in found and len(re.findall(rf"\b{initials}\b", text)) >= MIN_MENTIONS:
            found.append(initials)
    if core and core.casefold() != issuer.casefold() and core not in found:
        found.append(core)
    return found


def core_name(name: str) -> str:
    """A name without its article and legal form: "The Coca-Cola Company" -> "Coca-Cola"."""
    core = LEGAL_FORM.sub("", name).strip(" ,")
    return re.sub(r"^the\s+", "", core, flags=re.I) or name


def fold_spaces(text: str) -> str:
    return " ".join(text.split())


def is_paper(cover: str) -> bool:
    return all(sign.search(cover) for sign in PAPER_SIGNS)


def from_file_name(card: Card, source: str) -> None:
    """The last resort: a year and a form in the file name ("AMD_2015_10K.pdf")."""
    stem = PurePosixPath(source).stem
    if card.kind is None:
        form = FORM_IN_NAME.search(stem)
        if form:
            number = re.sub(r"(\d)-?([A-Z])", r"\1-\2", form.group(1).upper())
            card.kind = Fact(f"{FORMS[number]} (Form {number})", "file name")
    if card.year is None:
        years = YEAR.findall(re.sub(r"[_\-.]", " ", stem))
        if len(years) == 1:
            card.year = int(years[0])
            card.period = Fact(years[0], "file name")


def title_of(document: Document, card: Card) -> Fact:
    """The document's own title unless it is a form's boilerplate ("UNITED STATES SECURITIES AND
    EXCHANGE COMMISSION", "FORM 10-K"); then whose and what it is."""
    title = " ".join(document.title.split())
    generic = (not title or set(re.findall(r"[a-z]+|\d+", title.casefold())) <= LETTERHEAD or title == document.source
               or (card.issuer is not None and title.casefold() == card.issuer.value.casefold()))
    if generic and card.issuer:
        what = card.kind.value if card.kind else "document"
        return Fact(f"{card.issuer.value} {what}"[:MAX_FIELD_CHARS], card.issuer.found_in)
    return Fact(title[:MAX_FIELD_CHARS], "title")
