"""Late interaction: re-ranking the first candidates by MaxSim over the model's token states.

A passage vector is the mean of its token states, so two neighbouring paragraphs of one article
(same topic, same names) get nearly the same vector; the paragraph that answers differs in a few
words. ColBERT's MaxSim keeps the words apart: each content word of the question finds its best
match among the passage's content words (cosine of their contextual states), and the passage scores
the IDF-weighted mean of those best matches. No training: the states come from the same MiniLM pass
that embeds the passage (qa/embedding.py), stored per passage in 4 bits a number (qa/store.py).

Words, not word pieces: a word's pieces are averaged into one state ("tchaikovsky" is 4 pieces),
and stop words, punctuation and the special tokens are dropped (they match everything).

Example: "When did Tchaikovsky die?" has content words [tchaikovsky, die]; a passage holding
"Tchaikovsky ... died in 1893" matches both (cosines ~0.9, ~0.7), its neighbour about his ballets
only the first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.lexical import idf
from qa.terms import STOP_WORDS, stem, words

# The fused ranking's top this many are re-ranked: MaxSim tells apart the neighbouring paragraphs the
# first stage already put near the top. Reaching deeper (10, 30) it also lifts passages that merely share
# the question's words, and the right one falls out of the top 5: hit@5 dropped on xquad-en and
# pdf-mmlongbench at 30 (bench/README.md). At 5 the top 5 hold the same passages, re-ordered.
RERANK_CANDIDATES = 5
RERANK_WEIGHT = 0.7  # new = (1 - w) * fused + w * MaxSim, both min-max normalised over the candidates
BLOCK = 512  # words decoded at a time: their two 512 x 192 float32 halves (768 KB) stay in L2


@dataclass
class WordStates:
    """A text's content words: their L2-normalised states and their (start, end) character offsets."""
    vectors: np.ndarray  # (n, dimension) float32
    spans: np.ndarray  # (n, 2) int32, offsets into the text the model read
    words: list[str]  # folded (lower-cased, accents dropped) words, as qa/terms.py sees them


@dataclass
class Match:
    """One question word and how well the passage matched it."""
    word: str
    weight: float  # its IDF
    cosine: float  # its best cosine to any passage word
    matched: str  # the passage word it matched best ("" when the passage has no content word)


def content_words(text: str, states: np.ndarray, offsets, word_ids, special) -> WordStates:
    """Group token states into words (mean of the pieces), keeping content words only.
    `offsets` (start, end) per token, `word_ids` the word each token belongs to (None for special
    tokens), `special` true for [CLS]/[SEP]."""
    groups: dict[int, list[int]] = {}
    for token, word in enumerate(word_ids):
        if word is not None and not special[token]:
            groups.setdefault(word, []).append(token)
    vectors, spans, kept = [], [], []
    for tokens in groups.values():
        start, end = int(offsets[tokens[0]][0]), int(offsets[tokens[-1]][1])
        found = words(text[start:end])
        if len(found) == 1 and found[0] not in STOP_WORDS:
            vectors.append(states[tokens].mean(0))
            spans.append((start, end))
            kept.append(found[0])
    dimension = states.shape[1]
    matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, dimension)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return WordStates(matrix, np.asarray(spans, dtype=np.int32).reshape(-1, 2), kept)


# -- storage: 4 bits a number, one scale a word ------------------------------------------------------

def pack(states: WordStates) -> bytes:
    """A word count, int4 codes (two a byte, n x d/2), a float16 scale per word and uint16 spans:
    d/2 + 6 bytes a word, ~14 KB for a passage of 70 content words at d = 384. A word's vector is
    (code - 8) * scale, the scale chosen so it has unit length (no normalising at question time).
    Measured on the dev sets, int4 ranks as fp32 and int8 do (bench/README.md)."""
    vectors = states.vectors
    step = np.maximum(np.abs(vectors).max(1, initial=0.0), 1e-12) / 7.0
    signed = np.clip(np.round(vectors / step[:, None]), -8, 7)
    scale = 1.0 / np.maximum(np.linalg.norm(signed, axis=1), 1e-12)
    codes = (signed + 8).astype(np.uint8)
    nibbles = codes[:, 0::2] | (codes[:, 1::2] << 4)
    spans = np.minimum(states.spans, 65535).astype(np.uint16)
    return (np.array([len(vectors)], dtype=np.uint32).tobytes() + nibbles.tobytes()
            + scale.astype(np.float16).tobytes() + spans.tobytes())


def _parts(blob: bytes, dimension: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    n = int(np.frombuffer(blob, dtype=np.uint32, count=1)[0])
    half = dimension // 2
    nibbles = np.frombuffer(blob, dtype=np.uint8, count=n * half, offset=4).reshape(n, half)
    scale = np.frombuffer(blob, dtype=np.float16, count=n, offset=4 + n * half)
    spans = np.frombuffer(blob, dtype=np.uint16, count=2 * n, offset=4 + n * half + 2 * n).reshape(n, 2)
    return n, nibbles, scale, spans


def unpack(blob: bytes, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors float32 (n x d), spans (n x 2)) from `pack`'s bytes."""
    _, nibbles, scale, spans = _parts(blob, dimension)
    codes = np.empty((len(nibbles), dimension), dtype=np.float32)
    codes[:, 0::2] = nibbles & 0x0F
    codes[:, 1::2] = nibbles >> 4
    return (codes - 8.0) * scale.astype(np.float32)[:, None], spans.astype(np.int32)


@dataclass
class Stacked:
    """Several passages' packed states side by side, as the scoring reads them: no float copy of
    the interleaved vectors is made (that cost more than the rest of the re-ranking together)."""
    nibbles: np.ndarray  # (words, d/2) uint8: dimension 2i in the low 4 bits, 2i + 1 in the high
    scales: np.ndarray  # (words,) float32
    counts: list[int]  # words of each passage, in order


def stack(blobs: list[bytes], dimension: int) -> Stacked:
    """The blobs' codes and scales, concatenated (their spans are not read)."""
    if not blobs:
        return Stacked(np.zeros((0, dimension // 2), np.uint8), np.zeros(0, np.float32), [])
    half = dimension // 2
    counts = [int(np.frombuffer(blob, dtype=np.uint32, count=1)[0]) for blob in blobs]
    nibbles = np.concatenate([np.frombuffer(blob, np.uint8, n * half, 4) for blob, n in zip(blobs, counts)])
    scales = np.concatenate([np.frombuffer(blob, np.float16, n, 4 + n * half) for blob, n in zip(blobs, counts)])
    return Stacked(nibbles.reshape(-1, half), scales.astype(np.float32), counts)


def similarities(question: np.ndarray, stacked: Stacked) -> np.ndarray:
    """Cosines (stacked words x question words): (c - 8) s . q = s (c . q - 8 sum(q)), the even and
    the odd dimensions' codes multiplied separately. Decoded BLOCK words at a time, so the float
    copies stay in the CPU's cache (decoding all ~2,000 words of 30 passages at once: 1.0 ms a
    question instead of 0.76 at 100k passages, bench/README.md)."""
    even = np.ascontiguousarray(question[:, 0::2].T)
    odd = np.ascontiguousarray(question[:, 1::2].T)
    result = np.empty((len(stacked.nibbles), len(question)), dtype=np.float32)
    for start in range(0, len(stacked.nibbles), BLOCK):
        codes = stacked.nibbles[start : start + BLOCK]
        block = (codes & 0x0F).astype(np.float32) @ even
        block += (codes >> 4).astype(np.float32) @ odd
        result[start : start + BLOCK] = block
    result -= 8.0 * question.sum(1)
    result *= stacked.scales[:, None]
    return result


# -- scoring ---------------------------------------------------------------------------------------

def idf_weights(question: WordStates, frequencies: dict[str, int], passages: int) -> np.ndarray:
    """The IDF of each question word's stem (a name weighs more than 'year')."""
    return np.array([idf(frequencies.get(stem(w), 0), passages) for w in question.words], dtype=np.float32)


def maxsim(question: np.ndarray, weights: np.ndarray, passage: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(IDF-weighted mean of each question word's best cosine, the best cosines, the best word's index)."""
    if not len(question) or not len(passage):
        return 0.0, np.zeros(len(question), np.float32), np.zeros(len(question), np.int64)
    similarities = question @ passage.T
    best = similarities.argmax(1)
    cosines = similarities[np.arange(len(question)), best]
    return float((cosines * weights).sum() / max(float(weights.sum()), 1e-9)), cosines, best


def evidence(question: WordStates, weights: np.ndarray, passage: np.ndarray, spans: np.ndarray,
             passage_text: str) -> list[Match]:
    """Which question words found a match in the passage, and how well: a signal for abstention
    (an answer whose rare words match nothing is doubtful). `passage_text` is the text the model
    read (with the title in front, qa/policy.py), which `spans` point into."""
    _, cosines, best = maxsim(question.vectors, weights, passage)
    return [Match(word, round(float(weight), 3), round(float(cosine), 3),
                  passage_text[spans[index][0]:spans[index][1]] if len(spans) else "")
            for word, weight, cosine, index in zip(question.words, weights, cosines, best)]


def scores(question: np.ndarray, weights: np.ndarray, stacked: Stacked) -> np.ndarray:
    """MaxSim of the question against each stacked passage: one matrix product for all candidates."""
    result = np.zeros(len(stacked.counts), dtype=np.float32)
    if not len(question) or not len(stacked.nibbles):
        return result
    sizes = np.asarray(stacked.counts)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    present = sizes > 0
    best = np.maximum.reduceat(similarities(question, stacked), starts[present], axis=0)
    result[present] = best @ weights / max(float(weights.sum()), 1e-9)
    return result


def fuse(first_stage: np.ndarray, late: np.ndarray, weight: float = RERANK_WEIGHT) -> np.ndarray:
    """(1 - w) * first stage + w * MaxSim, each min-max normalised over the candidates."""
    def normalised(x: np.ndarray) -> np.ndarray:
        return (x - x.min()) / (x.max() - x.min() + 1e-9)
    return (1 - weight) * normalised(first_stage) + weight * normalised(late)
