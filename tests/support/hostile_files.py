"""Files that claim to be PDFs and are not (or are PDFs the board refuses), and the
real PDFs it accepts: the upload corpus of issue 6 (tests/integration/test_upload_corpus.py)."""

from __future__ import annotations

import io
import random
import string
import zipfile
from dataclasses import dataclass

from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from tests.support.factories import pdf


@dataclass(frozen=True)
class Upload:
    name: str  # the test id
    filename: str
    data: bytes
    message: str  # what the refusal says (a substring of the field's message)


def _rewrite(source: bytes, change: object) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(source)))
    change(writer)  # type: ignore[operator]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def compressed_pdf(text: str) -> bytes:
    """A one-page PDF whose content stream is Flate-compressed (as most real ones are)."""

    def compress(writer: PdfWriter) -> None:
        for page in writer.pages:
            page.compress_content_streams()

    return _rewrite(pdf(text), compress)


def content_stream(data: bytes) -> bytes:
    """The first stream's raw bytes, as stored in the file (compressed or not)."""
    start = data.index(b"stream", data.index(b"/Contents")) + len(b"stream")
    start += 2 if data[start : start + 2] == b"\r\n" else 1
    return data[start : data.index(b"endstream", start)].rstrip(b"\r\n")


def _encrypted() -> bytes:
    return _rewrite(pdf(), lambda w: w.encrypt("secret", algorithm="AES-256"))


def _javascript() -> bytes:
    def add(writer: PdfWriter) -> None:
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert('pwned')"),
            }
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)

    return _rewrite(pdf(), add)


def _attachment() -> bytes:
    return _rewrite(pdf(), lambda w: w.add_attachment("payload.exe", b"MZ\x90\x00" * 64))


def _zero_pages() -> bytes:
    out = io.BytesIO()
    PdfWriter().write(out)
    return out.getvalue()


def _big_pdf() -> bytes:
    """A PDF over 1 KB (so the ZIP test reaches the ZIP check, not the markup check)."""
    noise = random.Random(6).choices(string.ascii_letters + string.digits, k=4000)
    return compressed_pdf("Pathology report " + "".join(noise))


def _pdf_with_zip(comment: bytes = b"") -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.exe", b"MZ\x90\x00" * 64)
        zf.comment = comment
    return _big_pdf() + archive.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 100
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50 + b"PE\x00\x00" + b"\x00" * 100
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def hostile() -> list[Upload]:
    real = pdf()
    return [
        Upload("elf-executable-named-pdf", "report.pdf", ELF, "a program (Linux executable)"),
        Upload("windows-executable-named-pdf", "report.pdf", PE, "a program (Windows executable)"),
        Upload("html-named-pdf", "report.pdf", HTML, "a web page"),
        Upload("svg-named-pdf", "scan.pdf", SVG, "an SVG image"),
        Upload("png-named-pdf", "mammogram.pdf", PNG, "a PNG image"),
        Upload(
            "pdf-header-then-html",
            "report.pdf",
            b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n",
            "web-page markup",
        ),
        Upload("jpeg-pdf-polyglot", "report.pdf", JPEG_HEAD + real, "a JPEG image"),
        Upload("pdf-zip-polyglot", "report.pdf", _pdf_with_zip(), "something appended"),
        Upload(
            "pdf-zip-polyglot-ending-in-eof",
            "report.pdf",
            _pdf_with_zip(comment=b"%%EOF"),
            "ZIP archive hidden",
        ),
        Upload(
            "pdf-then-html-after-eof",
            "report.pdf",
            _big_pdf() + b"<html><script>alert(1)</script></html>",
            "something appended",
        ),
        Upload("empty-file", "report.pdf", b"", "is empty"),
        Upload("truncated-pdf", "report.pdf", real[: len(real) // 2], "incomplete PDF"),
        Upload("header-only-pdf", "report.pdf", b"%PDF-1.7\n", "incomplete PDF"),
        Upload(
            "header-and-eof-only",
            "report.pdf",
            b"%PDF-1.7\n%%EOF\n",
            "cannot be read",
        ),
        Upload("encrypted-pdf", "report.pdf", _encrypted(), "password-protected"),
        Upload("zero-page-pdf", "report.pdf", _zero_pages(), "no pages"),
        Upload("pdf-with-javascript", "report.pdf", _javascript(), "runs when it is opened"),
        Upload("pdf-with-embedded-file", "report.pdf", _attachment(), "embedded files"),
        Upload("traversal-name-with-html", "../../../etc/passwd.pdf", HTML, "a web page or XML"),
        Upload("nul-byte-in-name", "report.pdf\x00.exe", real, "control characters"),
        Upload("nul-before-extension", "report\x00.pdf", real, "control characters"),
        Upload("control-character-in-name", "report\x1b[31m.pdf", real, "control characters"),
        Upload("bidi-override-in-name", "report\u202efdp.exe", real, "control characters"),
        Upload("wrong-extension", "report.docx", real, "must be a PDF file ending in .pdf"),
        Upload("executable-extension", "report.pdf.exe", real, "must be a PDF file ending in .pdf"),
    ]
