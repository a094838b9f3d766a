"""The pure FHIR mapping: mCODE fixtures to case fields, T against tumour size, the paths of
refusals. No app, no database."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from board.fhir import validation
from board.fhir.importer import map_bundle, t_fits_size
from board.fhir.outcome import FhirRefused

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fhir"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def referral(name: str) -> Any:
    raw = (FIXTURES / f"{name}.json").read_bytes()
    return map_bundle(validation.check(raw))


def _get(case: dict[str, Any], dotted: str) -> Any:
    value: Any = case
    for part in dotted.split("."):
        value = value[int(part)] if part.isdigit() else value[part]
    return value


@pytest.mark.parametrize(
    ("fixture", "field", "expected"),
    [
        ("anyperson_breast", "patient.name", "John B. Anyperson"),
        ("anyperson_breast", "patient.mrn", "m123"),
        ("anyperson_breast", "patient.sex", "male"),
        ("anyperson_breast", "patient.birth_date", "1951-01-20"),
        ("anyperson_breast", "diagnosis.histologic_type", "invasive_ductal"),  # ICD-O-3 8500/3
        ("anyperson_breast", "diagnosis.laterality", "left"),  # laterality qualifier 7771000
        ("anyperson_breast", "diagnosis.er", "positive"),  # LOINC 85337-4
        ("anyperson_breast", "diagnosis.pr", "positive"),  # LOINC 85339-0
        ("anyperson_breast", "diagnosis.her2", "negative"),  # LOINC 48676-1
        ("anyperson_breast", "diagnosis.her2_ihc", "1+"),  # LOINC 85319-2
        ("anyperson_breast", "diagnosis.grade", 2),  # LOINC 44648-4, "Grade 2"
        ("anyperson_breast", "stage.clinical_t", "cT3"),  # SNOMED 1228938002
        ("anyperson_breast", "stage.clinical_n", "cN3"),  # SNOMED 1229984001
        ("anyperson_breast", "stage.clinical_m", "cM0"),  # AJCC code
        ("anyperson_breast", "stage.clinical_prognostic", "IIIC"),  # AJCC "3C"
        ("anyperson_breast", "plan.medications.0.frequency", "every day"),
        ("anyperson_breast", "plan.medications.1.unit", "mg/m2"),
        ("anyperson_breast", "timepoint", "post_surgery"),
        ("jenny_pathologic_inconsistent", "diagnosis.histologic_type", "invasive_lobular"),
        ("jenny_pathologic_inconsistent", "diagnosis.laterality", "right"),  # body site 73056007
        ("jenny_pathologic_inconsistent", "diagnosis.grade", 1),
        ("jenny_pathologic_inconsistent", "stage.pathological_t", "pT2"),
        ("jenny_pathologic_inconsistent", "stage.pathological_n", "pN0"),  # SNOMED 1229947003
        ("jenny_pathologic_inconsistent", "stage.pathological_prognostic", "IB"),
        ("jenny_pathologic_inconsistent", "patient.name", "Jenny M"),
    ],
)
def test_each_mcode_element_maps_to_its_case_field(fixture, field, expected):
    assert _get(referral(fixture).case, field) == expected


def test_history_attachments_and_tumour_size_are_kept_beside_the_case():
    mapped = referral("anyperson_breast")
    assert [(h["kind"], h["name"]) for h in mapped.history] == [
        ("surgery", "Partial mastectomy"),
        ("radiotherapy", "Whole breast radiotherapy"),
    ]
    assert [(a.kind, a.data[:5]) for a in mapped.attachments] == [
        ("pathology_report", b"%PDF-"),
        ("imaging_report", b"%PDF-"),
    ]
    assert mapped.extras == {"tumor_size_mm": 60.0}


@pytest.mark.parametrize(
    ("fixture", "codes"),
    [
        (
            "anyperson_breast",
            {"stage_group_differs", "medication_without_dose", "timepoint_inferred"},
        ),
        (
            "jenny_pathologic_inconsistent",
            {
                "t_category_size",
                "stage_summary_differs",
                "stage_group_differs",
                "timepoint_inferred",
            },
        ),
    ],
)
def test_the_known_inconsistencies_of_each_fixture_are_warnings(fixture, codes):
    assert {w.code for w in referral(fixture).warnings} == codes


@pytest.mark.parametrize(
    ("t", "size_mm", "fits"),
    [
        ("pT1mi", 0.8, True),
        ("pT1mi", 1.5, False),
        ("pT1a", 1.0, False),
        ("pT1a", 4.0, True),
        ("pT1b", 8.0, True),
        ("pT1c", 15.0, True),
        ("cT1", 15.0, True),
        ("pT2", 15.0, False),
        ("pT2", 20.0, False),
        ("pT2", 20.5, True),
        ("cT2", 50.0, True),
        ("cT3", 50.0, False),
        ("cT3", 60.0, True),
        ("cT4b", 10.0, None),  # T4 is extension to chest wall or skin, at any size
        ("pTis", 30.0, None),
        ("cTX", 30.0, None),
    ],
)
def test_t_category_against_the_tumour_size_follows_ajcc_8th(t, size_mm, fits):
    assert t_fits_size(t, size_mm) is fits


def _refusal(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(FhirRefused) as caught:
        map_bundle(validation.check(json.dumps(bundle).encode()))
    return [(i.path, i.message) for i in caught.value.issues]


def test_an_unknown_her2_result_is_refused_at_its_path():
    bundle = load("anyperson_breast")
    bundle["entry"][9]["resource"]["valueCodeableConcept"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "123"}]
    }
    ((path, message),) = _refusal(bundle)
    assert path == "Bundle.entry[9].resource.valueCodeableConcept"
    assert "HER2" in message


def test_an_unknown_histology_and_an_unknown_stage_group_are_each_named():
    bundle = load("anyperson_breast")
    bundle["entry"][1]["resource"]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = (
        "9999/3"
    )
    bundle["entry"][5]["resource"]["valueCodeableConcept"]["coding"][0]["code"] = "5Z"
    paths = [p for p, _ in _refusal(bundle)]
    assert paths == [
        "Bundle.entry[1].resource.extension[0].valueCodeableConcept",
        "Bundle.entry[5].resource.valueCodeableConcept",
    ]


def test_mcode_required_elements_are_checked_beyond_base_fhir():
    bundle = load("anyperson_breast")
    # FHIR allows an Observation without a subject; mCODE's TNM profiles do not.
    del bundle["entry"][3]["resource"]["subject"]
    del bundle["entry"][0]["resource"]["identifier"]
    paths = [p for p, _ in _refusal(bundle)]
    assert paths == ["Bundle.entry[0].resource.identifier", "Bundle.entry[3].resource.subject"]


def test_two_patients_in_one_referral_are_refused():
    bundle = load("anyperson_breast")
    bundle["entry"].append(copy.deepcopy(bundle["entry"][0]))
    assert (
        "Bundle.entry",
        "must hold exactly one Patient (a referral is one patient); it holds 2",
    ) in _refusal(bundle)


@pytest.mark.parametrize("module", ["codes", "outcome", "validation", "importer", "exporter"])
def test_the_fhir_mapping_modules_are_pure(module):
    """No SQLAlchemy or Celery, directly or through what they import (with those made
    unimportable the module still imports), and no Flask import of its own: the mapping runs
    without an app. (board.cases/__init__.py imports Flask for its init_app's type.)"""
    import subprocess
    import sys

    code = (
        "import sys; import board\n"
        "forbidden = ('sqlalchemy', 'celery', 'flask_sqlalchemy', 'flask_login', 'kombu', "
        "'redis', 'psycopg')\n"
        "for name in list(sys.modules):\n"
        "    if name.split('.')[0] in forbidden: sys.modules[name] = None\n"
        "for name in forbidden: sys.modules[name] = None\n"
        f"import board.fhir.{module}\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-800:]
    source = (Path(__file__).resolve().parents[2] / "board" / "fhir" / f"{module}.py").read_text()
    assert "from flask" not in source and "import flask" not in source
