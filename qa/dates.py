"""Document dates: read from what a file says about itself, kept as YYYY-MM-DD.

A date filter compares these strings (ISO dates sort as they compare). A time of day and a time
zone are dropped: a document "from 2024-03-05" is from that day wherever it is read.

Example: parse_date("2024-03-05T23:10:00+01:00") -> "2024-03-05"; parse_date("D:20240305120000Z")
-> "2024-03-05" (a PDF date); parse_date("March 2024") -> None (not a day).
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

ISO_DAY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")
PDF_DAY = re.compile(r"^\s*(?:D:)?(\d{4})(\d{2})(\d{2})")  # D:YYYYMMDDHHmmSSOHH'mm'


def parse_date(text: str | None) -> str | None:
    """The day an ISO 8601 or PDF date names, or None when it names none."""
    if not text:
        return None
    found = ISO_DAY.match(text) or PDF_DAY.match(text)
    if not found:
        return None
    try:
        return dt.date(*(int(part) for part in found.groups())).isoformat()
    except ValueError:  # "2024-02-30"
        return None


def file_date(path: Path) -> str:
    """The day a file was last modified (local time)."""
    return dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
