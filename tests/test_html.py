"""The HTML reader: the article's text with its layout, without the page's chrome."""
from __future__ import annotations

import pytest

from qa.errors import UnreadableFile
from qa.readers import parse_bytes

LEAD = ("The Harbour Bridge was opened in 1932 after eight years of construction. It carries rail, "
        "vehicle, bicycle and pedestrian traffic between the central business district and the north shore.")
DESIGN = ("The arch was designed by John Bradfield and built by Dorman Long of Middlesbrough, who used "
          "fifty-three thousand tonnes of steel and six million hand-driven rivets in the work.")
TOLLS = ("A toll is charged to southbound vehicles only; the money was first used to repay the loan "
         "for the bridge and now goes toward the upkeep of the harbour crossings of the city.")

WIKI_PAGE = f"""<!DOCTYPE html>
<html><head><title>Harbour Bridge - Wikipedia, the free encyclopedia</title>
<meta property="og:site_name" content="Wikipedia"></head>
<body>
<a class="mw-jump-link" href="#content">Jump to content</a>
<header class="site-header"><nav><ul><li><a href="/">Main page</a></li><li><a href="/random">Random article</a></li></ul></nav></header>
<div id="mw-navigation"><div id="mw-panel"><ul><li>Donate to Wikipedia</li><li>Community portal</li></ul></div></div>
<main id="content">
<h1 id="firstHeading">Harbour Bridge</h1>
<div class="hatnote">For other uses, see Harbour Bridge (disambiguation).</div>
<div id="toc" class="toc"><h2>Contents</h2><ul><li>1 Design</li><li>2 Tolls</li></ul></div>
<p>{LEAD}<sup class="reference"><a href="#cite-1">[1]</a></sup></p>
<h2><span class="mw-headline">Design</span><span class="mw-editsection">[<a href="#">edit</a>]</span></h2>
<p>{DESIGN}</p>
<table class="wikitable"><caption>Main span</caption>
<tr><th>Feature</th><th>Value</th></tr>
<tr><td>Arch span</td><td>503 m</td></tr>
<tr><td>Height of arch</td><td>134 m above water</td></tr>
</table>
<h2>Tolls [edit]</h2>
<p>{TOLLS}</p>
<ul><li>Cars: 4 dollars</li><li>Trucks: 9 dollars</li></ul>
<h2>References</h2>
<ol class="references"><li>Smith, J. (1990). A History of the Bridge. Sydney Press.</li></ol>
<h2>External links</h2>
<ul><li><a href="http://example.org">Official site of the bridge authority</a></li></ul>
<div class="navbox"><table><tr><td>Bridges of the world | Tunnels | Ferries | Roads</td></tr></table></div>
<div id="catlinks" class="catlinks">Categories: Bridges completed in 1932 | Steel bridges</div>
</main>
<footer id="footer"><p>This page was last edited on 1 May 2020. Text is available under the Creative Commons licence.</p></footer>
</body></html>"""


@pytest.fixture(scope="module")
def wiki():
    return parse_bytes(WIKI_PAGE.encode(), ".html", "bridge.html")


def test_main_text_kept_as_paragraphs(wiki):
    for paragraph in (LEAD, DESIGN, TOLLS):
        assert f"\n\n{paragraph}\n\n" in f"\n\n{wiki.text}\n\n"


def test_headings_stand_on_their_own_lines_without_edit_marks(wiki):
    lines = wiki.text.split("\n")
    assert "Design" in lines and "Tolls" in lines
    assert "[edit]" not in wiki.text and "edit]" not in wiki.text


@pytest.mark.parametrize("chrome", [
    "Jump to content", "Random article", "Donate to Wikipedia", "For other uses", "Contents", "1 Design",
    "[1]", "A History of the Bridge", "Official site", "Bridges of the world", "Categories:",
    "last edited", "Creative Commons",
])
def test_navigation_references_and_footer_dropped(wiki, chrome):
    assert chrome not in wiki.text


def test_a_table_is_kept_row_by_row(wiki):
    lines = wiki.text.split("\n")
    assert "Arch span | 503 m" in lines
    assert "Height of arch | 134 m above water" in lines
    assert lines.index("Arch span | 503 m") + 1 == lines.index("Height of arch | 134 m above water")


def test_list_items_each_on_a_line(wiki):
    assert "Cars: 4 dollars\nTrucks: 9 dollars" in wiki.text


def test_title_loses_the_site_suffix(wiki):
    assert wiki.title == "Harbour Bridge"
    assert wiki.type == "html"


@pytest.mark.parametrize("title, expected", [
    ("<title>Otter - Wikipedia, the free encyclopedia</title>", "Otter"),
    ('<meta property="og:title" content="Rivets in the Arch | Harbour News">'
     '<meta property="og:site_name" content="Harbour News"><title>ignored</title>', "Rivets in the Arch"),
    ("<title>Part 2 - Building the approaches</title>", "Part 2 - Building the approaches"),
    ("", "Harbour Bridge"),  # no <title>: the first h1
])
def test_title_sources(title, expected):
    page = f"<html><head>{title}</head><body><h1>Harbour Bridge</h1><p>{LEAD}</p><p>{DESIGN}</p></body></html>"
    assert parse_bytes(page.encode(), ".html", "t.html").title == expected


def test_paragraphs_written_with_double_line_breaks():
    """Older pages separate paragraphs with <br><br> and put headings between runs of text."""
    page = (f"<html><body><h1>bridge</h1><br /><br />{LEAD}<br /><br />{DESIGN}<br />"
            f"<br /><h1>Tolls</h1><br /><br />{TOLLS}<br />Second line of the same paragraph.<br /></body></html>")
    text = parse_bytes(page.encode(), ".htm", "old.htm").text
    assert text.split("\n\n") == ["bridge", LEAD, DESIGN, "Tolls", f"{TOLLS}\nSecond line of the same paragraph."]


def test_scripts_styles_and_hidden_text_dropped():
    page = (f"<html><head><style>p {{ color: red }}</style></head><body><script>var tracking = 1;</script>"
            f"<p>{LEAD}</p><div style='display: none'>Hidden promotion</div><p hidden>Also hidden</p>"
            f"<div class='cookie-banner'>We use cookies to improve your experience.</div><p>{DESIGN}</p></body></html>")
    text = parse_bytes(page.encode(), ".html", "s.html").text
    assert text == f"{LEAD}\n\n{DESIGN}"


@pytest.mark.parametrize("page", ["", "   ", "<html></html>", "<html><body><div></div></body></html>"])
def test_empty_pages_give_empty_text(page):
    assert parse_bytes(page.encode(), ".html", "e.html").text == ""


def test_a_wrapper_named_like_chrome_keeps_the_article():
    page = (f"<html><body><div class='page has-sidebar'><p>{LEAD}</p><p>{DESIGN}</p>"
            f"<div class='sidebar'>Popular this week: ten bridges</div></div></body></html>")
    text = parse_bytes(page.encode(), ".html", "w.html").text
    assert text == f"{LEAD}\n\n{DESIGN}"


def test_teasers_and_menus_without_telling_class_names_are_not_the_article():
    """trafilatura picks the article where class names say nothing ("top", "more", "bottom")."""
    teasers = "".join(f'<div class="card"><a href="/n{i}">Story number {i} about something else entirely</a></div>'
                      for i in range(8))
    page = (f"<html><head><title>Harbour wall to be rebuilt | The Daily Example</title>"
            f"<meta property='og:site_name' content='The Daily Example'></head><body>"
            f"<div class='top'><a href='/'>Home</a> <a href='/news'>News</a> <a href='/sport'>Sport</a></div>"
            f"<div class='story'><h1>Harbour wall to be rebuilt</h1><p>{LEAD}</p><p>{DESIGN}</p><p>{TOLLS}</p></div>"
            f"<div class='more'><h3>More from the site</h3>{teasers}</div>"
            f"<div class='bottom'>Copyright 2024 The Daily Example.</div></body></html>")
    document = parse_bytes(page.encode(), ".html", "news.html")
    assert document.title == "Harbour wall to be rebuilt"
    assert document.text == f"Harbour wall to be rebuilt\n\n{LEAD}\n\n{DESIGN}\n\n{TOLLS}"


def test_a_layout_table_is_read_as_paragraphs_and_a_data_cell_list_as_one_line():
    layout = (f"<html><body><table><tr><td><h2>Design</h2><p>{DESIGN}</p><p>{LEAD}</p></td>"
              f"<td><ul><li>Home</li></ul></td></tr></table>"
              f"<table class='infobox'><tr><th>Materials</th><td><div><ul><li>Steel</li><li>Granite</li></ul></div></td></tr>"
              f"<tr><th>Opened</th><td>19 March 1932</td></tr></table></body></html>")
    text = parse_bytes(layout.encode(), ".html", "l.html").text
    assert f"Design\n\n{DESIGN}\n\n{LEAD}" in text
    assert "Materials | Steel; Granite\nOpened | 19 March 1932" in text


RUSSIAN = ("Москва", "Москва стоит на реке Москве. Это самый большой город страны, и в нём живут миллионы людей.")
JAPANESE = ("東京", "東京は日本の首都であり、世界でも有数の大都市である。多くの人々がこの街で暮らしている。")
GERMAN = ("Köln", "Grüße aus Köln: der Dom überragt die Altstadt, und die Brücken führen über den Rhein.")


def page(title: str, text: str, head: str = "") -> str:
    return f"<html><head>{head}<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"


@pytest.mark.parametrize("data, title, text", [
    (page(*RUSSIAN, head='<meta charset="koi8-r">').encode("koi8-r"), *RUSSIAN),
    (page(*JAPANESE, head='<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">').encode("shift_jis"),
     *JAPANESE),
    (page(*GERMAN, head='<meta charset="utf-16">').encode("utf-16"), *GERMAN),  # with its byte order mark
    (('<?xml version="1.0" encoding="koi8-r"?>' + page(*RUSSIAN)).encode("koi8-r"), *RUSSIAN),
    (page(*GERMAN).encode("cp1252"), *GERMAN),  # no charset named, not UTF-8: still read right
], ids=["koi8-r meta charset", "shift_jis http-equiv", "utf-16 bom", "xml declaration", "undeclared cp1252"])
def test_the_charset_a_page_declares_is_the_one_it_is_read_in(data, title, text):
    document = parse_bytes(data, "page.html", "page.html")
    assert document.title == title and text in document.text


@pytest.mark.parametrize("depth", [300, 1500])
def test_deep_nesting_keeps_the_text_around_and_inside_it(depth):
    """Past 256 levels libxml2 stopped reading, and the text after the nesting was lost."""
    html = ("<html><head><title>Deep</title></head><body><p>Herons wade in the shallows before the nesting.</p>"
            + "<div>" * depth + "<p>Deep inside, the kingfisher dives.</p><p>Then it rests.</p>" + "</div>" * depth
            + "<p>Egrets fly over the marsh after the nesting.</p></body></html>")
    text = parse_bytes(html.encode(), "deep.html", "deep.html").text
    for sentence in ("Herons wade", "kingfisher dives", "Then it rests", "Egrets fly"):
        assert sentence in text


def test_nesting_past_what_the_parser_reads_is_refused_not_cut_short():
    html = "<html><body><p>Before.</p>" + "<div>" * 3000 + "deep" + "</div>" * 3000 + "<p>After.</p></body></html>"
    with pytest.raises(UnreadableFile, match="nested more than 2048 levels"):
        parse_bytes(html.encode(), "deeper.html", "deeper.html")


def test_a_doctype_internal_subset_is_not_the_title():
    html = ('<!DOCTYPE html [\n  <!ENTITY company "Acme > Co">\n  <!ELEMENT note (#PCDATA)>\n]>\n'
            "<html><body><p>Herons wade in the shallows of the river every morning.</p></body></html>")
    document = parse_bytes(html.encode(), "subset.html", "subset.html")
    assert document.title == "Herons wade in the shallows of the river every morning."
    assert "]>" not in document.text and document.text.startswith("Herons")
