"""Test PDFs built with fpdf2, each with text known to stand on a known page.

Text is placed line by line (fpdf2's `text` at a baseline), so the line breaks, columns and table
cells are exactly what the tests expect the reader to undo. Importable by any test: `from pdfs import ...`.
"""
from __future__ import annotations

import io

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 612, 792  # US letter, in points
LEFT, TOP, BOTTOM = 72, 100, 700
HEADER = "Tide Office Annual Report 2024"

# The running-report document: page number -> paragraphs (each a list of lines, as printed).
REPORT_PAGES = 5
ON_PAGE_3 = "The lighthouse keeper counted ninety-one ships in the third week of March."
HYPHENATED = ["Ships from the inter-", "national lanes were logged by a well-", "known pilot called Ada Brightwater."]
# A paragraph that ends page 2 mid-sentence and runs on at the top of page 3.
RUN_ON = ("The night crew then repaired the old fog horn, which had been silent since the storm of the previous "
          "winter and which the harbour master had promised to replace before the summer fair began.")

TWO_COLUMN_TITLE = "Tidal Patterns in Two Columns"
COLUMN_ONE = ("Alpha tides rise twice each day along the northern shore. Alpha currents turn slowly near the "
              "old pier where the fishing boats wait. Alpha water is cold in every season of the year. "
              "Alpha storms arrive from the west and leave by the morning.")
COLUMN_TWO = ("Beta tides follow the moon across the southern bay. Beta currents run fast past the chalk "
              "cliffs and the sandbanks. Beta water warms quickly in the short summer months. Beta "
              "sailors read the sky before they leave the harbour.")
TABLE = [("Harbour", "Ships", "Tonnes"), ("Dover", "412", "9300"), ("Calais", "388", "8100"),
         ("Ostend", "97", "2250")]
SCANNED_WORDS = ["HARBOUR LIGHTS INSPECTION", "The beacon was repaired in April"]


def new_pdf(title: str | None = None) -> FPDF:
    pdf = FPDF(unit="pt", format="letter")
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    return pdf


def lines_at(pdf: FPDF, x: float, y: float, lines: list[str], leading: float = 14) -> float:
    """Print lines from baseline y down; the baseline after the last line."""
    for line in lines:
        pdf.text(x, y, line)
        y += leading
    return y


def wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Greedy word wrap to `width` points in the current font."""
    lines: list[str] = []
    for word in text.split():
        if lines and pdf.get_string_width(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def filler(page: int, count: int) -> str:
    return " ".join(f"Entry {page}.{i} of the harbour log notes calm water, steady wind and a clear sky over the "
                    f"mooring posts." for i in range(count))


def report_pdf(title: str | None = "Harbour Report") -> bytes:
    """Five pages with a running header, a "Page N of 5" footer and a lone page number, words
    hyphenated across lines (page 2), RUN_ON running from the foot of page 2 to the top of page 3,
    and ON_PAGE_3 on page 3."""
    pdf = new_pdf(title)
    for page in range(1, REPORT_PAGES + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.text(LEFT, 40, HEADER)
        pdf.text(LEFT, 760, f"Page {page} of {REPORT_PAGES}")
        pdf.text(WIDTH - LEFT - 10, 760, str(page))
        pdf.set_font("Helvetica", size=11)
        y = float(TOP)
        if page == 1:
            pdf.set_font("Helvetica", "B", size=18)
            pdf.text(LEFT, y, "Harbour Report for the Year")
            pdf.set_font("Helvetica", size=11)
            y += 36
        run_on = wrap(pdf, RUN_ON, WIDTH - 2 * LEFT)
        if page == 3:
            y = lines_at(pdf, LEFT, y, run_on[-1:]) + 10
            y = lines_at(pdf, LEFT, y, [ON_PAGE_3]) + 10
        y = lines_at(pdf, LEFT, y, wrap(pdf, filler(page, 4), WIDTH - 2 * LEFT)) + 10
        if page == 2:
            y = lines_at(pdf, LEFT, y, HYPHENATED) + 10
            lines_at(pdf, LEFT, BOTTOM - 14 * (len(run_on) - 2), run_on[:-1])
            continue
        lines_at(pdf, LEFT, y, wrap(pdf, filler(page + 20, 3), WIDTH - 2 * LEFT))
    return bytes(pdf.output())


def two_column_pdf() -> bytes:
    """A full-width title over two columns whose lines are printed row by row (left, right, left...),
    so only their positions say which column a line is in."""
    pdf = new_pdf()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", size=18)
    pdf.text(LEFT, TOP, TWO_COLUMN_TITLE)
    pdf.set_font("Helvetica", size=10)
    column = (WIDTH - 2 * LEFT - 24) / 2
    one, two = wrap(pdf, COLUMN_ONE, column), wrap(pdf, COLUMN_TWO, column)
    y = TOP + 40.0
    for i in range(max(len(one), len(two))):
        if i < len(one):
            pdf.text(LEFT, y, one[i])
        if i < len(two):
            pdf.text(LEFT + column + 24, y, two[i])
        y += 13
    return bytes(pdf.output())


# The numbered-after-a-cover document: the same sentence about the harbour fee on pages 2 to 5, with a
# different fee on each; each page prints its own number in the footer, counting from 1 after the cover.
FEE_PAGES = 5
FEE_PAGE_TOPICS = {2: "gulls nets rope tar", 3: "ferry clock bell lantern", 4: "crab pots oars sails",
                   5: "chapel market bakery inn"}


def fee_sentence(page: int) -> str:
    return f"The mooring fee for a fishing boat is {20 + page} pounds a night in season."


def fee_page_text(page: int) -> str:
    """The fee sentence and sentences of words found on no other page (so no page repeats another)."""
    words = FEE_PAGE_TOPICS[page].split()
    return fee_sentence(page) + " " + " ".join(
        f"The {words[i % 4]} by the {words[(i + 1) % 4]} were counted {i + 1} times near the {words[(i + 2) % 4]}."
        for i in range(10))


def numbered_after_cover_pdf(labels: bool = False) -> bytes:
    """A cover, then pages whose footers print "Tide Office | N" with N = physical page - 1, each page
    holding fee_sentence(page). With `labels`, the PDF also carries page labels (roman numeral "i" for
    the cover, then 1, 2, ...), as typeset reports do."""
    pdf = new_pdf("Harbour Fees")
    for page in range(1, FEE_PAGES + 1):
        pdf.add_page()
        if labels:
            pdf.set_page_label("r" if page == 1 else "D", label_start=1 if page <= 2 else None)
        if page == 1:
            pdf.set_font("Helvetica", "B", size=24)
            pdf.text(LEFT, 300, "Harbour Fees")
            pdf.set_font("Helvetica", size=11)
            continue
        pdf.set_font("Helvetica", size=9)
        pdf.text(LEFT, 760, f"Tide Office | {page - 1}")
        pdf.set_font("Helvetica", size=11)
        lines_at(pdf, LEFT, TOP, wrap(pdf, fee_page_text(page), WIDTH - 2 * LEFT))
    return bytes(pdf.output())


def table_pdf() -> bytes:
    """A paragraph, a three-column table of figures, another paragraph."""
    pdf = new_pdf()
    pdf.add_page()
    y = lines_at(pdf, LEFT, TOP, wrap(pdf, "Ships and cargo by harbour for the spring season are set out in "
                                     "the table below, counted by the port officers.", WIDTH - 2 * LEFT)) + 14
    for row in TABLE:
        for x, cell in zip((LEFT, LEFT + 200, LEFT + 330), row):
            pdf.text(x, y, cell)
        y += 16
    lines_at(pdf, LEFT, y + 14, wrap(pdf, "The counts exclude pleasure craft and the ferries that cross every "
                                     "hour between the two coasts.", WIDTH - 2 * LEFT))
    return bytes(pdf.output())


def scanned_pdf() -> bytes:
    """Page 1 is text; page 2 is only a picture of SCANNED_WORDS (no text layer); page 3 is blank."""
    pdf = new_pdf()
    pdf.add_page()
    lines_at(pdf, LEFT, TOP, ["This report has a scanned page after this one."])
    pdf.add_page()
    image = Image.new("L", (1275, 1650), 255)  # letter at 150 dpi
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    for i, words in enumerate(SCANNED_WORDS):
        draw.text((150, 200 + 90 * i), words, fill=0, font=font)
    png = io.BytesIO()
    image.save(png, format="PNG")
    pdf.image(png, x=0, y=0, w=WIDTH, h=HEIGHT)
    pdf.add_page()
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    pdf = new_pdf()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    lines_at(pdf, LEFT, TOP, ["Nobody reads this without the password."])
    return bytes(pdf.output())


def long_pdf(pages: int = 2000) -> bytes:
    """A ledger of `pages` pages, one entry on each: long, but an ordinary document."""
    pdf = new_pdf()
    for page in range(1, pages + 1):
        pdf.add_page()
        lines_at(pdf, LEFT, TOP, [f"Ledger entry {page}: the tide was logged at the quay."])
    return bytes(pdf.output())


def crowded_pdf(chars: int = 210_000) -> bytes:
    """One page carrying more characters than any real page (a text bomb)."""
    pdf = new_pdf()
    pdf.add_page()
    pdf.set_font("Helvetica", size=2)
    line = "x" * 1000
    for i in range(chars // len(line) + 1):
        pdf.text(10, 10 + (i % 380) * 2, line)
    return bytes(pdf.output())


# Annual reports of the same form over several years: what a question names (the issuer, the year)
# stands on the cover, and the answer in a statement's row that never names either.
CASH_FLOW_ROWS = ["Net income", "Depreciation and amortization", "Stock-based compensation", "Deferred income taxes",
                  "Accounts receivable", "Inventories", "Accounts payable", "Accrued liabilities",
                  "Net cash provided by operating activities", "Purchases of property and equipment",
                  "Purchases of marketable securities", "Proceeds from sales of marketable securities",
                  "Acquisitions, net of cash acquired", "Net cash used in investing activities",
                  "Proceeds from issuance of long-term debt", "Repayments of long-term debt", "Dividends paid",
                  "Repurchases of common stock", "Net cash used in financing activities",
                  "Net increase in cash and cash equivalents", "Cash and cash equivalents at beginning of year",
                  "Cash and cash equivalents at end of year", "Cash paid for interest", "Cash paid for income taxes"]


def figure(issuer: str, year: int, row: int) -> int:
    """A statement's figure for a row and year, different for every issuer, year and row."""
    return 100 + (sum(map(ord, issuer)) * 7 + year * 13 + row * 31) % 900


def filing_pdf(issuer: str, year: int, short: str) -> bytes:
    """An annual report (Form 10-K): a cover naming the issuer over the form's caption and the fiscal
    year; a page of prose that calls the issuer by its short name; a cash flow statement whose rows
    (CASH_FLOW_ROWS, two columns: the year and the year before) run on to a second page under a
    repeated header; a running footer "<Issuer> | <year> Form 10-K | <page>"."""
    pdf = new_pdf()
    pdf.add_page()
    y = lines_at(pdf, LEFT + 120, TOP, ["UNITED STATES", "SECURITIES AND EXCHANGE COMMISSION", "Washington, D.C. 20549",
                                        "", "FORM 10-K", ""]) + 10
    y = lines_at(pdf, LEFT, y, ["ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
                                f"For the fiscal year ended December 31, {year}", "", "Commission File Number 001-00000",
                                ""]) + 10
    y = lines_at(pdf, LEFT + 120, y, [issuer.upper(), "(Exact name of registrant as specified in its charter)"]) + 20
    lines_at(pdf, LEFT, y, wrap(pdf, f"Indicate by check mark whether the registrant is a well-known seasoned issuer. "
                                     f"{issuer} (\"{short}\") files this report for fiscal {year}.", WIDTH - 2 * LEFT))
    pages = [[f"{short} designs and sells harbour equipment. In fiscal {year} {short} opened two new plants and "
              f"hired engineers. {short} expects demand to grow."],
             CASH_FLOW_ROWS[:14], CASH_FLOW_ROWS[14:]]
    for number, content in enumerate(pages, start=2):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.text(LEFT, 760, f"{issuer} | {year} Form 10-K | {number}")
        pdf.set_font("Helvetica", size=11)
        if number == 2:
            lines_at(pdf, LEFT, TOP, wrap(pdf, " ".join(content * 6), WIDTH - 2 * LEFT))
            continue
        y = lines_at(pdf, LEFT, TOP, ["CONSOLIDATED STATEMENTS OF CASH FLOWS" + (" (continued)" if number == 4 else "")]) + 6
        y = lines_at(pdf, LEFT, y, ["Year Ended December 31,"])
        pdf.text(LEFT + 300, y, str(year))
        pdf.text(LEFT + 380, y, str(year - 1))
        y = lines_at(pdf, LEFT, y + 14, ["(In millions)"]) + 6
        for row in content:
            index = CASH_FLOW_ROWS.index(row)
            pdf.text(LEFT, y, row)
            pdf.text(LEFT + 300, y, f"{figure(issuer, year, index):,}")
            pdf.text(LEFT + 380, y, f"{figure(issuer, year - 1, index):,}")
            y += 16
    return bytes(pdf.output())


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written object by object (objects numbered from 1, the first the catalog)."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def slow_render_pdf(fills: int = 30) -> bytes:
    """One page with a line of text that reads at once but takes long to draw: a form filling the
    page `fills` times with a multiplying, half-transparent grey (the time grows with the square of
    `fills`: 20 s and more at 30 on this project's machine). About 1 KB."""
    import zlib

    def stream(data: bytes, entries: bytes = b"") -> bytes:
        packed = zlib.compress(data, 9)
        return b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n" % (len(packed), entries) + packed + b"\nendstream"

    form = b"/GS1 gs " + b"0.5 g 0 0 612 792 re f " * fills
    content = b"BT /F1 12 Tf 72 720 Td (The slow page of the harbour survey.) Tj ET\n/X1 Do\n"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>",
        stream(content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream(form, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                     b"/Resources << /ExtGState << /GS1 << /ca 0.5 /BM /Multiply >> >> >> "),
    ])


def with_fake_pages(data: bytes, count: int = 3000) -> bytes:
    """The PDF with `count` page objects appended that no page tree points at: PDFium counts its real
    pages, a byte search for "/Type /Page" counts these too."""
    fakes = b"".join(b"%d 0 obj << /Type /Page >> endobj\n" % (90_000 + n) for n in range(count))
    return data + fakes + b"%%EOF\n"
