"""A large index of distinct real text, with questions that have one right answer: built once, cached.

    .venv/bin/python bench/corpus.py [--passages 100000] [--folder DIR]

Why: an index made of copies of one corpus flatters every latency figure (tied copies fill the
candidates, and an answer comes back with one or two passages). This one is ~100k passages of which
no two are the same:

- kept whole: the eval sets xquad-en and cmu-s08 (whose questions are asked) and the seeds, as
  `corpus/<set>/<file>`;
- around them, "digest" documents recombined from the sentences of every real article at hand (those
  two sets, cmu-s08's unasked articles, the pdf-mmlongbench PDFs read by qa's own PDF reader):
  paragraphs of 3-6 sentences, each from a different article, drawn in shuffled rounds so every
  sentence is used about equally often (a fixed seed: the same corpus every time);
- an answer sentence (a sentence of an asked article holding one of its questions' answers) is
  never drawn, so each question's evidence lives in exactly one document; `build` checks that no
  other document contains one verbatim, and that no two passages are the same once indexed.

The folder (default ~/.cache/qa/bench/distinct-<N>, outside the repo) is an eval set, corpus/ and
questions.jsonl (sources as `<set>/<file>`), plus index/, built by the real `qa ingest` (about 20
minutes for 100k passages on 2 cores), and manifest.json, written last: a folder with a manifest is
reused as it is.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import blingfire

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.documents import make_document  # noqa: E402
from qa.errors import QAError  # noqa: E402
from qa.evaluation import fold, load_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.readers import iter_files, read_document, read_paths  # noqa: E402

ASKED = {"xquad-en": ROOT / "tests" / "data" / "eval" / "xquad-en",
         "cmu-s08": ROOT / "tests" / "data" / "eval" / "cmu-s08"}
EXTRA = [ROOT.parent / "shared" / "eval" / "pdf-mmlongbench" / "corpus"]  # sentences only, never kept whole
SEEDS = ROOT / "seeds"
SEED = 20240601
DOCUMENT_CHARS = 7_000  # about ten passages a digest
CALIBRATION = 200  # digests chunked by qa's own chunker to learn how many passages a character makes


def default_folder(passages: int) -> Path:
    return Path.home() / ".cache" / "qa" / "bench" / f"distinct-{passages // 1000}k"


def split_sentences(text: str) -> list[str]:
    """Sentences of each line (blingfire joins lines, so lines go in one at a time)."""
    return [s.strip() for line in text.splitlines() if line.strip()
            for s in blingfire.text_to_sentences(line).split("\n") if s.strip()]


def prose(sentence: str) -> bool:
    """A sentence worth drawing: 6-80 words, mostly letters, ending like a sentence (PDFs also give
    table cells, page numbers and headings)."""
    words = sentence.split()
    letters = sum(c.isalpha() for c in sentence)
    return 6 <= len(words) <= 80 and letters >= 0.7 * len(sentence.replace(" ", "")) and sentence[-1] in ".!?\"'”)"


def answer_sentences(text: str, answers: list[str]) -> set[str]:
    """The sentences (5 words or more: not a title line) holding one of the answers."""
    wanted = [fold(a) for a in answers if a.strip()]
    return {s for s in split_sentences(text) if len(s.split()) >= 5 and any(w in fold(s) for w in wanted)}


def write_corpus(folder: Path, passages: int, seed: int) -> dict:
    """corpus/ and questions.jsonl; returns what the manifest records about them."""
    corpus = folder / "corpus"
    questions, pool, protected, kept_texts = [], [], {}, {}
    for name, set_dir in ASKED.items():
        asked = load_questions(set_dir)
        by_source: dict[str, list[str]] = {}
        for q in asked:
            by_source.setdefault(q.source, []).extend(q.answers)
            questions.append({"id": q.id, "question": q.question, "answers": q.answers,
                              "source": f"{name}/{q.source}", "answerable": True})
        for document in read_paths([set_dir / "corpus"]):
            target = corpus / name / document.source
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((set_dir / "corpus" / document.source).read_bytes())
            kept_texts[f"{name}/{document.source}"] = document.text
            evidence = answer_sentences(document.text, by_source.get(document.source, []))
            protected[f"{name}/{document.source}"] = evidence
            pool += [(f"{name}/{document.source}", s) for s in split_sentences(document.text) if s not in evidence]
    for path in sorted(SEEDS.iterdir()):
        target = corpus / "seeds" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    for extra in EXTRA:
        for path, source in iter_files([extra]):
            try:
                text = read_document(path, source).text
            except QAError as error:  # a PDF qa refuses gives no sentences
                print(f"skipped {path}: {error}", file=sys.stderr)
                continue
            pool += [(f"{extra.parent.name}/{source}", s) for s in split_sentences(text)]
    every_answer = set().union(*protected.values())
    seen, sentences = set(), []
    for article, sentence in pool:  # distinct prose sentences, none holding an answer
        if prose(sentence) and sentence not in seen and not any(a in sentence for a in every_answer if len(a) <= len(sentence)):
            seen.add(sentence)
            sentences.append((article, sentence))
    chunker = Index(folder / "calibration", create=True)
    count = lambda text, source: len(chunker.chunk(make_document(text, source)))  # noqa: E731
    kept_passages = sum(count(text, source) for source, text in kept_texts.items())
    rng = random.Random(seed)
    deck: list[tuple[str, str]] = []
    written = digests = sampled_passages = 0
    chars_per_passage = 1.0
    wanted_chars = float("inf")
    while written < wanted_chars:
        paragraphs, size = [], 0
        used: set[str] = set()
        while size < DOCUMENT_CHARS:
            paragraph, articles = [], set()
            for _ in range(rng.randint(3, 6)):
                if not deck:
                    deck = sentences[:]
                    rng.shuffle(deck)
                article, sentence = deck.pop()
                if article in articles or sentence in used:
                    deck.insert(0, (article, sentence))  # back under the deck: used in a later round
                    continue
                articles.add(article)
                used.add(sentence)
                paragraph.append(sentence)
            if paragraph:
                paragraphs.append(" ".join(paragraph))
                size += len(paragraphs[-1])
        digests += 1
        text = f"Digest {digests:05d}\n\n" + "\n\n".join(paragraphs) + "\n"
        target = corpus / "digests" / f"{digests // 1000:02d}" / f"{digests:05d}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written += len(text)
        if digests <= CALIBRATION:
            sampled_passages += count(text, target.name)
            chars_per_passage = written / sampled_passages
            wanted_chars = (passages - kept_passages) * chars_per_passage
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return {"seed": seed, "questions": len(questions), "kept_documents": len(kept_texts) + len(list(SEEDS.iterdir())),
            "digests": digests, "pool_sentences": len(sentences), "digest_chars": written,
            "sentence_uses": round(written / sum(len(s) + 1 for _, s in sentences), 1),
            "answer_sentences": len(every_answer), "kept_passages": kept_passages,
            "chars_per_passage": round(chars_per_passage), "estimated_passages": round(kept_passages + written / chars_per_passage)}


def check_answers_unique(folder: Path) -> int:
    """No document but its own holds an answer sentence verbatim. The kept documents are searched
    whole; the digests (70 MB) sentence by sentence: each distinct digest sentence is searched for
    the answer sentence (one sentence cannot hide across two)."""
    corpus = folder / "corpus"
    answers_by_source: dict[str, list[str]] = {}
    for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        answers_by_source.setdefault(q["source"], []).extend(q["answers"])
    kept, digest_sentences = {}, set()
    for path in sorted(corpus.rglob("*.txt")):
        source = path.relative_to(corpus).as_posix()
        text = path.read_text(encoding="utf-8")
        if source.startswith("digests/"):
            digest_sentences.update(split_sentences(text))
        else:
            kept[source] = text
    digests = "\n".join(digest_sentences)
    checked, clashes = 0, []
    for source, answers in answers_by_source.items():
        for sentence in answer_sentences(kept[source], answers):
            checked += 1
            if sentence in digests or any(sentence in text for other, text in kept.items() if other != source):
                clashes.append((source, sentence))
    if clashes:
        raise SystemExit(f"{len(clashes)} answer sentences are also elsewhere, e.g. {clashes[:3]}")
    return checked


def run_ingest(folder: Path, *options: str) -> str:
    """The real `qa ingest` of the corpus (an interrupted run resumes: unchanged files are skipped)."""
    ingest = subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(folder / "corpus"),
                             "--index", str(folder / "index"), "--quiet", *options], cwd=ROOT, capture_output=True,
                            text=True)
    print(ingest.stdout + ingest.stderr, flush=True)
    if ingest.returncode:
        raise SystemExit(f"qa ingest failed: {ingest.stderr[-2000:]}")
    return ingest.stdout


def drop_duplicate_digests(folder: Path) -> int:
    """Delete the digest files holding a passage another document holds too (a kept document, else
    the first digest, keeps it); never a kept document. Returns how many went."""
    db = sqlite3.connect(f"file:{folder / 'index' / 'qa.sqlite3'}?mode=ro", uri=True)
    rows = db.execute("SELECT p.text, d.source FROM passages p JOIN documents d ON d.id = p.document_id "
                      "WHERE p.text IN (SELECT text FROM passages GROUP BY text HAVING COUNT(*) > 1) "
                      "ORDER BY p.text, d.source").fetchall()
    db.close()
    holders: dict[str, list[str]] = {}
    for text, source in rows:
        holders.setdefault(text, []).append(source)
    doomed = set()
    for sources in holders.values():  # a kept document keeps its passage, else the first digest
        keeper = min(sources, key=lambda source: (source.startswith("digests/"), source))
        doomed.update(source for source in sources if source != keeper and source.startswith("digests/"))
    for source in doomed:
        (folder / "corpus" / source).unlink(missing_ok=True)
    return len(doomed)


def check_passages_distinct(index: Path) -> tuple[int, int]:
    db = sqlite3.connect(f"file:{index / 'qa.sqlite3'}?mode=ro", uri=True)
    total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT text) FROM passages").fetchone()
    db.close()
    if total != distinct:
        raise SystemExit(f"{total - distinct} of {total} passages are duplicates")
    return total, distinct


def build(folder: Path, passages: int = 100_000, seed: int = SEED) -> dict:
    """The corpus, its questions and its index in `folder`; reused when its manifest is there."""
    manifest = folder / "manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not (folder / "questions.jsonl").is_file():
        for old in (folder / "corpus").rglob("*.txt"):
            old.unlink()
        facts = write_corpus(folder, passages, seed)
        (folder / "corpus.json").write_text(json.dumps(facts, indent=2))
    facts = json.loads((folder / "corpus.json").read_text())
    print(f"corpus: {json.dumps(facts)}", flush=True)
    facts["answer_sentences_checked"] = check_answers_unique(folder)
    # The real path users take; an interrupted run resumes (unchanged files are skipped).
    out = run_ingest(folder)
    facts["ingest"] = out.strip().splitlines()[-1]
    # A "sentence" of a PDF can be longer than a passage (a config dump with no full stop), and
    # two digests drawing it then hold the same passage: such digests go, all but the first.
    facts["digests_dropped"] = drop_duplicate_digests(folder)
    if facts["digests_dropped"]:
        run_ingest(folder, "--prune")
    facts["passages"], _ = check_passages_distinct(folder / "index")
    facts["build_seconds"] = round(time.perf_counter() - started)
    manifest.write_text(json.dumps(facts, indent=2))
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    print(json.dumps(build(args.folder or default_folder(args.passages), args.passages)))


if __name__ == "__main__":
    main()
