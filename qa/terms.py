"""Words as the lexical side sees them: lower-cased, accents dropped, stop words out, Porter-stemmed;
one definition for the BM25 index, the questions and the highlighter, so they agree on what matches."""
from __future__ import annotations

import functools
import re
import threading
import unicodedata

import snowballstemmer

# Function words that carry no topic; "who"/"when"/"how" are here too: they say what kind of answer
# is wanted, which BM25 cannot use.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves s t don shouldn
""".split())

WORD = re.compile(r"\w+", re.UNICODE)
COMBINING = re.compile(r"[\u0300-\u036f]+")
_local = threading.local()


def words(text: str) -> list[str]:
    """Lower-cased words with accents dropped ("Zelenskyý" -> "zelenskyy")."""
    if not text.isascii():
        text = COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return WORD.findall(text.casefold())


# "What is the name of ...", "Which company did ...": the noun after the question word names the kind
# of answer wanted, which the answering sentence states ("Rick Scott") rather than names ("name").
ANSWER_KIND = re.compile(r"\s*(?:what|which)\s+(?:(?:is|are|was|were)\s+)?(?:(?:the|a|an)\s+)?([a-z]+)\s+"
                         r"(?:of|did|does|do|is|are|was|were|has|have|had)\b", re.IGNORECASE)
# Words about the documents themselves ("as mentioned in the report", "according to this paper"): the
# question's frame, which the answering passage seldom repeats.
FRAME_WORDS = frozenset({"according", "mention", "mentioned", "mentions", "document", "documents", "report",
                         "paper", "article", "text", "passage", "given", "noted", "stated", "described",
                         "shown", "listed", "written"})


# A sentence telling how to answer rather than asking: "Write the answer in list format.", "Round
# your answer to two decimal places.", "Please answer in USD millions."
INSTRUCTION = re.compile(r"(?:^|(?<=[.?!]))\s*(?:please\s+)?(?:write|give|round|answer|provide|list|express|"
                         r"return|format|compute|calculate|use|respond|state|report)\b[^.?!]*[.?!]?", re.IGNORECASE)
SENTENCE = re.compile(r"[^.?!]+[.?!]?")


def answer_kind(question: str) -> str | None:
    """The noun that names what kind of answer the question wants, when it has one.

    Example: "What is the name of the governor?" -> "name"; "What year did it open?" -> "year";
    "What is Volta known for?" -> None (a name, not a kind)."""
    found = ANSWER_KIND.match(question)
    if not found or not found.group(1).islower() or found.group(1) in STOP_WORDS:
        return None
    return found.group(1)


def without_frame(terms: list[str], question: str) -> list[str]:
    """The terms an answering sentence should hold: without the frame words, the noun naming the
    kind of answer, and the words of instructions on how to answer ("Write the answer in list
    format", "Round your answer to two decimal places") (all of the terms when that leaves none).

    Example: "What is the name of the governor as mentioned in the report?" -> ["governor"]."""
    kind = answer_kind(question)
    instructed = {word for sentence in INSTRUCTION.findall(question) for word in words(sentence)}
    asked = {word for sentence in SENTENCE.findall(question) if not INSTRUCTION.fullmatch(sentence.strip())
             for word in words(sentence)}
    return [term for term in terms if term != kind and term not in FRAME_WORDS
            and not (term in instructed and term not in asked)] or terms


def query_terms(question: str) -> list[str]:
    """Content words of a question, in order; all words if every one is a stop word."""
    found = words(question)
    content = [w for w in found if w not in STOP_WORDS]
    return content or found


def stemmer():
    """This thread's Porter stemmer. snowballstemmer hands out PyStemmer's C stemmer, which keeps
    state between calls and must not be called from two threads at once; requests run on many."""
    found = getattr(_local, "stemmer", None)
    if found is None:
        found = _local.stemmer = snowballstemmer.stemmer("porter")
    return found


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return stemmer().stemWord(word)
