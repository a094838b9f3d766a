"""HL7 FHIR R4 / mCODE: import of referrals, export of the second opinion."""
