"""Record writing (病历书写): the outpatient form, its checks, and the FHIR R4 document."""
