from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.chunking import split_passages
from qa.documents import clean_text, decode, document_id, furniture_blocks
from qa.readers import iter_files, parse_bytes, read_document
from qa.errors import UnsupportedFile
from tests.conftest import SEEDS

SEED_FILES = sorted(SEEDS.glob("*.txt"))

FURNITURE_LINES = {"subscribe", "view comments", "join the conversation", "log out", "cancel",
                   "already a subscriber?", "not your account?", "change your username |", "change your username:", ".", "-"}
COMMENT_BOX = ["comment guidelines", "Confirm your username", "default username", "Commenting on this"]


def test_seed_article_loses_page_furniture():
    text = read_document(SEEDS / "002_aadcb0dba0a30b9a.txt").text
    lines = {line.strip().casefold() for line in text.split("\n")}
    assert not lines & FURNITURE_LINES
    for sentence in COMMENT_BOX:
        assert sentence not in text
    # ...but the article's own sentence that mentions subscribing stays.
    assert "Make sure to subscribe to FP’s Situation Report" in text


def test_repeated_paragraphs_are_kept_once():
    """The scraped page holds its opening (standfirst, heading, first paragraph) twice."""
    text = read_document(SEEDS / "002_aadcb0dba0a30b9a.txt").text
    assert text.count("Welcome back to World Brief") == 1
    assert text.count("The Trump administration delivered a stark message") == 1
    assert text.count("Is Europe on Its Own?") == 1  # the heading inside the repeated run goes with it
    # A short line repeated on its own is the document's: the page title, then the headline.
    assert text.count("Hegseth Rules Out U.S. Peacekeeping in Ukraine") == 2


def whitespace_tokens(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_passages_hold_no_furniture_and_no_duplicates(path):
    document = read_document(path)
    passages = split_passages(document, whitespace_tokens, target_tokens=60, max_tokens=100)
    texts = [" ".join(p.text.split()) for p in passages]
    assert len(texts) == len(set(texts))
    paragraphs = [line for line in document.text.split("\n") if len(line.split()) >= 8]
    assert len(paragraphs) == len(set(paragraphs)), "a paragraph is in the text twice"
    lines = {line.strip().casefold() for p in passages for line in p.text.split("\n")}
    assert not lines & FURNITURE_LINES


MARKDOWN = """# Release checklist

| Step | Owner | Done |
|------|:-----:|-----:|
| Build | CI | yes |
| Test | CI | yes |
| Test | CI | yes |

Is the build green?

Yes.

Is the changelog written?

Yes.

## Notes

---

Keep the tag name short.

## Notes

Tag names are lower-case.

```python
def f():
    return {
    }
```

```python
def g():
    return {
    }
```
"""


def test_markdown_keeps_every_line_of_content():
    """Tables, repeated short paragraphs, repeated headings, rules and code are the document's."""
    assert clean_text(MARKDOWN) == MARKDOWN.strip()


@pytest.mark.parametrize("line", [
    "To get started, install the package with pip.",
    "Enter your username and password on the sign-in page.",
    "Commenting on this, the minister said the plan was sound.",
    "Privacy Policy",
    "This privacy policy explains what we collect and why.",
    "|---|---|",
    "***",
    "}",
])
def test_lines_of_content_that_look_like_furniture_survive(line):
    assert clean_text(f"Intro.\n\n{line}\n\nOutro.") == f"Intro.\n\n{line}\n\nOutro."


@pytest.mark.parametrize("line", ["Subscribe", "View Comments", "-", ".", "Privacy Policy | Terms of Use",
                                  "© 2025 Example News. All rights reserved.", "Read more", "Sign in"])
def test_furniture_lines_still_go(line):
    assert clean_text(f"Intro.\n{line}\n{PROSE}") == f"Intro.\n{PROSE}"


TEASERS = [
    "The Domino Theory Is Coming for Putin",
    "How Denmark Can Hit Back Against Trump on Greenland",
    "This Could Be ‘Peak Trump’",
    "The National Security Establishment Needs Working-Class Americans",
    "How Gaza Shattered the West’s Mythology",
    "Pope Francis Is Ready to Take on MAGA",
    "Trump Accidentally Sowed Chaos at the Post Office",
]


def test_no_seed_passage_quotes_a_teaser_for_another_article():
    document = read_document(SEEDS / "002_aadcb0dba0a30b9a.txt")
    passages = split_passages(document, whitespace_tokens, target_tokens=60, max_tokens=100)
    for teaser in TEASERS + ["Copenhagen has leverage", "Alexandra Sharp is the World Brief writer"]:
        assert not [p for p in passages if teaser in p.text], teaser


def test_the_seed_article_keeps_all_its_own_paragraphs():
    """Every paragraph of the article (the raw file up to its author line, once each) is in the text."""
    raw = (SEEDS / "002_aadcb0dba0a30b9a.txt").read_text(encoding="utf-8").split("\n")
    article = raw[:raw.index(next(line for line in raw if line.startswith("Alexandra Sharp is")))]
    text = read_document(SEEDS / "002_aadcb0dba0a30b9a.txt").text
    most_read = {"Today’s Most Read"} | {line for line in article if line.startswith("- ")}
    paragraphs = {line for line in article if line.strip() and line not in most_read}
    assert len(paragraphs) == 23
    assert [p for p in paragraphs if p not in text] == []
    assert "Hegseth will meet with fellow NATO defense ministers on Thursday" in text
    assert "What We’re Following\nRenewing war." in text  # a section heading after a teaser list stays
    assert text.endswith("we’re all proud Canadians.”")


PROSE = ("Kingfishers hunt from a perch above clear, slow water, watching for small fish; when one rises "
         "they drop head first, wings folded, and come up with it crosswise in the bill, then beat it on a "
         "branch before swallowing it whole, head first.")
MADE_UP = f"""How Kingfishers Fish

{PROSE}

Related

Herons Return to the Thames
- Why Otters Are Back in Every County
Photo: a grebe. Grebes Carry Their Young on Their Backs
Fewer pesticides and cleaner water helped.

Our Region

{PROSE.replace("Kingfishers", "Young birds")}

You may also like:
- Ten Rivers to Walk This Spring
- The Return of the Beaver

Sign up for our weekly newsletter

Get the best stories in your inbox every Friday.
Jo Bloggs is a staff writer at Nature Daily."""


def test_a_related_block_goes_and_the_article_stays():
    text = clean_text(MADE_UP)
    for teaser in ("Herons Return", "Otters Are Back", "Grebes Carry", "Fewer pesticides", "Ten Rivers",
                   "the Beaver", "newsletter", "inbox every Friday", "Jo Bloggs"):
        assert teaser not in text, teaser
    assert text == f"How Kingfishers Fish\n\n{PROSE}\n\nOur Region\n\n{PROSE.replace('Kingfishers', 'Young birds')}"


def test_a_block_heading_with_prose_under_it_is_not_a_block():
    """"More from the survey" over a real paragraph is a section of the article."""
    text = f"Intro.\n\nMore from the survey\n\n{PROSE}\n\nRelated\n\n{PROSE.replace('Kingfishers', 'Terns')}"
    assert clean_text(text) == text


def test_furniture_blocks_on_plain_lines():
    """The HTML reader's text goes through the same rule (make_document cleans it)."""
    lines = [PROSE, "More from The Daily", "Photo. Herons Are Back", "Why the river is clean again.",
             "Our Region", PROSE]
    assert furniture_blocks(lines) == [1, 2, 3]


def test_an_html_page_loses_its_more_from_block(tmp_path):
    page = tmp_path / "kingfishers.html"
    page.write_text(
        f"<html><body><article><h1>How kingfishers fish</h1><p>{PROSE}</p><h2>More from Nature Daily</h2>"
        "<p>Photo of a heron on the bank. Herons Return to the Thames</p>"
        "<p>The river is cleaner than it has been for a century.</p>"
        "<p>A dog swimming. Why Otters Are Back in Every County</p><p>Fewer pesticides, more fish.</p>"
        "</article></body></html>")
    text = read_document(page).text
    assert PROSE in text
    assert "Herons Return" not in text and "Otters" not in text and "More from" not in text


def test_title_is_the_first_line_and_source_the_file_name():
    document = read_document(SEEDS / "002_aadcb0dba0a30b9a.txt")
    assert document.title == "Hegseth Rules Out U.S. Peacekeeping in Ukraine"
    assert document.source == "002_aadcb0dba0a30b9a.txt"
    assert len(document.hash) == 64 and len(document.id) == 16


def test_html_is_reduced_to_the_article(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Otters - Wildlife Site</title><script>var tracking = 1;</script></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav>"
        "<article><h1>Otters</h1><p>An otter's den is called a holt. Otters are amphibious carnivorous mammals "
        "found on every continent except Australia and Antarctica.</p><p>Most otters eat fish, supplemented "
        "by frogs, crayfish and crabs; some are expert at opening shellfish.</p></article>"
        "<footer>Subscribe to our newsletter. Copyright 2025.</footer></body></html>"
    )
    document = read_document(page)
    assert "An otter's den is called a holt." in document.text
    assert "frogs, crayfish and crabs" in document.text
    assert "tracking" not in document.text and "About us" not in document.text
    assert document.title.startswith("Otters")


def test_sources_are_relative_to_the_folder_given(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.md").write_text("# Deep\n\nText.")
    (tmp_path / "top.txt").write_text("Top\n\nText.")
    (tmp_path / "skip.exe").write_bytes(b"MZ")
    (tmp_path / ".hidden.txt").write_text("secret")
    found = {source for _, source in iter_files([tmp_path])}
    assert found == {"a/b/deep.md", "top.txt"}
    assert {source for _, source in iter_files([tmp_path / "top.txt"])} == {"top.txt"}


def test_markdown_title_drops_the_hashes():
    assert parse_bytes(b"# A heading\n\nBody text.", ".md", "x.md").title == "A heading"


@pytest.mark.parametrize("data, expected", [
    ("caf\u00e9 na\u00efve".encode("utf-8"), "caf\u00e9 na\u00efve"),
    ("caf\u00e9 \u201cquoted\u201d".encode("cp1252"), "caf\u00e9 \u201cquoted\u201d"),
    (b"\xef\xbb\xbfbom first", "bom first"),
])
def test_decoding_never_fails(data, expected):
    assert decode(data) == expected


def test_cleaning_normalises_line_ends_and_drops_control_characters():
    assert clean_text("one\r\ntwo\x00\x07\rthree") == "one\ntwo\nthree"


def test_mis_decoded_text_is_kept_as_the_source_has_it():
    """Mojibake is made of C1 characters; dropping them would cite text the source does not contain."""
    assert clean_text("Nadia Com\u00c4\u0083neci scored a ten.") == "Nadia Com\u00c4\u0083neci scored a ten."


def test_unsupported_file_is_refused_clearly(tmp_path):
    path = tmp_path / "report.xlsx"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(UnsupportedFile, match="unsupported file type .xlsx"):
        read_document(path)


# Every character str.splitlines breaks a line at, then control characters and a direction override.
SEPARATORS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
CONTROLS = "\x00\t\x1b\x7f\x9b\u202e"
PART = st.one_of(st.sampled_from(["", "default", "team-b", "/srv/docs", "report.pdf"]),
                 st.text(alphabet="ab/" + SEPARATORS + CONTROLS, max_size=5))


@pytest.mark.parametrize("character", SEPARATORS + CONTROLS)
def test_a_separator_in_a_source_or_folder_never_makes_another_documents_id(character):
    """The id once hashed collection + "\\n" + source, so "team-b\\nreport.pdf" in default was team
    B's report.pdf; folders (origins) were joined the same way."""
    assert document_id(f"team-b{character}report.pdf") != document_id("report.pdf", "", "team-b")
    assert document_id(f"docs{character}report.pdf", "/srv") != document_id("report.pdf", f"/srv{character}docs")
    assert document_id("report.pdf", f"/srv{character}x") != document_id(f"x{character}report.pdf", "/srv")
    assert document_id("report.pdf", "", f"team-b{character}") != document_id(f"{character}report.pdf", "", "team-b")


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(first=st.tuples(PART, PART, PART), second=st.tuples(PART, PART, PART))
def test_two_different_places_never_share_an_id(first, second):
    """(source, origin, collection): whatever the strings hold, two different ones get two ids."""
    if first != second:
        assert document_id(*first) != document_id(*second)


def test_ids_of_ordinary_names_are_those_from_before():
    """An index built before keeps its ids: citations, links and cached pages still point right."""
    assert document_id("report.pdf") == hashlib.sha256(b"report.pdf").hexdigest()[:16]
    assert document_id("a/report.pdf", "/srv/docs", "team-b") == \
        hashlib.sha256(b"team-b\n/srv/docs\na/report.pdf").hexdigest()[:16]
