"""A web page -> its main text, laid out as paragraphs, heading lines, list items and table rows.

Three steps, because no one library does all three well:

1. lxml parses the page and drops chrome found by tag (`nav`, `footer`, `script`), ARIA role,
   hidden flags and class/id words (navbox, toc, reflist, mw-editsection, breadcrumb, cookie...).
2. The rest is walked into blocks: a paragraph per `<p>` (or per run of text between `<br><br>`,
   as older pages write them), one line per heading, list item and table row (cells joined by
   " | "). The chunker cuts at the blank lines between blocks, so passages stay short.
3. trafilatura (the well-kept main-text extractor) decides which blocks are the article: a block is
   kept when trafilatura's text contains most of it. Sections under headings such as "References",
   "External links" or "See also" are dropped whole. If trafilatura finds nothing, all blocks stay.

Example: `<h2>History<span class="mw-editsection">[edit]</span></h2><p>Founded in 1901.<sup
class="reference">[1]</sup></p>` -> "History\n\nFounded in 1901."

Decoding and hostile markup: the bytes are decoded as a browser decodes them (a BOM, else the
charset a <meta> or XML declaration names, else UTF-8 when they are, else a guess from the
bytes: w3lib, the Scrapy project's), so KOI8-R, Shift_JIS and UTF-16 (with its BOM) pages read
right. A DOCTYPE's internal subset (`<!DOCTYPE html [<!ENTITY ...>]>`), which HTML parsers leave
as the text "]>", is dropped. libxml2 parses up to PARSER_DEPTH levels of nesting (a page nested
deeper is refused, rather than read cut short); elements nested deeper than MAX_DEPTH keep their
text but not their structure, so the walk below never recurses past it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html
from w3lib.encoding import html_to_unicode

from qa.dates import parse_date
from qa.documents import MAX_TITLE_CHARS, Document, make_document
from qa.errors import UnreadableFile

PARSER_DEPTH = 2048  # libxml2's limit with huge_tree (256 without): deeper, it stops reading the page
MAX_DEPTH = 200  # deeper elements are read as their text: blocks_of recurses once or twice a level
# A DOCTYPE with an internal subset; quoted strings may hold "]" or ">". Linear: the alternatives
# start with different characters.
DOCTYPE_SUBSET = re.compile(r"""<!DOCTYPE\b[^\[>]*\[(?:[^\]"']|"[^"]*"|'[^']*')*\]\s*>""", re.IGNORECASE)
PROLOG_CHARS = 4096  # where a DOCTYPE may stand: after an XML declaration and comments

# Elements that are never article text.
DROP_TAGS = {
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "form",
    "button", "select", "input", "textarea", "nav", "footer", "aside", "menu", "head", "title", "meta",
    "link", "map", "audio", "video", "dialog",
}
DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar",
              "toolbar", "dialog", "alertdialog", "tablist", "doc-noteref", "doc-backlink"}
# Whole class/id words (after splitting on space, "-" and "_" too for the compound ones below).
CHROME_WORDS = {
    "nav", "navbar", "navbox", "navigation", "menu", "sidebar", "breadcrumb", "breadcrumbs", "toc",
    "toclimit", "footer", "reflist", "references", "refbegin", "catlinks", "printfooter", "noprint",
    "editsection", "cookie", "cookies", "consent", "newsletter", "subscribe", "share", "sharing",
    "social", "advert", "advertisement", "ads", "sponsored", "related", "comments", "skip", "jump",
    "masthead", "banner", "popup", "modal", "sronly", "metadata", "ambox", "hatnote",
}
# Tokens matched whole (so "mw-editsection" and "reference" in `sup class="reference"` are caught,
# but "content-references-section" is not split into a false positive).
CHROME_TOKENS = {
    "mw-editsection", "mw-jump-link", "mw-navigation", "mw-panel", "mw-head", "mw-indicators",
    "mw-references-wrap", "reference", "sr-only", "visually-hidden", "screen-reader-text",
    "vertical-navbox", "site-footer", "site-header", "skip-link", "mbox-small", "sistersitebox",
}
# Headings whose whole section is apparatus, not article (lower-cased; "Notes and references" is
# two of them joined).
APPARATUS_HEADING = (r"(references?|notes?|footnotes|citations|sources|bibliographic notes|external links?|"
                     r"see also|further reading|related( \w+){0,3}|navigation menu|(table of )?contents|"
                     r"share this( \w+)?|comments?|leave a (comment|reply)|about the author|links)")
CHROME_HEADINGS = re.compile(rf"^{APPARATUS_HEADING}((,| and| &| /) {APPARATUS_HEADING})*$")
BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "blockquote", "pre", "ul", "ol", "dl", "dt",
    "dd", "li", "table", "tr", "td", "th", "thead", "tbody", "tfoot", "caption", "figure",
    "figcaption", "address", "center", "details", "summary", "hr", "body", "html",
} | {f"h{n}" for n in range(1, 7)}
HEADINGS = {f"h{n}": n for n in range(1, 7)}
EDIT_MARK = re.compile(r"\s*\[\s*edit( source)?\s*\]\s*$", re.IGNORECASE)
TITLE_SEPARATOR = re.compile(r"\s+(?:[-|\u2013\u2014\u00b7:]{1,2})\s+")


@dataclass
class Block:
    kind: str  # "heading", "paragraph", "item" (a list item) or "row" (a table row)
    text: str
    level: int = 0  # heading level, 1-6


def read(data: bytes, source: str) -> Document:
    return parse_html(decode_html(data), source)


def decode_html(data: bytes) -> str:
    """A page's bytes as text, decoded the way a browser does (see the module docstring)."""
    return html_to_unicode(None, data)[1]


def parse_html(html: str, source: str) -> Document:
    if not html.strip():
        return make_document("", source)
    head = DOCTYPE_SUBSET.sub("<!DOCTYPE html>", html[:PROLOG_CHARS], count=1)
    parser = lxml_html.HTMLParser(encoding="utf-8", huge_tree=True)  # decoded already: a <meta> charset is moot
    try:
        root = lxml_html.document_fromstring((head + html[PROLOG_CHARS:]).encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError):
        return make_document("", source)
    if any("Excessive depth" in error.message for error in parser.error_log):
        raise UnreadableFile(f"{source}: its elements are nested more than {PARSER_DEPTH} levels deep, past what "
                             f"the HTML parser reads; refusing it rather than reading it cut short.")
    flatten_deep(root, MAX_DEPTH)
    titles, site = title_candidates(root)  # read first: the <head> goes with the chrome
    date = published_date(root)
    metadata = {key: value for key, value in (("site_name", site), ("author", meta_content(root, "author", "article:author")),
                                              ("publisher", meta_content(root, "publisher", "og:publisher"))) if value}
    drop_chrome(root)
    title = page_title(titles, site, first_h1(root))
    blocks = drop_apparatus(blocks_of(root))
    blocks = main_blocks(blocks, root)
    document = make_document(layout(blocks), source, title=title, metadata=metadata)
    document.date = date
    return document


def flatten_deep(root: etree._Element, limit: int) -> None:
    """Each element `limit` levels deep keeps its whole text (its descendants' words, space-joined)
    as its own, and loses its children. A walk of lxml's (no recursion here).

    Example: limit 2, <body><div><p>a<b>b</b></p><p>c</p></div></body> -> <body><div>a b c</div></body>."""
    depth, deepest = 0, []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if event == "start" and depth == limit and len(element):
            deepest.append(element)
    for element in deepest:
        text = " ".join(" ".join(element.itertext()).split())
        for child in list(element):
            element.remove(child)
        element.text = text


# -- 1. chrome ----------------------------------------------------------------------------------

def is_chrome(element: etree._Element) -> bool:
    tag = element.tag
    if tag in DROP_TAGS:
        return True
    if tag == "header" and not any(a.tag in ("article", "main") for a in element.iterancestors()):
        return not element.xpath(".//h1")  # a page banner, unless it holds the article's headline
    attrs = element.attrib
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role", "").lower() in DROP_ROLES:
        return True
    style = attrs.get("style", "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    names = f"{attrs.get('class', '')} {attrs.get('id', '')}".lower().split()
    if not names:
        return False
    if any(name in CHROME_TOKENS for name in names):
        return True
    words = {word for name in names for word in re.split(r"[-_]", name)}
    return bool(words & CHROME_WORDS) and tag not in ("body", "html", "main", "article")


def drop_chrome(root: etree._Element) -> None:
    """Drop chrome in place. An element marked as chrome only by its class, id or role that holds
    most of the page's text is a wrapper ("page has-sidebar"), so it stays."""
    total = len(root.text_content())
    doomed = [el for el in root.iter() if not isinstance(el.tag, str) or is_chrome(el)]
    for element in doomed:
        wrapper = isinstance(element.tag, str) and element.tag not in DROP_TAGS and element.tag != "header"
        if wrapper and len(element.text_content()) * 2 > total:
            continue
        if element.getparent() is not None:
            element.drop_tree()  # keeps the element's tail text, which belongs to its parent


# -- 2. blocks ----------------------------------------------------------------------------------

def raw_text(element: etree._Element, skip: frozenset[str] = frozenset()) -> str:
    """An element's text as written, with <br> and nested blocks as line breaks; descendants whose
    tag is in `skip` are left out with the text that follows them."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str):
            if child.tag in skip:
                continue
            if child.tag == "br":
                parts.append("\n")
            elif child.tag in BLOCK_TAGS:
                parts += ["\n", raw_text(child, skip), "\n"]
            else:
                parts.append(raw_text(child, skip))
        parts.append(child.tail or "")
    return "".join(parts)


def fold_lines(raw: str) -> str:
    """HTML white space: runs fold to one space; the line breaks from <br> stay; empty lines go."""
    lines = (" ".join(line.split()) for line in raw.split("\n"))
    return "\n".join(line for line in lines if line)


def inline_text(element: etree._Element) -> str:
    return fold_lines(raw_text(element))


def blocks_of(root: etree._Element) -> list[Block]:
    """Walk the tree in reading order into blocks; inline runs become paragraphs."""
    blocks: list[Block] = []
    run: list[str] = []

    def flush() -> None:
        text = fold_lines("".join(run))
        run.clear()
        if text:
            blocks.append(Block("paragraph", text))

    def visit(el: etree._Element) -> None:
        tag = el.tag
        if tag in HEADINGS:
            flush()
            text = EDIT_MARK.sub("", " ".join(inline_text(el).split()))
            if text:
                blocks.append(Block("heading", text, HEADINGS[tag]))
        elif tag == "table" and not is_layout_table(el):
            flush()
            caption = el.find("caption")
            if caption is not None and inline_text(caption):
                blocks.append(Block("paragraph", " ".join(inline_text(caption).split())))
            for row in el.iter("tr"):
                cells = [inline_text(c).replace("\n", "; ") for c in row if c.tag in ("td", "th")]
                if any(cells):
                    blocks.append(Block("row", " | ".join(c for c in cells if c)))
        elif tag in ("li", "dt", "dd") and not has_blocks_beyond_lists(el):
            flush()
            own = own_text_without_lists(el)
            if own:
                blocks.append(Block("item", own))
            for sub in el:
                if isinstance(sub.tag, str) and sub.tag in ("ul", "ol", "dl"):
                    visit(sub)
        elif tag == "pre":
            flush()
            text = "\n".join(line.rstrip() for line in el.text_content().splitlines() if line.strip())
            if text:
                blocks.append(Block("paragraph", text))
        elif tag in BLOCK_TAGS:
            flush()
            children(el)
            flush()
        else:  # inline: its text joins the current run
            run.append(raw_text(el))

    def children(el: etree._Element) -> None:
        if el.text:
            run.append(el.text)
        previous_br = False
        for child in el:
            if not isinstance(child.tag, str):
                pass
            elif child.tag == "br":
                if previous_br:
                    flush()  # <br><br>: a paragraph break
                else:
                    run.append("\n")
                previous_br = True
            else:
                previous_br = False
                visit(child)
            if child.tail and child.tail.strip():
                previous_br = False
                run.append(child.tail)

    children(root)
    flush()
    return blocks


LAYOUT_CELL_CHARS = 500  # a data cell holds a value or a phrase; a layout cell holds the page


def is_layout_table(table: etree._Element) -> bool:
    """A table used for page layout: a cell holds a table, a heading or a long text. Its cells
    are read as blocks; a data table's rows are read as lines ("Arch span | 503 m")."""
    for cell in table.iter("td", "th"):
        if any(el.tag in ("table", "h1", "h2", "h3", "h4", "h5", "h6") for el in cell.iterdescendants()):
            return True
        if len(cell.text_content()) > LAYOUT_CELL_CHARS:
            return True
    return False


def has_blocks_beyond_lists(item: etree._Element) -> bool:
    return any(isinstance(el.tag, str) and el.tag in ("p", "div", "table", "h1", "h2", "h3", "h4", "blockquote")
               for el in item.iterdescendants())


LISTS = frozenset({"ul", "ol", "dl"})


def own_text_without_lists(item: etree._Element) -> str:
    """An item's text without the lists nested in it (each read as items of its own), in one pass."""
    return " ".join(fold_lines(raw_text(item, LISTS)).split())


# -- 3. the article ------------------------------------------------------------------------------

def drop_apparatus(blocks: list[Block]) -> list[Block]:
    """Drop each section headed "References", "See also", ... up to the next heading as high."""
    kept: list[Block] = []
    skipping_at = 0  # the level of the apparatus heading being skipped; 0 when not skipping
    for block in blocks:
        if block.kind == "heading":
            if skipping_at and block.level > skipping_at:
                continue
            skipping_at = 0
            if CHROME_HEADINGS.match(" ".join(block.text.casefold().split()).strip(" :")):
                skipping_at = block.level
                continue
        if not skipping_at:
            kept.append(block)
    return kept


WORD = re.compile(r"\w+")
SHINGLE = 4  # words: long enough to be specific, short enough to survive a changed character


def shingles(text: str) -> list[tuple[str, ...]]:
    words = WORD.findall(text.casefold())
    return [tuple(words[i : i + SHINGLE]) for i in range(max(len(words) - SHINGLE + 1, 1))] if words else []


def main_blocks(blocks: list[Block], root: etree._Element) -> list[Block]:
    """The blocks trafilatura counts as the article, with the headings over them.

    A block counts when at least half of its 4-word runs are in trafilatura's text: trafilatura
    rewrites a little (spacing, some inline marks), so whole lines would not match exactly.
    """
    import trafilatura  # imported here: slow to import and only needed for HTML

    try:
        extracted = trafilatura.extract(root, include_comments=False, include_tables=True,
                                        favor_recall=True, output_format="txt")
    except Exception:  # noqa: BLE001 - an extractor failure leaves the whole page, not an error
        extracted = None
    runs = set(shingles(extracted or ""))
    if len(runs) < 50:
        return blocks
    squashed = " ".join(WORD.findall((extracted or "").casefold()))
    content = [b.kind == "heading" or in_article(b.text, runs, squashed) for b in blocks]
    kept: list[Block] = []
    for i, block in enumerate(blocks):
        if block.kind == "heading":
            nxt = next((j for j in range(i + 1, len(blocks))
                        if blocks[j].kind == "heading" and blocks[j].level <= block.level), len(blocks))
            if any(content[j] and blocks[j].kind != "heading" for j in range(i + 1, nxt)) or i == 0:
                kept.append(block)
        elif content[i]:
            kept.append(block)
    return kept


def in_article(text: str, article_runs: set[tuple[str, ...]], article_words: str) -> bool:
    """Half of the block's 4-word runs are in the article; a shorter block is in it whole."""
    runs = shingles(text)
    if len(runs) == 1 and len(runs[0]) < SHINGLE:
        return f" {' '.join(runs[0])} " in f" {article_words} "
    return not runs or 2 * sum(run in article_runs for run in runs) >= len(runs)


def layout(blocks: list[Block]) -> str:
    """Blank lines between blocks; list items and table rows of one run on consecutive lines."""
    out: list[str] = []
    previous = ""
    for block in blocks:
        if out:
            together = block.kind in ("item", "row") and block.kind == previous
            out.append("\n" if together else "\n\n")
        out.append(block.text)
        previous = block.kind
    return "".join(out)


# -- the date -------------------------------------------------------------------------------------

DATE_META = ("article:published_time", "og:published_time", "datepublished", "date", "dc.date", "dcterms.date",
             "dc.date.issued", "dcterms.issued", "pubdate", "publish-date", "publication_date")


def published_date(root: etree._Element) -> str | None:
    """The page's publication day from its <meta> tags (the first of DATE_META found), else None."""
    found = {}
    for el in root.iter("meta"):
        name = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().casefold()
        if name in DATE_META and name not in found:
            found[name] = el.get("content") or ""
    return next((day for name in DATE_META if (day := parse_date(found.get(name))) is not None), None)


# -- the title ------------------------------------------------------------------------------------

def meta_content(root: etree._Element, *names: str) -> str:
    """The content of the first <meta> (by property or name) of these names, white space folded."""
    for name in names:
        for el in root.xpath(f'//meta[@property="{name}" or @name="{name}"]'):
            if el.get("content", "").strip():
                return " ".join(el.get("content").split())[:500]
    return ""


def title_candidates(root: etree._Element) -> tuple[list[str], str]:
    """The page's og:title and <title>, and its site name (og:site_name), white space folded."""
    title_el = root.find(".//title")
    titles = [meta_content(root, "og:title", "twitter:title"),
              " ".join(title_el.text_content().split()) if title_el is not None else ""]
    return [t for t in titles if t], meta_content(root, "og:site_name", "application-name")


def first_h1(root: etree._Element) -> str:
    """The first <h1> left once the chrome is gone (a menu bar's h1 is the site's name)."""
    for el in root.iter("h1"):
        text = EDIT_MARK.sub("", " ".join(el.text_content().split()))
        if text:
            return text
    return ""


def page_title(titles: list[str], site: str, h1: str) -> str | None:
    """The page's own headline: og:title or <title> less a site suffix, else the first <h1>."""
    if titles:
        return strip_site(titles[0], site.casefold(), h1)[:MAX_TITLE_CHARS]
    return h1[:MAX_TITLE_CHARS] or None


def strip_site(title: str, site: str, h1: str) -> str:
    """'Otter - Wikipedia, the free encyclopedia' -> 'Otter': drop leading or trailing segments
    that name the site (its og:site_name, a wiki, a domain), or keep the segment that is the h1."""
    cuts = list(TITLE_SEPARATOR.finditer(title))
    if not cuts:
        return title
    bounds = [0] + [m.end() for m in cuts]
    ends = [m.start() for m in cuts] + [len(title)]
    parts = [title[b:e] for b, e in zip(bounds, ends)]

    def names_site(part: str) -> bool:
        part = part.casefold()
        return bool(site) and (site in part or part in site) or bool(
            re.search(r"\bwiki(pedia)?\b|\bfandom\b|\b[\w-]+\.(com|org|net|gov|edu|io|co|uk)\b", part))

    if h1 and not names_site(h1) and any(" ".join(p.split()).casefold() == h1.casefold() for p in parts):
        return h1

    first, last = 0, len(parts) - 1
    while last > first and names_site(parts[last]):
        last -= 1
    while first < last and names_site(parts[first]):
        first += 1
    return title[bounds[first] : ends[last]]
