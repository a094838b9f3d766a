"""The code systems, codes and mCODE profiles the board reads and writes.

Pure constants. Sources: the HL7 mCODE implementation guide (STU1 to STU3) for the
profiles and value sets, LOINC for the observation codes, SNOMED CT for the AJCC
category qualifiers, ICD-O-3 for histology. Where no standard code carries a field of
the structured case (e.g. ER staining intensity), the board's own code system does,
so a round trip keeps every field; the importer reads both.
"""

from __future__ import annotations

from typing import Final

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
AJCC: Final = "http://cancerstaging.org"
ICDO3: Final = "http://terminology.hl7.org/CodeSystem/icd-o-3"
UCUM: Final = "http://unitsofmeasure.org"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
# The board's own code system: structured-case fields without a standard code, the
# review dimensions and verdicts, the timepoint. Not a real domain on purpose.
BOARD: Final = "https://board.invalid/fhir/CodeSystem/structured-case"
# meta.tag on Observations the board computed (its AJCC stage groups): never read back
# as submitted facts on import.
BOARD_COMPUTED_TAG: Final = "computed-by-board"

MCODE: Final = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
PROFILE = {
    "patient": MCODE + "mcode-cancer-patient",
    "primary_cancer_condition": MCODE + "mcode-primary-cancer-condition",
    "tnm_t": MCODE + "mcode-tnm-primary-tumor-category",
    "tnm_n": MCODE + "mcode-tnm-regional-nodes-category",
    "tnm_m": MCODE + "mcode-tnm-distant-metastases-category",
    "tnm_stage_group": MCODE + "mcode-tnm-stage-group",
    "tumor_marker": MCODE + "mcode-tumor-marker-test",
    "tumor_size": MCODE + "mcode-tumor-size",
    "surgical_procedure": MCODE + "mcode-cancer-related-surgical-procedure",
    "radiotherapy": MCODE + "mcode-radiotherapy-course-summary",
    "medication_request": MCODE + "mcode-cancer-related-medication-request",
    "medication_administration": MCODE + "mcode-cancer-related-medication-administration",
}
HISTOLOGY_EXTENSION: Final = MCODE + "mcode-histology-morphology-behavior"

# The staging method: AJCC Cancer Staging Manual, 8th edition (SNOMED 897275008).
AJCC_8TH: Final = (
    "897275008",
    "American Joint Commission on Cancer, Cancer Staging Manual, 8th edition neoplasm "
    "staging system (tumor staging)",
)

# --- TNM observations (LOINC, and the SNOMED codes mCODE STU2+ uses) -------------------
# Which case field each observation code fills: (basis, axis).
TNM_CODES: dict[tuple[str, str], tuple[str, str]] = {
    (LOINC, "21905-5"): ("clinical", "t"),
    (LOINC, "21906-3"): ("clinical", "n"),
    (LOINC, "21907-1"): ("clinical", "m"),
    (LOINC, "21899-0"): ("pathological", "t"),
    (LOINC, "21900-6"): ("pathological", "n"),
    (LOINC, "21901-4"): ("pathological", "m"),
    (SNOMED, "399504009"): ("clinical", "t"),
    (SNOMED, "399534004"): ("clinical", "n"),
    (SNOMED, "399387003"): ("clinical", "m"),
    (SNOMED, "384625004"): ("pathological", "t"),
    (SNOMED, "371494008"): ("pathological", "n"),
    (SNOMED, "371497001"): ("pathological", "m"),
}
TNM_LOINC = {v: k[1] for k, v in TNM_CODES.items() if k[0] == LOINC}
TNM_DISPLAY = {
    "21905-5": "Primary tumor.clinical [Class] Cancer",
    "21906-3": "Regional lymph nodes.clinical [Class] Cancer",
    "21907-1": "Distant metastases.clinical [Class] Cancer",
    "21899-0": "Primary tumor.pathology Cancer",
    "21900-6": "Regional lymph nodes.pathology Cancer",
    "21901-4": "Distant metastases.pathology Cancer",
}
# Stage group observations: which submitted group each fills. AJCC 8th asks for the
# prognostic group where the biomarkers are known, so a clinical (pathologic) stage
# group from an EHR is the clinical (pathological) prognostic group; the anatomic group
# travels under the board's code.
STAGE_GROUP_CODES: dict[tuple[str, str], str] = {
    (LOINC, "21908-9"): "clinical_prognostic",
    (LOINC, "21902-2"): "pathological_prognostic",
    (SNOMED, "399537006"): "clinical_prognostic",
    (BOARD, "anatomic-stage-group"): "anatomic",
    (BOARD, "clinical-prognostic-stage-group"): "clinical_prognostic",
    (BOARD, "pathological-prognostic-stage-group"): "pathological_prognostic",
}
STAGE_GROUP_LOINC = {
    "clinical_prognostic": ("21908-9", "Stage group.clinical Cancer"),
    "pathological_prognostic": ("21902-2", "Stage group.pathology Cancer"),
    # No LOINC code names the anatomic group; the pathologic one when the anatomic is
    # computed from pathological categories is left to the board's code.
}

# SNOMED CT AJCC category qualifiers (mCODE TNM value sets, STU2+). AJCC's own codes
# (system http://cancerstaging.org, e.g. "cT2") are read too and always written.
SNOMED_TNM: dict[str, str] = {
    "1222604002": "cTX",
    "1228882005": "cT0",
    "1228885007": "cTis",
    "1228889001": "cT1",
    "1228891009": "cT1mi",
    "1228892002": "cT1a",
    "1228895000": "cT1b",
    "1228899006": "cT1c",
    "1228929004": "cT2",
    "1228938002": "cT3",
    "1228944003": "cT4",
    "1228950008": "pTX",
    "1228951007": "pT0",
    "1228954004": "pTis",
    "1228957006": "pT1",
    "1229852009": "pT2",
    "1229859000": "pT3",
    "1229864001": "pT4",
    "1229966003": "cNX",
    "1229967007": "cN0",
    "1229973008": "cN1",
    "1229978004": "cN2",
    "1229984001": "cN3",
    "1229945006": "pNX",
    "1229947003": "pN0",
    "1229951001": "pN1",
    "1229957002": "pN2",
    "1229962001": "pN3",
    "1229901006": "cM0",
    "1229903009": "cM1",
    "1229916009": "pM1",
}
SNOMED_FOR_CATEGORY = {v: k for k, v in SNOMED_TNM.items()}

# Stage groups as AJCC writes them, and the forms EHRs send (e.g. "3C" in mCODE STU1).
STAGE_GROUP_FORMS: dict[str, str] = {
    g: g for g in ("0", "IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC", "IV")
} | {
    "1A": "IA",
    "1B": "IB",
    "2A": "IIA",
    "2B": "IIB",
    "3A": "IIIA",
    "3B": "IIIB",
    "3C": "IIIC",
    "4": "IV",
    "STAGE 0": "0",
}

# --- Histology (mCODE histology-morphology-behavior extension) -------------------------
HISTOLOGY_ICDO3: dict[str, str] = {
    "8500/3": "invasive_ductal",
    "8520/3": "invasive_lobular",
    "8522/3": "mixed_ductal_lobular",
    "8211/3": "tubular",
    "8480/3": "mucinous",
    "8507/3": "micropapillary",
    "8575/3": "metaplastic",
    "8500/2": "dcis",
    "8520/2": "lcis",
}
HISTOLOGY_SNOMED: dict[str, str] = {
    "82711006": "invasive_ductal",  # Infiltrating duct carcinoma
    "89740008": "invasive_lobular",  # Infiltrating lobular carcinoma
    "30156004": "mixed_ductal_lobular",  # Infiltrating duct and lobular carcinoma
    "4631006": "tubular",  # Tubular adenocarcinoma
    "72495009": "mucinous",  # Mucinous adenocarcinoma
    "86616005": "dcis",  # Intraductal carcinoma, noninfiltrating
    "77284006": "lcis",  # Lobular carcinoma in situ
}
ICDO3_FOR_HISTOLOGY = {v: k for k, v in HISTOLOGY_ICDO3.items()}

# --- Laterality and body site ------------------------------------------------------------
LATERALITY_SNOMED: dict[str, str] = {
    "7771000": "left",
    "24028007": "right",
    "51440002": "bilateral",
    # Body site codes that carry the side themselves.
    "80248007": "left",  # Left breast structure
    "73056007": "right",  # Right breast structure
    "63762007": "bilateral",  # Both breasts
}
QUALIFIER_FOR_LATERALITY = {"left": "7771000", "right": "24028007", "bilateral": "51440002"}
BREAST_STRUCTURE: Final = ("76752008", "Breast structure")

# --- Tumor markers and other diagnosis facts -----------------------------------------------
# (system, code) -> (case part, field). Values are read by the field's kind (values.py).
FIELD_CODES: dict[tuple[str, str], tuple[str, str]] = {
    (LOINC, "85337-4"): ("diagnosis", "er"),
    (LOINC, "16112-5"): ("diagnosis", "er"),
    (LOINC, "85339-0"): ("diagnosis", "pr"),
    (LOINC, "16113-3"): ("diagnosis", "pr"),
    (LOINC, "48676-1"): ("diagnosis", "her2"),
    (LOINC, "85319-2"): ("diagnosis", "her2_ihc"),
    (LOINC, "85318-4"): ("diagnosis", "her2_ish_ratio"),
    (LOINC, "44648-4"): ("diagnosis", "grade"),
    (LOINC, "21893-3"): ("diagnosis", "nodes_positive"),
    (LOINC, "21894-1"): ("diagnosis", "nodes_examined"),
    (LOINC, "21889-1"): ("extras", "tumor_size_mm"),
}
# Written with these LOINC codes; everything else with the board's code of the field name.
LOINC_FOR_FIELD: dict[str, tuple[str, str]] = {
    "er": ("85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    "pr": (
        "85339-0",
        "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain",
    ),
    "her2": ("48676-1", "HER2 [Interpretation] in Tissue"),
    "her2_ihc": ("85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"),
    "her2_ish_ratio": ("85318-4", "HER2 [Presence] in Breast cancer specimen by FISH"),
    "grade": ("44648-4", "Histologic grade (Nottingham) in Breast tumor"),
    "nodes_positive": ("21893-3", "Regional lymph nodes positive [#] Specimen"),
    "nodes_examined": ("21894-1", "Regional lymph nodes examined [#] Specimen"),
    "tumor_size_mm": ("21889-1", "Size Tumor"),
}
# The board's codes for fields without a standard code (ER percent, Ki-67, the 21-gene
# recurrence score, ...): the code is the case field's name.
BOARD_DIAGNOSIS_FIELDS = (
    "er_percent",
    "er_intensity",
    "pr_percent",
    "pr_intensity",
    "her2_copy_number",
    "ki67_percent",
    "lymphovascular_invasion",
    "margins",
    "closest_margin_mm",
    "nottingham_tubules",
    "nottingham_pleomorphism",
    "nottingham_mitoses",
)
BOARD_STAGE_FIELDS = ("recurrence_score",)
for _name in BOARD_DIAGNOSIS_FIELDS:
    FIELD_CODES[(BOARD, _name)] = ("diagnosis", _name)
for _name in BOARD_STAGE_FIELDS:
    FIELD_CODES[(BOARD, _name)] = ("stage", _name)
# Ki-67 and the Oncotype DX 21-gene recurrence score as EHRs often send them.
FIELD_CODES[(LOINC, "85330-9")] = ("diagnosis", "ki67_percent")

# Receptor results: SNOMED qualifiers and LOINC answers.
RECEPTOR_VALUES: dict[str, str] = {
    "10828004": "positive",
    "260385009": "negative",
    "LA6576-8": "positive",
    "LA6577-6": "negative",
    "416053008": "positive",  # Estrogen receptor positive tumor
    "416561008": "positive",  # Progesterone receptor positive tumor
    "441118006": "negative",  # Progesterone receptor negative neoplasm
    "427685000": "positive",  # HER2 positive carcinoma of breast
    "431396003": "negative",  # HER2 negative carcinoma of breast
    "42425007": "equivocal",  # Equivocal
    "280414007": "equivocal",  # Equivocal result
    "positive": "positive",
    "negative": "negative",
    "low_positive": "low_positive",
    "equivocal": "equivocal",
}
SNOMED_FOR_RESULT = {"positive": "10828004", "negative": "260385009", "equivocal": "42425007"}

# --- Medications ---------------------------------------------------------------------------
ROUTE_SNOMED: dict[str, str] = {
    "26643006": "oral",
    "47625008": "intravenous",
    "34206005": "subcutaneous",
    "78421000": "intramuscular",
    "6064005": "topical",
}
SNOMED_FOR_ROUTE = {v: k for k, v in ROUTE_SNOMED.items()}
UNIT_FORMS: dict[str, str] = {
    "mg": "mg",
    "mg/m2": "mg/m2",
    "mg/m^2": "mg/m2",
    "mg/m²": "mg/m2",
    "mg/kg": "mg/kg",
    "g": "g",
    "ug": "mcg",
    "mcg": "mcg",
    "µg": "mcg",
    "auc": "AUC",
    "[auc]": "AUC",
    "{auc}": "AUC",
    "u": "units",
    "[iu]": "units",
    "units": "units",
    "gy": "Gy",
}
UCUM_FOR_UNIT = {
    "mg": "mg",
    "mg/m2": "mg/m2",
    "mg/kg": "mg/kg",
    "g": "g",
    "mcg": "ug",
    "AUC": "{AUC}",
    "units": "U",
    "Gy": "Gy",
}

# --- Procedures and records ------------------------------------------------------------------
SURGERY_CODES = {"387713003"}  # Surgical procedure (category)
RADIOTHERAPY_CODES = {"108290001", "1217123003"}  # Radiotherapy; radiotherapy course of treatment

# DiagnosticReport and DocumentReference codes -> record kind.
RECORD_CODES: dict[str, str] = {
    "22637-3": "pathology_report",  # Pathology report final diagnosis
    "11526-1": "pathology_report",  # Pathology study
    "60568-3": "pathology_report",  # Pathology synoptic report
    "33717-0": "pathology_report",  # Cytology report
    "18748-4": "imaging_report",  # Diagnostic imaging study
    "24606-6": "imaging_report",  # MG Breast Screening
    "24604-1": "imaging_report",  # MG Breast Diagnostic
    "30704-1": "imaging_report",  # US Breast
    "30794-2": "imaging_report",  # MR Breast
    "11504-8": "operative_report",  # Surgical operation note
    "18842-5": "discharge_summary",  # Discharge summary
    "18776-5": "treatment_plan_summary",  # Plan of care note
    "10160-0": "medication_list",  # History of medication use
}
RECORD_CATEGORIES: dict[str, str] = {
    "PAT": "pathology_report",
    "SP": "pathology_report",
    "CP": "pathology_report",
    "LP7839-6": "pathology_report",
    "RAD": "imaging_report",
    "LP29684-5": "imaging_report",
}
CONSULT_NOTE: Final = ("11488-4", "Consult note")
