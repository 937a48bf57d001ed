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
