"""The cards qa reads for a folder of documents (qa/cards.py): each document's issuer, kind, period
and title with where each was read, and how many documents have each field, by source.

    .venv/bin/python bench/cards.py ../shared/eval/pdf-filings/corpus [--markdown]

Reads the files as an ingest does (the same readers), without embedding anything.
"""
from __future__ import annotations

import argparse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qa.readers import iter_files, read_document

FIELDS = ("issuer", "kind", "period", "title")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--markdown", action="store_true", help="a Markdown table (for bench/README.md)")
    args = parser.parse_args()
    files = list(iter_files([args.folder]))
    with ThreadPoolExecutor(2) as pool:
        documents = list(pool.map(lambda found: read_document(found[0], found[1]), files))
    found: dict[str, Counter] = {field: Counter() for field in FIELDS}
    if args.markdown:
        print("| document | issuer | kind | period (year) | aliases |")
        print("|---|---|---|---|---|")
    for document in documents:
        card = document.card
        for field in FIELDS:
            fact = getattr(card, field)
            found[field][fact.found_in if fact else "-"] += 1
        show = {field: f"{getattr(card, field).value} ({getattr(card, field).found_in})" if getattr(card, field) else "-"
                for field in FIELDS}
        year = f" [{card.year}]" if card.year else ""
        if args.markdown:
            print(f"| {document.source} | {show['issuer']} | {show['kind']} | {show['period']}{year} | "
                  f"{', '.join(card.aliases) or '-'} |")
        else:
            print(f"{document.source}\n  name: {card.name}\n  issuer: {show['issuer']}  aliases: {card.aliases}\n"
                  f"  kind: {show['kind']}\n  period: {show['period']}{year}")
    print(f"\n{len(documents)} documents; fields found, by where they were read:")
    for field in FIELDS:
        counts = ", ".join(f"{where} {n}" for where, n in found[field].most_common())
        print(f"- {field}: {counts}")


if __name__ == "__main__":
    main()
