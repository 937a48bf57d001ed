"""BM25 over the passages, in memory: postings per stemmed term, derived from SQLite like the FAISS file.

SQLite FTS5 did this first, but it scores every passage that holds a query term through a per-row
callback (10 ms a question at 100,000 passages). Here a question's terms are scored with a few numpy
operations over their postings (about 1 ms). Scoring is FTS5's BM25 (k1 1.2, b 0.75, the same IDF),
with a title word counted as TITLE_WEIGHT occurrences.

Postings live in one sorted block (term -> rows, term frequencies) plus a small block of recent
additions, merged into the sorted one when it grows; removed passages are masked until the merge.
A merge builds a new index (`merged`) rather than changing this one, so the caller can build it
while questions still read this one and swap it in (qa/derived.py).
The file `lexical.npz` beside the index keeps a built copy so a restart does not re-tokenise.
"""
from __future__ import annotations

import math
import zipfile
from array import array
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from qa.errors import IndexCorrupt
from qa.files import write_atomically
from qa.terms import STOP_WORDS, stem, words

if TYPE_CHECKING:
    from qa.store import ScoringRow

FORMAT = 1  # bump when passage_terms or the arrays change: an older file is then rebuilt
K1, B = 1.2, 0.75
TITLE_WEIGHT = 2
MERGE_AT = 50_000  # recent postings searched by a scan until there are this many, then merged

Statistics = tuple[dict[str, int], int, float]  # (document frequency of each term, passages, total length)


def passage_terms(title: str, text: str) -> tuple[Counter, int]:
    """Stemmed content words with their weighted counts, and the passage's length in words."""
    title_words, text_words = words(title), words(text)
    counts = Counter(stem(w) for w in text_words if w not in STOP_WORDS)
    for term in (stem(w) for w in title_words if w not in STOP_WORDS):
        counts[term] += TITLE_WEIGHT
    return counts, len(title_words) + len(text_words)


class LexicalIndex:
    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.ids = np.zeros(0, dtype=np.int64)  # row -> passage id
        self.lengths = np.zeros(0, dtype=np.float32)  # row -> words
        self.alive = np.zeros(0, dtype=bool)
        self.rows_of: dict[int, int] = {}  # passage id -> row
        self.starts = np.zeros(1, dtype=np.int64)  # sorted block: postings of term t at starts[t]:starts[t+1]
        self.rows = np.zeros(0, dtype=np.int32)
        self.frequencies = np.zeros(0, dtype=np.float32)
        self.recent_terms, self.recent_rows, self.recent_frequencies = array("i"), array("i"), array("f")
        self.total_length = 0.0

    def __len__(self) -> int:
        return len(self.rows_of)

    # -- writes -----------------------------------------------------------------------------------

    def add(self, ids: Iterable[int], titles_and_texts: Iterable[tuple[str, str]]) -> None:
        new_ids, new_lengths = [], []
        for passage_id, (title, text) in zip(ids, titles_and_texts):
            counts, length = passage_terms(title, text)
            row = len(self.ids) + len(new_ids)
            for term, count in counts.items():
                self.recent_terms.append(self.vocabulary.setdefault(term, len(self.vocabulary)))
                self.recent_rows.append(row)
                self.recent_frequencies.append(count)
            self.rows_of[int(passage_id)] = row
            new_ids.append(int(passage_id))
            new_lengths.append(length)
            self.total_length += length
        self.ids = np.concatenate([self.ids, np.array(new_ids, dtype=np.int64)])
        self.lengths = np.concatenate([self.lengths, np.array(new_lengths, dtype=np.float32)])
        self.alive = np.concatenate([self.alive, np.ones(len(new_ids), dtype=bool)])

    def remove(self, ids: Iterable[int]) -> None:
        for passage_id in ids:
            row = self.rows_of.pop(int(passage_id), None)
            if row is not None:
                self.alive[row] = False
                self.total_length -= float(self.lengths[row])

    @property
    def needs_merge(self) -> bool:
        """Recent postings are many enough that scanning them costs more than a merge."""
        return len(self.recent_terms) >= MERGE_AT

    @property
    def compact(self) -> bool:
        """No recent postings, no removed rows: what a file holds."""
        return not len(self.recent_terms) and len(self.rows_of) == len(self.ids)

    def live_ids(self) -> np.ndarray:
        return self.ids[self.alive]

    def merge(self) -> None:
        """Fold the recent postings into the sorted block and drop removed passages' rows, in place."""
        self.__dict__.update(self.merged().__dict__)

    def merged(self) -> LexicalIndex:
        """A new index with the recent postings folded into the sorted block and removed passages'
        rows dropped; this one is left as it is (questions may be reading it)."""
        terms = np.concatenate([np.repeat(np.arange(len(self.starts) - 1, dtype=np.int32), np.diff(self.starts)),
                                np.frombuffer(self.recent_terms, dtype=np.int32)])
        rows = np.concatenate([self.rows, np.frombuffer(self.recent_rows, dtype=np.int32)])
        frequencies = np.concatenate([self.frequencies, np.frombuffer(self.recent_frequencies, dtype=np.float32)])
        keep = self.alive[rows]
        renumber = (np.cumsum(self.alive) - 1).astype(np.int32)
        terms, rows, frequencies = terms[keep], renumber[rows[keep]], frequencies[keep]
        order = np.argsort(terms, kind="stable")
        new = LexicalIndex()
        new.vocabulary = dict(self.vocabulary)
        new.rows, new.frequencies = rows[order], frequencies[order]
        new.starts = np.concatenate([[0], np.cumsum(np.bincount(terms, minlength=len(self.vocabulary)))]).astype(np.int64)
        new.ids, new.lengths = self.ids[self.alive], self.lengths[self.alive]
        new.alive = np.ones(len(new.ids), dtype=bool)
        new.rows_of = {int(passage_id): row for row, passage_id in enumerate(new.ids)}
        new.total_length = self.total_length
        return new

    # -- reads ------------------------------------------------------------------------------------

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of live passages holding the (stemmed) term, and its weighted count in each."""
        term_id = self.vocabulary.get(term)
        if term_id is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        first, last = (self.starts[term_id], self.starts[term_id + 1]) if term_id + 1 < len(self.starts) else (0, 0)
        rows, frequencies = self.rows[first:last], self.frequencies[first:last]
        if len(self.recent_terms):
            recent = np.frombuffer(self.recent_terms, dtype=np.int32) == term_id
            rows = np.concatenate([rows, np.frombuffer(self.recent_rows, dtype=np.int32)[recent]])
            frequencies = np.concatenate([frequencies, np.frombuffer(self.recent_frequencies, dtype=np.float32)[recent]])
        live = self.alive[rows]
        return rows[live], frequencies[live]

    def rows_within(self, within: np.ndarray | None) -> np.ndarray | None:
        """A mask over passage ids (True: a question may see it) -> a mask over rows (None: all)."""
        if within is None:
            return None
        inside = self.ids < len(within)
        rows = np.zeros(len(self.ids), dtype=bool)
        rows[inside] = within[self.ids[inside]]
        return rows & self.alive

    def document_frequencies(self, terms: list[str], within: np.ndarray | None = None) -> dict[str, int]:
        """Live passages holding each (stemmed) term (of those set in `within`, bool by passage id)."""
        rows = self.rows_within(within)
        if rows is not None:
            return {term: int(np.count_nonzero(rows[self.postings(term)[0]])) for term in terms}
        if len(self.recent_terms) or len(self.rows_of) != len(self.ids):
            return {term: len(self.postings(term)[0]) for term in terms}
        ids = [self.vocabulary.get(term) for term in terms]  # merged and nothing removed: read off
        return {term: 0 if i is None else int(self.starts[i + 1] - self.starts[i]) for term, i in zip(terms, ids)}

    def statistics(self, terms: list[str], within: np.ndarray | None = None) -> Statistics:
        """What BM25 scores with: each term's document frequency, the passage count and their total
        length (of the passages set in `within`). A shard's are summed into the whole index's."""
        allowed = self.rows_within(within)
        passages = len(self) if allowed is None else int(np.count_nonzero(allowed))
        total = self.total_length if allowed is None else float(self.lengths[allowed].astype(np.float64).sum())
        return self.document_frequencies(terms, within), passages, total

    def search(self, terms: list[str], k: int, within: np.ndarray | None = None,
               statistics: Statistics | None = None) -> list[tuple[int, float]]:
        """The k best passages by BM25 for any of the (stemmed) terms: (passage id, score), best first.
        With `within` (bool by passage id) only those passages count, for the scores too: the passage
        count, the average length and each term's IDF are theirs, as if the others were not indexed.
        `statistics` (see `statistics`) of the whole index, when this one is a shard of it: the scores
        are then those the whole index gives (qa/cluster/shards.py)."""
        allowed = self.rows_within(within)
        if statistics is None:
            passages = len(self) if allowed is None else int(np.count_nonzero(allowed))
            total = self.total_length if allowed is None else float(self.lengths[allowed].astype(np.float64).sum())
        else:
            _, passages, total = statistics
        if not passages:
            return []
        average = total / passages
        found_rows, found_scores = [], []
        for term in dict.fromkeys(terms):
            rows, frequencies = self.postings(term)
            if allowed is not None:
                inside = allowed[rows]
                rows, frequencies = rows[inside], frequencies[inside]
            if not len(rows):
                continue
            holding = len(rows) if statistics is None else statistics[0][term]
            idf = max(math.log((passages - holding + 0.5) / (holding + 0.5)), 1e-6)  # as FTS5
            saturation = K1 * (1 - B + B * self.lengths[rows] / average)
            found_rows.append(rows)
            found_scores.append(idf * frequencies * (K1 + 1) / (frequencies + saturation))
        if not found_rows:
            return []
        scores = np.bincount(np.concatenate(found_rows), weights=np.concatenate(found_scores), minlength=len(self.ids))
        hit = np.flatnonzero(scores != 0)  # the same rows; nonzero over bools is ~13x faster than over floats
        if len(hit) > k:  # the k best; of passages tied at the k-th score, the lowest ids (as sharded)
            kth = -np.partition(-scores[hit], k - 1)[k - 1]
            tied = hit[scores[hit] == kth]
            hit = np.concatenate([hit[scores[hit] > kth], tied[np.argsort(self.ids[tied], kind="stable")]])[:k]
        hit = hit[np.lexsort((self.ids[hit], -scores[hit]))]  # ties by passage id: the same order sharded
        return [(int(self.ids[row]), float(scores[row])) for row in hit]

    # -- the file ---------------------------------------------------------------------------------

    def save(self, path: Path, generation: int) -> None:
        """Write atomically (qa/files.py), with the generation inside the same file. This index is not
        changed (an index that is not compact is written as merged)."""
        index = self if self.compact else self.merged()
        terms = "\n".join(sorted(index.vocabulary, key=index.vocabulary.get))
        write_atomically(path, lambda file: np.savez(
            file, format=np.int64(FORMAT), generation=np.int64(generation),
            terms=np.frombuffer(terms.encode(), dtype=np.uint8), ids=index.ids, lengths=index.lengths,
            starts=index.starts, rows=index.rows, frequencies=index.frequencies))

    @classmethod
    def load(cls, path: Path) -> tuple[LexicalIndex, int]:
        """The index and the generation it was saved at. A missing file raises OSError; a damaged one
        or one from another version IndexCorrupt, naming the file."""
        try:
            return cls._load(path)
        except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise IndexCorrupt(f"{path}: unreadable BM25 file ({error})") from error

    @classmethod
    def _load(cls, path: Path) -> tuple[LexicalIndex, int]:
        with np.load(path) as saved:
            if "format" not in saved or int(saved["format"]) != FORMAT:
                raise ValueError(f"written by another version of qa (format {FORMAT} wanted)")
            index = cls()
            terms = saved["terms"].tobytes().decode()
            index.vocabulary = {term: i for i, term in enumerate(terms.split("\n"))} if terms else {}
            index.ids, index.lengths = saved["ids"], saved["lengths"]
            index.starts, index.rows, index.frequencies = saved["starts"], saved["rows"], saved["frequencies"]
            generation = int(saved["generation"])
        if len(index.starts) != len(index.vocabulary) + 1 or len(index.ids) != len(index.lengths):
            raise ValueError("inconsistent arrays")
        index.alive = np.ones(len(index.ids), dtype=bool)
        index.rows_of = {int(passage_id): row for row, passage_id in enumerate(index.ids)}
        index.total_length = float(index.lengths.sum())
        return index, generation


def idf(frequency: int, passages: int) -> float:
    """BM25's IDF (Lucene's, never negative) of a term held by `frequency` of `passages`: the weight
    of a question's term wherever the ranker and the abstention compare words."""
    return math.log((passages - frequency + 0.5) / (frequency + 0.5) + 1)


def row_labels(text: str) -> list[list[str]]:
    """The stemmed content words of each table row's label (its first cell) in a passage's text.

    Example: "Total assets | $ | 101,450\nGoodwill | 35,546" -> [["total", "asset"], ["goodwil"]]."""
    labels = []
    if " | " not in text:  # no row: most passages
        return labels
    for line in text.split("\n"):
        if " | " in line:
            label = [stem(w) for w in words(line.split(" | ", 1)[0]) if w not in STOP_WORDS]
            if label:
                labels.append(label)
    return labels


def labels_of(row: ScoringRow) -> list[list[str]]:
    """`row_labels` of a candidate: as saved with it, or from its text."""
    return row.analysis.labels() if row.analysis is not None else row_labels(row.text)


def sentence_stems(text: str, offset: int, sentences: list[list[int]]) -> list[set[str]]:
    """The stemmed words of each sentence (document offsets) of a passage's text starting at `offset`."""
    return [{stem(w) for w in words(text[start - offset : end - offset])} for start, end in sentences]


def stems_of(row: ScoringRow) -> list[set[str]]:
    """`sentence_stems` of a candidate: as saved with it, or from its text."""
    if row.analysis is not None:
        return row.analysis.sentence_stems()
    return sentence_stems(row.text, row.start, row.sentences.tolist())  # Python ints: slicing by numpy ints is slower


def label_match(labels: list[list[str]], question: set[str], weights: dict[str, float]) -> float:
    """How fully the question names one of a table's rows: the best IDF-weighted share of a row
    label's words that the question holds. A question that names a row ("What were total assets?")
    is answered by that row ("Total assets | 101,450"), more surely than by prose that also uses
    the words ("... spend more on research and development than we do")."""
    best = 0.0
    for label in labels:
        total = sum(weights.get(term, 0.0) for term in label)
        if total:
            best = max(best, sum(weights.get(term, 0.0) for term in label if term in question) / total)
    return best


def sentence_match(row: ScoringRow, weights: dict[str, float]) -> float:
    """The IDF-weighted share of the question's (stemmed) terms that the passage's best sentence
    holds. An answer sentence tends to hold the question's words together ("Hamilton County covers
    approximately 538 square miles"); a passage that has them in different sentences is more often
    about something beside the point. The re-rank weighs it (qa/search/rerank.py); the abstention
    measures it (qa/search/assess.py)."""
    total = sum(weights.values())
    if not total or not len(row.sentences):
        return 0.0
    best = 0.0
    for held in stems_of(row):
        best = max(best, sum(weight for term, weight in weights.items() if term in held))
    return best / total
