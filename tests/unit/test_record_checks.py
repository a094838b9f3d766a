"""The pure upload rules (board/records/checks.py): file names kept as metadata, and
the RFC 6266 download header, from tables."""

from __future__ import annotations

import pytest

from board.pdf_sample import sample_pdf
from board.records.checks import (
    NAME_MAX,
    AcceptedPdf,
    Refusal,
    attachment_disposition,
    check_pdf_upload,
    clean_filename,
)

REFUSED = "has a name with control characters"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("pathology.pdf", "pathology.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/var/www/../../root/report.pdf", "report.pdf"),
        ("C:\\fakepath\\imaging.pdf", "imaging.pdf"),
        ("..\\..\\windows\\system32\\x.pdf", "x.pdf"),
        ("  spaced name.pdf  ", "spaced name.pdf"),
        ("", "record.pdf"),
        (None, "record.pdf"),
        ("..", "record.pdf"),
        ("dir/", "record.pdf"),
        ("Befund Mu\u0308ller.pdf", "Befund Müller.pdf"),  # NFC: one ü, not u + accent
        ("report\x00.pdf", REFUSED),
        ("report.pdf\x00.exe", REFUSED),
        ("rep\nort.pdf", REFUSED),
        ("rep\x7fort.pdf", REFUSED),
        ("rep\x85ort.pdf", REFUSED),
        ("report\u202efdp.exe", REFUSED),
    ],
)
def test_a_file_name_keeps_only_its_last_component_and_refuses_control_characters(raw, kept):
    result = clean_filename(raw)
    if kept == REFUSED:
        assert isinstance(result, Refusal) and result.message.startswith(REFUSED)
    else:
        assert result == kept


def test_a_long_name_is_cut_to_the_limit_and_keeps_its_extension():
    name = clean_filename("a" * 500 + ".pdf")
    assert isinstance(name, str) and len(name) == NAME_MAX and name.endswith("a.pdf")


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
        (
            'we"ird\\name;.pdf',
            "attachment; filename=\"we_ird_name_.pdf\"; filename*=UTF-8''we%22ird%5Cname%3B.pdf",
        ),
        (
            "Résumé 2.pdf",
            "attachment; filename=\"Resume 2.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202.pdf",
        ),
        (
            "乳腺.pdf",
            "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E4%B9%B3%E8%85%BA.pdf",
        ),
    ],
)
def test_a_download_names_its_file_per_rfc_6266_with_an_ascii_fallback(name, header):
    assert attachment_disposition(name) == header


@pytest.mark.parametrize(
    ("filename", "accepted"),
    [("report.pdf", True), ("REPORT.PDF", True), ("report.pdf.exe", False), ("report", False)],
)
def test_only_a_pdf_name_with_pdf_bytes_is_accepted(filename, accepted):
    result = check_pdf_upload(filename, sample_pdf("x"))
    assert isinstance(result, AcceptedPdf) is accepted
