"""The consortium interface platform (医联体接口平台): a gateway at each hospital.

It turns the hospital's own systems — relational databases (with change capture that loses
nothing), HL7 v2 feeds over MLLP, third-party HTTP and SOAP services — into atomic APIs, flow
APIs and data topics, maps what they produce to FHIR R4 (validated before anything moves) and
shares it into the patients' MedLedger charts through the SDK. Everything is declared in a
folder of YAML files (:mod:`clients.gateway.config`); ``docs/gateway.md`` is the guide.
"""
