"""The pages a question names: "on page 17", "page fourteen", "the cover page", "slide 3".

Someone holding a report asks about "the table on page 12" by the number printed on the page, or
by the viewer's count; search (qa/search/retrieve.py) looks at the passages on those pages first, matching
either count (a page's label, qa/documents.py `Page.label`, is the printed one).

Example: "What is the word in the orange box on page 17?" -> [17];
"Who is the defendant named on the cover page?" -> [1]; "What does Table 2 show?" -> [].
"""
from __future__ import annotations

import re

from qa.terms import STOP_WORDS

NUMBERS = {word: n for n, word in enumerate(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split(), start=1)}
ORDINALS = {word: n for n, word in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth".split(), start=1)}
FIRST_PAGE_WORDS = ("cover", "front", "title")
MOST_PAGES = 3  # a question naming more pages than this is not about particular pages

NUMBERED = re.compile(r"\b(?:pages?|pg\.?|p\.|slides?)\s*(?:no\.?\s*|number\s*|#\s*)?(\d{1,4}|"
                      + "|".join(NUMBERS) + r")\b", re.I)
ORDINAL = re.compile(r"\b(" + "|".join([*ORDINALS, *FIRST_PAGE_WORDS]) + r")\s+(?:page|slide)\b", re.I)


def mention_words(question: str) -> set[str]:
    """The words of the page mentions ("page", "17", "cover"): where to look, not what to look for,
    so BM25 does not reward a passage for a stray "17", nor does abstention miss "17" in the answer.
    Empty when the question names no pages (named_pages)."""
    if not named_pages(question):
        return set()
    spans = [m.group(0) for pattern in (NUMBERED, ORDINAL) for m in pattern.finditer(question)]
    return {word.casefold() for span in spans for word in re.findall(r"\w+", span)}


def without_mentions(terms: list[str], question: str) -> list[str]:
    """The question's search terms without its page mention's words (all of them when that leaves none)."""
    mentioned = mention_words(question)
    return [term for term in terms if term not in mentioned] or terms


def modifies_a_noun(rest: str) -> bool:
    """True when "cover page" (or "front page", ...) is followed by a content word: then it describes
    a thing ("front page news", "the cover page model"), not the place to look ("on the cover page?")."""
    following = re.match(r"\s+([A-Za-z]+)", rest)
    return bool(following) and following.group(1).casefold() not in STOP_WORDS


def named_pages(question: str) -> list[int]:
    """The page numbers the question names, in order, without repeats ([] when it names none)."""
    found: list[int] = []
    for match in NUMBERED.finditer(question):
        word = match.group(1).casefold()
        found.append(NUMBERS[word] if word in NUMBERS else int(word))
    for match in ORDINAL.finditer(question):
        if modifies_a_noun(question[match.end():]):
            continue
        word = match.group(1).casefold()
        found.append(ORDINALS.get(word, 1))
    pages = [page for page in dict.fromkeys(found) if page >= 1]
    return pages if len(pages) <= MOST_PAGES else []
