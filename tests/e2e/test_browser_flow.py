"""A case from the referrer's form to the acknowledged second opinion, in a real browser
(Debian's Chromium driven by Playwright) against gunicorn and a real Celery worker.

Screenshots of each role's main page land in tests/e2e/artifacts/ for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from board.auth.roles import Role
from board.cases.models import Case
from board.extensions import db
from tests.support import factories as f
from tests.support.processes import wait_until

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # Debian's package: no browser downloads on our machines
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Person:
    """One signed-in user in their own browser context (their own cookies)."""

    def __init__(self, browser: Browser, stack: Stack, email: str):
        self.context: BrowserContext = browser.new_context(
            base_url=stack.base_url, viewport={"width": 1280, "height": 900}
        )
        self.context.set_default_timeout(15_000)
        self.page: Page = self.context.new_page()
        # What the Content-Security-Policy blocked (inline script or style): must stay empty.
        self.csp_violations: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.csp_violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        self.page.goto("/login")
        self.page.fill("#email", email)
        self.page.fill("#password", f.PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/login/code")
        self.page.fill("#code", f.otp(email))
        self.page.click("button[type=submit]")
        expect(self.page.locator("header .who")).to_be_visible()

    def shoot(self, artifacts: Path, name: str) -> None:
        self.page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.csp_violations == []


def _status(app: Flask, case_id: int) -> str:
    with app.app_context():
        try:
            case = db.session.get(Case, case_id)
            assert case is not None
            return case.status
        finally:
            db.session.remove()


def _review(page: Page, *, stage_differs: bool) -> None:
    page.check("input[name='diagnosis.verdict'][value=concur]")
    page.fill("[name='diagnosis.rationale']", "The slides support the reported grade.")
    if stage_differs:
        page.check("input[name='stage.verdict'][value=differ]")
        page.check("input[name='stage.severity'][value=major]")
        page.fill("[name='stage.alternative.t']", "cT3")
        page.fill("[name='stage.alternative.n']", "cN1")
        page.fill("[name='stage.alternative.m']", "cM0")
        page.select_option("[name='stage.alternative.clinical_prognostic']", "IIIA")
        page.fill("[name='stage.rationale']", "The MRI shows a 5.5 cm mass and a suspicious node.")
    else:
        page.check("input[name='stage.verdict'][value=concur]")
    page.check("input[name='plan.verdict'][value=concur]")
    page.fill("[name='additional_options']", "Consider HER2 re-testing by ISH.")
    page.click("button:has-text('Sign the review')")
    expect(page.locator("h2", has_text="Your signed review")).to_be_visible()
    expect(page.locator("code.signature")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))


def test_a_case_goes_from_the_referrers_form_to_an_acknowledged_second_opinion_in_a_browser(
    app: Flask, stack: Stack, browser: Browser, artifacts: Path, tmp_path: Path
):
    with app.app_context():
        home = f.institution("Home Oncology")
        away = f.institution("University Breast Center")
        emails = {
            "referrer": f.user(Role.REFERRER, home, name="Dr. Rhea Referrer").email,
            "pathologist": f.user(Role.PATHOLOGIST, away, name="Dr. Paula Pathologist").email,
            "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away, name="Dr. Max Oncologist").email,
            "coordinator": f.user(Role.COORDINATOR, away, name="Dr. Cora Coordinator").email,
        }
        db.session.remove()
    record = tmp_path / "pathology-report.pdf"
    record.write_bytes(f.pdf("Core biopsy, left breast: invasive ductal carcinoma, grade 2"))

    # The referrer fills the form, uploads the pathology report and submits.
    referrer = Person(browser, stack, emails["referrer"])
    page = referrer.page
    page.click("header nav a:has-text('New case')")
    page.fill("[name='patient.birth_date']", "1968-03-14")
    page.fill("[name='patient.mrn']", "MRN-0001")
    page.select_option("[name='patient.sex']", "female")
    page.select_option("[name=timepoint]", "post_biopsy")
    page.fill("[name=question]", "Please confirm the grade and receptor status before surgery.")
    page.check("input[name=requested_specialties][value=medical_oncology]")
    page.select_option("[name='diagnosis.histologic_type']", "invasive_ductal")
    page.select_option("[name='diagnosis.laterality']", "left")
    page.select_option("[name='diagnosis.grade']", "2")
    page.select_option("[name='diagnosis.er']", "positive")
    page.select_option("[name='diagnosis.pr']", "positive")
    page.select_option("[name='diagnosis.her2']", "negative")
    page.fill("[name='diagnosis.er_percent']", "95")
    page.select_option("[name='diagnosis.her2_ihc']", "1+")
    page.fill("[name='stage.t']", "T2c")  # not an AJCC category: refused, kept
    page.fill("[name='stage.n']", "cN0")
    page.fill("[name='stage.m']", "cM0")
    page.select_option("[name='stage.clinical_prognostic']", "IB")
    page.select_option("[name='plan.surgery']", "lumpectomy")
    page.select_option("[name='plan.radiation']", "true")
    page.fill("[name='plan.endocrine']", "letrozole 2.5 mg daily")
    page.fill("[name='plan.medications.0.name']", "letrozole")
    page.fill("[name='plan.medications.0.dose']", "2.5")
    page.select_option("[name='plan.medications.0.unit']", "mg")
    page.select_option("[name='plan.medications.0.route']", "oral")
    page.fill("[name='plan.medications.0.frequency']", "daily")
    # "Add a row" (a few lines of script) numbers the new row after the last one.
    page.click("button:has-text('Add a row')")
    expect(page.locator("[name='plan.medications.3.name']")).to_be_visible()
    page.fill("[name='insurance.insurer']", "Acme Health")
    page.select_option("[name='insurance.second_opinion_covered']", "true")
    page.select_option("[name='insurance.pathology_review_covered']", "true")
    page.click("button:has-text('Save as draft')")
    # Refused: each message beside its field, everything typed still there.
    expect(page.locator(".errors")).to_contain_text("The case was not saved")
    expect(page.locator("[id='err-patient.name']")).to_have_text("is required")
    expect(page.locator("[id='err-stage.t']")).to_contain_text("AJCC 8th edition T category")
    expect(page.locator("[name='stage.t']")).to_have_value("T2c")
    expect(page.locator("[name='plan.endocrine']")).to_have_value("letrozole 2.5 mg daily")
    expect(page.locator("[name='diagnosis.er_percent']")).to_have_value("95")
    expect(page.locator("[name='plan.medications.0.dose']")).to_have_value("2.5")
    referrer.shoot(artifacts, "referrer-new-case-form-refused")
    page.fill("[name='patient.name']", "Ada Patient")
    page.fill("[name='stage.t']", "cT2")
    referrer.shoot(artifacts, "referrer-new-case-form")
    page.click("button:has-text('Save as draft')")
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("ul.missing")).to_contain_text("Pathology report is missing")
    # The board's own AJCC 8th groups beside the submitted one (concordant: no warning).
    expect(page.locator("dl.facts .computed").last).to_contain_text("IB computed")
    expect(page.locator(".stage-flags")).to_have_count(0)
    expect(page.locator("ul.medication-list")).to_contain_text("letrozole 2.5 mg · oral · daily")
    referrer.shoot(artifacts, "referrer-case-computed-stage")
    page.click("button:has-text('Submit the case')")
    expect(page.locator("#missing-on-submit")).to_contain_text("Pathology report is missing")
    referrer.shoot(artifacts, "referrer-case-submit-refused")

    page.select_option("[name=kind]", "pathology_report")
    page.set_input_files("input[name=file]", str(record))
    page.click("button:has-text('Upload')")
    expect(page.locator(".flash")).to_contain_text("Pathology report uploaded (1 page)")
    expect(page.locator("text=Every record the timepoint requires is here.")).to_be_visible()
    page.click("button:has-text('Submit the case')")
    expect(page.locator(".flash")).to_contain_text(f"Case #{case_id} is submitted")

    # The worker routes the case: a pathologist (the timepoint) and a medical oncologist.
    wait_until(lambda: _status(app, case_id) == "in_review", timeout=60, what="routing")
    page.goto("/cases")
    expect(page.locator(f"a[href='/cases/{case_id}']")).to_be_visible()
    expect(page.locator("td .badge.in_review")).to_have_text("In review")
    referrer.shoot(artifacts, "referrer-cases")

    # Each reviewer accepts and signs; the pathologist differs on the stage.
    for who, differs in (("pathologist", True), ("medonc", False)):
        reviewer = Person(browser, stack, emails[who])
        page = reviewer.page
        expect(page).to_have_url(re.compile(r"/assignments$"))
        if who == "pathologist":
            reviewer.shoot(artifacts, "reviewer-inbox")
        page.click(f"text=Case #{case_id}")
        page.click("button:has-text('Accept')")
        expect(page.locator(".flash")).to_contain_text("Assignment accepted")
        _review(page, stage_differs=differs)
        if who == "pathologist":
            reviewer.shoot(artifacts, "reviewer-signed-review")
        reviewer.close()
    assert _status(app, case_id) == "ready_for_board"

    # The coordinator records the board's consensus and releases the second opinion.
    coordinator = Person(browser, stack, emails["coordinator"])
    page = coordinator.page
    expect(page).to_have_url(re.compile(r"/board$"))
    coordinator.shoot(artifacts, "coordinator-dashboard")
    page.click(f"a[href='/cases/{case_id}']")
    expect(page.locator("table.side-by-side")).to_contain_text("The MRI shows a 5.5 cm mass")
    page.fill("[name=summary]", "The board upstages to cT3 cN1: neoadjuvant therapy first.")
    page.fill("[name=recommendations]", "Neoadjuvant chemotherapy, then re-image before surgery.")
    page.click("text=Final diagnosis, stage and plan")
    page.fill("#consensus [name='stage.t']", "cT3")
    page.fill("#consensus [name='stage.n']", "cN1")
    page.select_option("#consensus [name='plan.neoadjuvant']", "true")
    page.click("button:has-text('Sign the consensus')")
    expect(page.locator(".flash")).to_contain_text("Consensus version 1 is signed")
    coordinator.shoot(artifacts, "coordinator-case")
    page.click("button:has-text('Release the second opinion')")
    expect(page.locator(".flash")).to_contain_text("The second opinion is released")
    coordinator.close()

    # The referrer reads the second opinion, downloads the PDF and acknowledges.
    page = referrer.page
    page.goto(f"/cases/{case_id}")
    page.click("text=Read the second opinion")
    expect(page.locator("article.document")).to_contain_text("The board upstages to cT3 cN1")
    expect(page.locator("article.document")).to_contain_text("Dr. Paula Pathologist")
    referrer.shoot(artifacts, "second-opinion")
    pdf_href = page.get_attribute("text=Download the PDF", "href")
    assert pdf_href == f"/cases/{case_id}/second-opinion.pdf"
    pdf = page.request.get(pdf_href)
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    page.click("button:has-text('Acknowledge')")
    expect(page.locator(".flash")).to_contain_text("the second opinion is acknowledged")
    expect(page.locator(".page-head .badge")).to_have_text("Acknowledged")
    referrer.close()
    assert _status(app, case_id) == "acknowledged"

    # The worker told the referrer by email, with no patient details in it.
    def referrer_mail() -> list[str]:
        return [
            m.get_payload(decode=True).decode()
            for m in stack.mail.messages
            if m["To"] == emails["referrer"] and "second opinion is ready" in m["Subject"]
        ]

    (body,) = wait_until(referrer_mail, timeout=30, what="the referrer's email")
    assert f"case #{case_id}" in body and "Ada Patient" not in body


def test_a_first_sign_in_sets_up_the_second_factor_from_the_qr_page_in_a_browser(
    app: Flask, stack: Stack, browser: Browser, artifacts: Path
):
    from board.auth import mfa

    with app.app_context():
        user = f.user(Role.PATHOLOGIST, name="Dr. Nora Newcomer")
        user.totp_secret = None  # a new account: no authenticator yet
        db.session.commit()
        email = user.email
        db.session.remove()
    context = browser.new_context(base_url=stack.base_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/enrol")
    expect(page.locator(".qr svg")).to_be_visible()
    page.screenshot(path=str(artifacts / "mfa-enrolment.png"), full_page=True)
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#code", mfa.code_at(secret, mfa.current_step()))
    page.click("button[type=submit]")
    expect(page.locator("header .who")).to_contain_text("Dr. Nora Newcomer")
    expect(page.locator(".flash")).to_contain_text("authenticator app is set up")
    # Signing out ends the session; the back button shows nothing from the server.
    page.click("header button:has-text('Sign out')")
    page.goto("/assignments")
    page.wait_for_url("**/login?next=%2Fassignments")
    context.close()
    assert violations == []
