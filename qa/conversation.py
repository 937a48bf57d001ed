"""Follow-up questions without a language model.

"Who composed the 1812 Overture?" then "When did he die?": the second question names no one. A
conversation carries a small Topic forward: the content words of the question that set the topic
and the title and id of the document that answered it. A follow-up, a question that leans on
that topic (a pronoun with no name of its own, or an elliptical "what about ..."), is searched as
the question plus the topic's words, and passages from the topic's document get a boost. A question
that stands on its own starts a new topic, so a change of subject is never dragged back.

Example: topic = {terms: [composed, 1812, overture], title: "Pyotr Ilyich Tchaikovsky"};
"When did he die?" -> searched as "When did he die? Pyotr Ilyich Tchaikovsky composed 1812 overture".
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from qa.terms import STOP_WORDS, words

# Words that point back to something said before: pronouns, "the largest known one", and "the"
# itself ("How many universities does the city have?" names no city: it means the one just discussed).
ANAPHORS = frozenset("""
he him his himself she her hers herself it its itself they them their theirs themselves
this that these those there then latter former such one ones the
""".split())
ELLIPSIS = re.compile(r"^\s*(and|but|also|what about|how about|and what about|what of|same for)\b", re.IGNORECASE)
CAPITALISED = re.compile(r"[A-Z][\w'’-]*|\d[\w,.-]*")
MAX_TOPIC_TERMS = 8


@dataclass
class Topic:
    terms: list[str] = field(default_factory=list)
    title: str = ""
    document_id: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Topic | None:
        return cls(**data) if data else None


def is_follow_up(question: str) -> bool:
    """Does the question lean on what came before? Pronouns only count when it names no one itself."""
    found = words(question)
    content = [w for w in found if w not in STOP_WORDS and w not in ANAPHORS]
    names = names_in(question)
    if ELLIPSIS.match(question):
        return True
    if any(w in ANAPHORS for w in found) and not names:
        return True
    return len(content) <= 1 and not names  # "Why?", "When exactly?"


def names_in(question: str) -> list[str]:
    """Capitalised words after the first, and numbers: what the question names itself
    ("Did Fillmore found the university before he ..." names Fillmore, so its "he" is not a follow-up)."""
    tokens = question.split()[1:]
    return [t for t in tokens if CAPITALISED.match(t) and t not in {"I", "I'm", "I’m"}]


def contextual_question(question: str, topic: Topic | None) -> str:
    """The text to search for when the question is a follow-up (is_follow_up): the question and the topic's words."""
    if topic is None:
        return question
    extra = " ".join(dict.fromkeys([topic.title, *topic.terms]))
    return f"{question} {extra}".strip()


def topic_words(folded: list[str]) -> list[str]:
    """A question's content words that are not pronouns: what it adds to a conversation's topic."""
    return [w for w in folded if w not in STOP_WORDS and w not in ANAPHORS]


def next_topic(asked: list[str], follow_up: bool, topic: Topic | None, title: str, document_id: str | None) -> Topic:
    """A follow-up keeps the topic (adding what it `asked`, topic_words); a new question sets a new one."""
    if topic is not None and follow_up:
        return Topic(list(dict.fromkeys(topic.terms + asked))[-MAX_TOPIC_TERMS:], topic.title or title,
                     topic.document_id or document_id)
    return Topic(asked[:MAX_TOPIC_TERMS], title, document_id)
