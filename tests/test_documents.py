from __future__ import annotations


import pytest

from qa.documents import clean_text, decode
from qa.readers import iter_files, parse_bytes, read_document
from qa.errors import UnsupportedFile
from tests.conftest import SEEDS

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
    text = read_document(SEEDS / "002_aadcb0dba0a30b9a.txt").text
    assert text.count("Welcome back to World Brief") == 1
    assert text.count("The Trump administration delivered a stark message") == 1
    assert text.count("Hegseth Rules Out U.S. Peacekeeping in Ukraine") == 1


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
