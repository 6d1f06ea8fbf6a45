"""The GP assistant (全科医生智能工作站): coding, assisted consultation and record writing.

Three offline services for community general practitioners, served as CDS Hooks 2.0 services
by :func:`clients.assistant.app.create_app`:

- **coding** (疾病分类): ICD-10 codes ranked for a Chinese free-text diagnosis or chief
  complaint, from a hand-written primary-care table (``data/icd10/``), with the matched terms
  and the reasons for each rank;
- **intake** (辅助问诊): a question tree per presenting complaint, red-flag rules that call for
  urgent referral, and a ranked differential with the findings for and against each condition;
- **records** (病历书写): an outpatient record form following 病历书写基本规范, checked for
  completeness and consistency, turned into a FHIR R4 document (Composition + ICD-10 coded
  Conditions) that is shared through the SDK like any record.

Everything here is decision *support*: every answer is marked as a suggestion and the clinician
confirms. Rules, trees and tables are data files validated against JSON schemas at load time;
nothing is downloaded at run time. The package talks to the MedLedger API only through
:class:`clients.sdk.MedLedgerClient`, never by importing the service.
"""

from __future__ import annotations

__version__ = "0.1.0"
