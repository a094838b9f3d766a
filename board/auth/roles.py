"""Roles and specialties: the words of domain.md ("The people")."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    REFERRER = "referrer"
    PATHOLOGIST = "pathologist"
    BREAST_SURGEON = "breast_surgeon"
    MEDICAL_ONCOLOGIST = "medical_oncologist"
    RADIATION_ONCOLOGIST = "radiation_oncologist"
    BREAST_RADIOLOGIST = "breast_radiologist"
    PLASTIC_SURGEON = "plastic_surgeon"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class Specialty(enum.StrEnum):
    PATHOLOGY = "pathology"
    BREAST_SURGERY = "breast_surgery"
    MEDICAL_ONCOLOGY = "medical_oncology"
    RADIATION_ONCOLOGY = "radiation_oncology"
    BREAST_RADIOLOGY = "breast_radiology"
    PLASTIC_SURGERY = "plastic_surgery"


REVIEWER_SPECIALTY: dict[Role, Specialty] = {
    Role.PATHOLOGIST: Specialty.PATHOLOGY,
    Role.BREAST_SURGEON: Specialty.BREAST_SURGERY,
    Role.MEDICAL_ONCOLOGIST: Specialty.MEDICAL_ONCOLOGY,
    Role.RADIATION_ONCOLOGIST: Specialty.RADIATION_ONCOLOGY,
    Role.BREAST_RADIOLOGIST: Specialty.BREAST_RADIOLOGY,
    Role.PLASTIC_SURGEON: Specialty.PLASTIC_SURGERY,
}

SPECIALTY_LABEL: dict[Specialty, str] = {
    Specialty.PATHOLOGY: "Breast pathology",
    Specialty.BREAST_SURGERY: "Breast surgery",
    Specialty.MEDICAL_ONCOLOGY: "Medical oncology",
    Specialty.RADIATION_ONCOLOGY: "Radiation oncology",
    Specialty.BREAST_RADIOLOGY: "Breast radiology",
    Specialty.PLASTIC_SURGERY: "Plastic surgery",
}

ROLE_LABEL: dict[Role, str] = {
    Role.REFERRER: "Referring oncologist",
    Role.PATHOLOGIST: "Breast pathologist",
    Role.BREAST_SURGEON: "Breast surgeon",
    Role.MEDICAL_ONCOLOGIST: "Medical oncologist",
    Role.RADIATION_ONCOLOGIST: "Radiation oncologist",
    Role.BREAST_RADIOLOGIST: "Breast radiologist",
    Role.PLASTIC_SURGEON: "Plastic surgeon",
    Role.COORDINATOR: "Tumor-board coordinator",
    Role.ADMIN: "Administrator",
}


def is_reviewer(role: Role) -> bool:
    return role in REVIEWER_SPECIALTY
