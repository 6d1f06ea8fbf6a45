"""The interface platform's part of the demo: the county hospital's gateway shares a lab result.

蒲江县人民医院's HIS (an embedded SQLite file here, so ``make run`` needs nothing installed)
records a new troponin result; the hospital's gateway — its own system account with the
``GATEWAY`` role, not a clinician — captures the row, maps it to a FHIR Observation (LOINC,
UCUM, validated), and shares it into the patient's chart through the SDK, signing the
registration as its author (:func:`clients.gateway.demo.county_lab_result`). The patient sees
it in their timeline at once and opens it with their own key (the patient slot of the
record, no authority involved); the patient grants the
cardiologist that one record, and the cardiologist opens it from the timeline too
("the information arrives before the patient").
"""

from __future__ import annotations

import json

from clients.demo import cast
from clients.demo.scene import PATIENT, Scene
from clients.gateway.demo import county_lab_result
from clients.gateway.errors import GatewayError
from clients.sdk.errors import ClientError
from clients.sdk.fhir_index import summary


def county_gateway_lab_result(story: Scene) -> None:
    gateway = cast.clinician("county_gateway")
    action = "captures a new troponin result in its HIS, maps it to FHIR and shares it"
    expected = "one new Observation, registered on chain with the gateway as its author"
    try:
        result = county_lab_result(
            # one HIS per demo patient: the gateway's patient index links a HIS patient once
            story.stack.data_dir / "county-gateway" / story.outcome.patient.lower(),
            medledger_url=story.stack.api_url,
            gateway_account=story.accounts["county_gateway"],
            patient_wallet=story.outcome.patient,
        )
        with story.client_for("patient") as client:
            info = client.record(result.record_id)
    except (GatewayError, ClientError) as exc:
        story.report.step(
            gateway.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    value = result.observation.get("valueQuantity", {})
    author_ok = info.author == story.accounts["county_gateway"].address
    observed = (
        f"{result.observation['code']['coding'][0]['code']} {value.get('value')} "
        f"{value.get('unit')}, author {'the gateway' if author_ok else info.author}"
    )
    story.report.step(
        gateway.label,
        action,
        expected=expected,
        observed=observed,
        ok=author_ok,
        tx_hash=info.tx_hash,
    )
    story.outcome.gateway_record = result.record_id
    _patient_sees_it(story, result.record_id)
    _cardiologist_sees_it(story, result.record_id)


def _patient_sees_it(story: Scene, record_id: str) -> None:
    action = "sees the new lab result in the timeline and opens it with their own key"
    expected = "in the timeline, decrypted with the patient slot: troponin"
    try:
        with story.client_for("patient") as client:
            client.login()
            recent = client.timeline(story.outcome.patient, limit=20).items
            # the patient slot: their own wallet-derived key, no authority involved
            plaintext = client.fetch_bytes(record_id, patient_key=client.patient_key())
            receipt = client.grant(
                grantee=story.accounts["cardiologist"].address, record_id=record_id
            )
    except ClientError as exc:
        story.report.step(PATIENT, action, expected=expected, observed=f"error: {exc}", ok=False)
        return
    try:
        resource = json.loads(plaintext)
        text, kind = summary(resource), resource.get("resourceType")
    except (ValueError, TypeError, KeyError, AttributeError):
        text, kind = f"{len(plaintext)} bytes, not FHIR JSON", None
    ok = record_id in {item.record_id for item in recent} and kind == "Observation"
    observed = f"{text}; granted to the cardiologist"
    story.report.step(
        PATIENT, action, expected=expected, observed=observed, ok=ok, tx_hash=receipt.tx_hash
    )


def _cardiologist_sees_it(story: Scene, record_id: str) -> None:
    person = cast.clinician("cardiologist")
    action = "opens the county hospital's lab result from the patient's timeline"
    expected = "granted and decrypted"
    try:
        with story.client_for("cardiologist") as client:
            client.login()
            key = story.keys.get("cardiologist") or client.fetch_member_key()
            opened = client.open_timeline_record(record_id, user_key=key)  # type: ignore[arg-type]
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    story.report.step(
        person.label,
        action,
        expected=expected,
        observed=opened.summary or "locked",
        ok=not opened.locked,
        tx_hash=opened.access_tx,
    )
