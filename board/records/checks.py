"""Is an upload what it claims to be? Pure rules (no Flask, no database): a record is
accepted only as a real PDF, and refused otherwise with a reason a clinician can act on.

What is checked, and what each check catches:

- the file name: path components dropped (`../../etc/passwd.pdf` is kept as
  `passwd.pdf`; the name is metadata only, never a path on disk), refused when it
  carries NUL, control or bidirectional-override characters, and it must end in `.pdf`;
- the bytes start with `%PDF-` at offset 0 (PDF readers tolerate the header anywhere in
  the first 1024 bytes, which is what JPEG+PDF and HTML+PDF polyglots rely on);
- known other formats are named (programs, web pages, SVG, images, archives), so the
  message says what the file really is;
- the PDF ends with `%%EOF` and nothing but whitespace after it (a truncated upload, or
  a file with something appended), and no ZIP archive ends there (a PDF+ZIP polyglot);
- no web-page markup in the first 1024 bytes (what old browsers sniffed);
- pypdf parses it, it has at least one page, it is not encrypted, and it carries no
  JavaScript, launch or form-submit actions, no embedded files and no XFA form.

A PDF+anything polyglot whose other half hides inside a PDF object is still a PDF
that parses; it is stored encrypted and only ever served as an attachment with
`nosniff`, so no browser renders it as anything else.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pypdf import PdfReader
from pypdf.errors import PyPdfError

PDF = "application/pdf"
NAME_MAX = 200
DEFAULT_NAME = "record.pdf"
TAIL_WINDOW = 1024

# pypdf reports what it repairs through logging; those lines name objects, never
# content, but they are noise for every hostile upload.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Refusal:
    field: str
    message: str


@dataclass(frozen=True)
class AcceptedPdf:
    filename: str
    pages: int
    content_type: str = PDF


# (magic at offset, what it is) for the message; the first that matches names the file.
_SIGNATURES: list[tuple[int, bytes, str]] = [
    (0, b"\x7fELF", "a program (Linux executable)"),
    (0, b"MZ", "a program (Windows executable)"),
    (0, b"\xca\xfe\xba\xbe", "a program (macOS executable)"),
    (0, b"\xcf\xfa\xed\xfe", "a program (macOS executable)"),
    (0, b"#!", "a script"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (128, b"DICM", "a DICOM image"),
    (0, b"PK\x03\x04", "a ZIP archive or an Office document"),
    (0, b"\xd0\xcf\x11\xe0", "an Office document"),
    (0, b"{\\rtf", "an RTF document"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"7z\xbc\xaf", "a 7-Zip archive"),
]
_IMAGE_HINT = (
    "; the board accepts records as PDF only: upload the imaging report (or the image "
    "exported to PDF)"
)
_MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed)\b", re.I)
_BAD_ACTIONS = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/RichMediaExecute"}
# Characters a file name must not carry: C0/C1 controls (NUL included), and the
# bidirectional overrides that make "report\u202efdp.exe" display as "reportexe.pdf".
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def _what_it_is(data: bytes) -> str | None:
    for offset, magic, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head:
        return "an SVG image"
    if _MARKUP.search(head) or head.startswith(b"<"):
        return "a web page or XML document"
    return None


def clean_filename(raw: str | None) -> str | Refusal:
    """The name kept as metadata: its last path component, NFC-normalised, at most
    NAME_MAX characters (the extension kept). Refused when it carries control chars."""
    if not raw or not raw.strip():
        return DEFAULT_NAME
    if any(unicodedata.category(c) == "Cc" or c in _BIDI for c in raw):
        return Refusal(
            "file",
            "has a name with control characters (such as NUL) or hidden direction marks; "
            "rename the file and upload it again",
        )
    name = unicodedata.normalize("NFC", raw).replace("\\", "/")
    name = posixpath.basename(name).strip()
    if not name or name in (".", ".."):
        return DEFAULT_NAME
    if len(name) > NAME_MAX:
        _stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and len(ext) <= 10 else ""
        name = name[: NAME_MAX - len(ext)] + ext
    return name


def _zip_ends_here(tail: bytes) -> bool:
    """A ZIP's end-of-central-directory record whose comment runs exactly to the end of
    the file: what a ZIP appended to (or wrapped around) a PDF leaves."""
    at = tail.rfind(b"PK\x05\x06")
    while at != -1:
        if at + 22 <= len(tail):
            comment = int.from_bytes(tail[at + 20 : at + 22], "little")
            if at + 22 + comment == len(tail):
                return True
        at = tail.rfind(b"PK\x05\x06", 0, at)
    return False


def _action_types(obj: Any) -> set[str]:
    """The action types of an /A or /AA entry (resolved), including chained /Next."""
    found: set[str] = set()
    stack = [obj]
    seen = 0
    while stack and seen < 200:
        seen += 1
        item = stack.pop()
        item = item.get_object() if hasattr(item, "get_object") else item
        if isinstance(item, dict):
            kind = item.get("/S")
            if kind is not None:
                found.add(str(kind))
            for value in item.values():
                value = value.get_object() if hasattr(value, "get_object") else value
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _active_content(reader: PdfReader) -> str | None:
    catalog: Any = reader.trailer["/Root"].get_object()
    names = catalog.get("/Names")
    names = names.get_object() if names is not None else {}
    if "/JavaScript" in names:
        return "JavaScript"
    if "/EmbeddedFiles" in names:
        return "embedded files"
    acroform = catalog.get("/AcroForm")
    if acroform is not None and "/XFA" in acroform.get_object():
        return "an XFA form"
    for holder in (catalog.get("/OpenAction"), catalog.get("/AA")):
        if holder is not None and _action_types(holder) & _BAD_ACTIONS:
            return "an action that runs when it is opened"
    for page in reader.pages:
        if "/AA" in page and _action_types(page["/AA"]) & _BAD_ACTIONS:
            return "an action that runs when a page is shown"
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            for entry in ("/A", "/AA"):
                if entry in annotation and _action_types(annotation[entry]) & _BAD_ACTIONS:
                    return "a link that runs a program or script"
    return None


def inspect_pdf(data: bytes) -> int | Refusal:
    """The page count of a real, plain PDF, or why it is refused."""
    if not data:
        return Refusal("file", "is empty")
    if not data.startswith(b"%PDF-"):
        what = _what_it_is(data)
        if what is None:
            return Refusal("file", "is not a PDF (it does not start like one)")
        hint = _IMAGE_HINT if "image" in what else ""
        return Refusal("file", f"is not a PDF: it is {what}{hint}")
    if _MARKUP.search(data[:TAIL_WINDOW]):
        return Refusal("file", "starts like a PDF but carries web-page markup; it is refused")
    tail = data[-TAIL_WINDOW:]
    end = tail.rfind(b"%%EOF")
    if end == -1:
        return Refusal(
            "file", "is an incomplete PDF (it does not end like one); it may have been cut off"
        )
    if tail[end + 5 :].strip(b" \t\r\n\x00\x0c"):
        return Refusal("file", "has something appended after the end of the PDF; it is refused")
    if _zip_ends_here(data[-(65535 + 22) :]):
        return Refusal("file", "is a PDF with a ZIP archive hidden in it; it is refused")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return Refusal(
                "file", "is password-protected (encrypted); remove the protection and upload again"
            )
        pages = len(reader.pages)
        if pages == 0:
            return Refusal("file", "is a PDF with no pages")
        active = _active_content(reader)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError):
        return Refusal("file", "looks like a PDF but cannot be read; it may be damaged")
    if active:
        return Refusal(
            "file",
            f"is a PDF that contains {active}, which the board does not accept; "
            "print it to a new PDF and upload that",
        )
    return pages


def check_pdf_upload(filename: str | None, data: bytes) -> AcceptedPdf | list[Refusal]:
    """The whole rule for one upload: its name, then its bytes."""
    name = clean_filename(filename)
    if isinstance(name, Refusal):
        return [name]
    if not name.lower().endswith(".pdf"):
        return [Refusal("file", f"must be a PDF file ending in .pdf (got “{name}”)")]
    pages = inspect_pdf(data)
    if isinstance(pages, Refusal):
        return [pages]
    return AcceptedPdf(filename=name, pages=pages)


def attachment_disposition(filename: str) -> str:
    """`Content-Disposition: attachment` per RFC 6266: an ASCII `filename=` for old
    clients and the exact name as `filename*=UTF-8''...` (RFC 8187)."""
    # Accents dropped (ü -> u), anything else outside a safe ASCII set becomes "_".
    decomposed = unicodedata.normalize("NFKD", filename)
    fallback = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    fallback = re.sub(r"[^A-Za-z0-9._ ()+-]", "_", fallback).strip() or DEFAULT_NAME
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
