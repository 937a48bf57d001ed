"""The child process that opens a PDF with PDFium, so a hostile file can only hang or crash this process.

Run by qa/readers/pdf.py as a script (not imported: it must not load qa or PDFium in the parent):

    python pdf_worker.py MEMORY SECONDS extract TESSERACT OCR_SECONDS PER_PAGE MAX_SECONDS < file.pdf
        -> JSON {"title", "pages": [...]} on stdout
    python pdf_worker.py MEMORY SECONDS render NUMBER MAX_WIDTH < file.pdf -> JSON {"png": base64, "scale"}

A failure is JSON {"error": kind, "message": ...} and exit status 2. The address space is capped at
MEMORY bytes before PDFium loads, and the process steps back on the CPU (NICENESS). The time limit
is enforced here, by the kernel: SIGALRM, left at its default, ends the process even inside PDFium.
It starts at SECONDS; once an extract has opened the file it becomes SECONDS plus PER_PAGE for each
page PDFium counts (at most MAX_SECONDS) plus the OCR budget, so page objects outside the page tree
cannot stretch it.

Each page comes back as line fragments ("segments"): [text, x0, y0, x1, y1, size, upright] in PDF
points from the page's top-left corner; size is the glyph height, upright is false for rotated text.
A segment is one PDFium text line cut where the text jumps (a new line, or a wide horizontal gap such
as between table cells or across a column gutter).
"""
from __future__ import annotations

import base64
import ctypes
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

NICENESS = 10  # as qa/readers/child.py: questions get the CPU first
MAX_PAGE_CHARS = 200_000  # more on one page is a generated bomb, not a document
OCR_DPI = 300
OCR_MAX_PIXELS = 40_000_000  # a poster-sized page is rendered at a lower resolution
OCR_PAGE_SECONDS = 60
SPACES = frozenset(" \t\xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f\u205f\u3000")


class Refused(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def main(argv: list[str]) -> int:
    memory, seconds, command, *rest = argv[1:]
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))  # this process and the tesseract it runs
    os.nice(NICENESS)
    started = time.monotonic()
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    data = sys.stdin.buffer.read()
    try:
        if command == "extract":
            tesseract, ocr_seconds, per_page, most = rest
            pdf = open_pdf(data)
            allowed = min(float(seconds) + float(per_page) * len(pdf), float(most)) + float(ocr_seconds)
            signal.setitimer(signal.ITIMER_REAL, max(allowed - (time.monotonic() - started), 0.001))
            result = extract(pdf, tesseract=tesseract, ocr_seconds=float(ocr_seconds))
        else:
            result = render(data, int(rest[0]), int(rest[1]))
    except Refused as refused:
        result = {"error": refused.kind, "message": str(refused)}
    except MemoryError:
        result = {"error": "memory", "message": "ran out of memory"}
    sys.stdout.write(json.dumps(result))
    return 2 if "error" in result else 0


def open_pdf(data: bytes):
    """The PdfDocument; refused when encrypted, damaged, or cut short (PDFium would read what is
    left of a truncated file and quietly lose the rest, so a file must end with its %%EOF marker)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if getattr(error, "err_code", None) in (raw.FPDF_ERR_PASSWORD, raw.FPDF_ERR_SECURITY):
            raise Refused("encrypted", "it is encrypted (password-protected)") from None
        if data.startswith(b"%PDF") and b"%%EOF" not in data[-4096:]:
            raise Refused("truncated", "it is truncated (the file ends early)") from None
        raise Refused("damaged", "it is damaged or not a PDF") from None
    if b"%%EOF" not in data.rstrip(b"\0 \t\r\n")[-1024:]:
        raise Refused("truncated", "it is truncated (the file ends early)")
    return pdf


def extract(pdf, tesseract: str, ocr_seconds: float) -> dict:
    """The title and every page's segments; a scanned page is read by `tesseract` (a path, or "")."""
    deadline = time.monotonic() + ocr_seconds
    pages = []
    for index in range(len(pdf)):
        try:
            page = pdf[index]
        except Exception:
            pages.append({"width": 0.0, "height": 0.0, "segments": [], "read_by": "none",
                          "problem": "damaged page: PDFium could not open it"})
            continue
        pages.append(read_page(page, index + 1, tesseract, deadline))
        page.close()
        try:
            pages[-1]["label"] = pdf.get_page_label(index) or None  # the PDF's own numbering ("iv", "17")
        except Exception:
            pages[-1]["label"] = None
    title = pdf.get_metadata_value("Title") if len(pdf) else ""
    date = pdf.get_metadata_value("CreationDate") if len(pdf) else ""
    metadata = {key.lower(): pdf.get_metadata_value(key) for key in ("Author", "Subject", "Keywords")} if len(pdf) else {}
    return {"title": title, "date": date, "metadata": metadata, "pages": pages}


def read_page(page, number: int, tesseract: str, deadline: float) -> dict:
    width, height = page.get_size()
    textpage = page.get_textpage()
    segments = text_segments(textpage, page_transform(page, width, height), number)
    textpage.close()
    result = {"width": width, "height": height, "segments": segments, "read_by": "text", "problem": None}
    letters = sum(len(s[0].strip()) for s in segments)
    if letters < 20 and scanned(page, width * height, letters):
        if not tesseract or not os.path.exists(tesseract):
            result.update(read_by="none", problem="no text layer (scanned page); install tesseract-ocr to read it: "
                          "apt-get install tesseract-ocr")
        elif time.monotonic() > deadline:
            result.update(read_by="none", problem="no text layer (scanned page); OCR skipped: this file's OCR time "
                          "limit was used up")
        else:
            found = ocr(page, width, height, tesseract, deadline)
            if found:
                result.update(segments=found, read_by="ocr")
            else:
                result.update(read_by="none", problem="no text layer (scanned page); OCR found nothing")
    return result


def page_transform(page, width: float, height: float) -> tuple[float, ...]:
    """(a, b, c, d, e, f): PDF user space -> points from the page's top-left corner, for any /Rotate
    and crop box offset, as x' = a*x + c*y + e and y' = b*x + d*y + f."""
    import pypdfium2.raw as raw

    scale = 100  # FPDF_PageToDevice returns whole device pixels: work in 1/100 pt
    x, y = ctypes.c_int(), ctypes.c_int()

    def device(px: float, py: float) -> tuple[float, float]:
        raw.FPDF_PageToDevice(page.raw, 0, 0, round(width * scale), round(height * scale), 0, px, py, x, y)
        return x.value / scale, y.value / scale

    (ox, oy), (ax, ay), (bx, by) = device(0, 0), device(1000, 0), device(0, 1000)
    return (ax - ox) / 1000, (ay - oy) / 1000, (bx - ox) / 1000, (by - oy) / 1000, ox, oy


def page_text(textpage) -> str:
    """All of the page's characters, one string position per PDFium character index."""
    import pypdfium2.raw as raw

    count = raw.FPDFText_CountChars(textpage.raw)
    if count <= 0:
        return ""
    if count > MAX_PAGE_CHARS:
        raise Refused("too_many_chars", "")
    buffer = ctypes.create_string_buffer(count * 2 + 2)
    written = raw.FPDFText_GetText(textpage.raw, 0, count, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
    text = buffer.raw[: max(written - 1, 0) * 2].decode("utf-16-le", errors="replace")
    if len(text) != count:  # characters outside the BMP came as surrogate pairs: one call per character
        text = "".join(chr(raw.FPDFText_GetUnicode(textpage.raw, i)) for i in range(count))
    return text


def char_boxes(textpage, text: str, transform: tuple[float, ...]) -> dict[int, tuple[float, float, float, float]]:
    """Each printed character's loose box (the font's full height) as x0, y0, x1, y1 from the top left."""
    import numpy
    import pypdfium2.raw as raw

    rect = raw.FS_RECTF()
    ref = ctypes.byref(rect)
    loose_box, handle = raw.FPDFText_GetLooseCharBox, textpage.raw
    indexes, corners = [], []
    for index, char in enumerate(text):
        if char not in SPACES and char not in "\r\n":
            loose_box(handle, index, ref)
            indexes.append(index)
            corners.append((rect.left, rect.top, rect.right, rect.bottom))
    if not corners:
        return {}
    a, b, c, d, e, f = transform
    left, top, right, bottom = numpy.array(corners, dtype=float).T
    xs = (a * left + c * top + e, a * right + c * bottom + e)
    ys = (b * left + d * top + f, b * right + d * bottom + f)
    boxes = numpy.stack([numpy.minimum(*xs), numpy.minimum(*ys), numpy.maximum(*xs), numpy.maximum(*ys)], axis=1)
    return dict(zip(indexes, map(tuple, boxes.tolist())))


def text_segments(textpage, transform: tuple[float, ...], number: int) -> list[list]:
    try:
        text = page_text(textpage)
    except Refused:
        raise Refused("too_many_chars", f"page {number} has more than {MAX_PAGE_CHARS:,} characters") from None
    boxes = char_boxes(textpage, text, transform)
    segments: list[list] = []
    chars: list[str] = []
    heights: list[float] = []
    box = [0.0, 0.0, 0.0, 0.0]
    space = False
    last_x0 = last_x1 = last_center = last_height = 0.0
    upright = True

    def flush() -> None:
        nonlocal upright
        if chars and heights:
            heights.sort()
            segments.append(["".join(chars), *[round(v, 2) for v in box], round(heights[len(heights) // 2], 2),
                             upright])
        chars.clear()
        heights.clear()
        upright = True

    for index, char in enumerate(text):
        if char in "\r\n":
            flush()
            space = False
            continue
        if char in SPACES:
            space = bool(chars)
            continue
        x0, y0, x1, y1 = boxes[index]
        if x1 <= x0 and y1 <= y0:
            if chars:
                chars.append(char)
            continue
        height = y1 - y0
        center = (y0 + y1) / 2
        if heights:
            unit = min(height, last_height) or max(height, last_height)
            if abs(center - last_center) > 0.5 * unit or x0 < last_x0 - 0.5 * unit or x0 - last_x1 > unit:
                turned = rotated(textpage, index)
                if not (turned and rotated(textpage, index - 1)):  # rotated text runs on in one segment
                    flush()
                    space = False
                upright = not turned
        if heights:
            box = [min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)]
        else:
            box = [x0, y0, x1, y1]
        if space:
            chars.append(" ")
            space = False
        chars.append(char)
        heights.append(height)
        last_x0, last_x1, last_center, last_height = x0, x1, center, height
    flush()
    return segments


def rotated(textpage, index: int) -> bool:
    """Whether the character is set at an angle (vertical margin notes, rotated table headers)."""
    import pypdfium2.raw as raw

    angle = raw.FPDFText_GetCharAngle(textpage.raw, index)
    return 0.2 < angle < 6.08  # radians: anything but (nearly) level


def scanned(page, area: float, letters: int) -> bool:
    """Whether the page shows images: any image when it has no text, a large one when it has a little."""
    import pypdfium2.raw as raw

    for image in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=4):
        if letters == 0:
            return True
        left, bottom, right, top = image.get_bounds()
        if area and (right - left) * (top - bottom) >= 0.4 * area:
            return True
    return False


def ocr(page, width: float, height: float, tesseract: str, deadline: float) -> list[list]:
    """Tesseract's words on the page rendered at OCR_DPI, grouped into line segments in PDF points."""
    scale = min(OCR_DPI / 72, (OCR_MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
    image = page.render(scale=scale, grayscale=True).to_pil()
    with tempfile.TemporaryDirectory(prefix="qa-ocr-") as folder:
        path = os.path.join(folder, "page.png")
        image.save(path)
        del image
        timeout = max(1.0, min(OCR_PAGE_SECONDS, deadline - time.monotonic()))
        try:
            done = subprocess.run([tesseract, path, "stdout", "--psm", "3", "tsv"], capture_output=True,
                                  timeout=timeout, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        except subprocess.TimeoutExpired:
            return []
    return ocr_segments(done.stdout.decode("utf-8", errors="replace"), scale)


def ocr_segments(tsv: str, scale: float) -> list[list]:
    """Tesseract TSV words -> segments: the words of one line, cut where a wide gap parts them."""
    lines: dict[tuple, list[tuple]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        if float(cells[10]) < 30:  # tesseract's confidence: lower is mostly noise from pictures
            continue
        left, top, w, h = (int(v) / scale for v in cells[6:10])
        lines.setdefault(tuple(cells[1:5]), []).append((cells[11].strip(), left, top, left + w, top + h))
    segments = []
    for words in lines.values():
        height = max(word[4] - word[2] for word in words)
        current: list[tuple] = []
        for word in words + [None]:
            if current and (word is None or word[1] - current[-1][3] > 1.5 * height):
                segments.append([" ".join(w[0] for w in current), round(current[0][1], 2),
                                 round(min(w[2] for w in current), 2), round(current[-1][3], 2),
                                 round(max(w[4] for w in current), 2), round(height, 2), True])
                current = []
            if word is not None:
                current.append(word)
    return segments


def render(data: bytes, number: int, max_width: int) -> dict:
    pdf = open_pdf(data)
    if not 1 <= number <= len(pdf):
        raise Refused("page_range", f"it has {len(pdf)} pages")
    page = pdf[number - 1]
    width, height = page.get_size()
    scale = min(max_width / max(width, 1.0), 4.0, (2 * max_width**2 / max(width * height, 1.0)) ** 0.5)
    image = page.render(scale=scale).to_pil()
    png = io.BytesIO()
    image.save(png, format="PNG", optimize=False)
    return {"png": base64.b64encode(png.getvalue()).decode("ascii"), "scale": scale}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
