"""Citations as the API gives them (qa/search/cite.py)."""
from __future__ import annotations

from dataclasses import asdict

from qa.search.cite import Box, Citation, Hit, Span


def test_a_hit_as_the_api_gives_it_is_every_field_of_it():
    """Hit.as_dict (written out by hand, for speed) gives what dataclasses.asdict gives, nested
    boxes, pages, printed page labels and card included, and shares nothing mutable with the hit."""
    citation = Citation("d1", "Annual report", "reports/acme-2023.pdf", 4, 1200, 1900, 3, [3, 4], None, "ab" * 32,
                        [Box(3, 50.0, 600.5, 545.0, 720.0), Box(4, 50.0, 40.0, 300.2, 90.0)], ["iii", "iv"],
                        {"name": "Acme 10-K 2023", "issuer": "Acme", "year": 2023, "aliases": ["ACME"]},
                        "Revenue | 2023 | 2022")
    hit = Hit(1, 0.912345, "Revenue grew 12%.", citation, Span(1210, 1240))
    found = hit.as_dict()
    assert found == asdict(hit)
    assert list(found) == list(asdict(hit)) and list(found["citation"]) == list(asdict(hit)["citation"])
    found["citation"]["card"]["aliases"].append("changed")
    found["citation"]["boxes"][0]["page"] = 99
    assert citation.card["aliases"] == ["ACME"] and citation.boxes[0].page == 3
