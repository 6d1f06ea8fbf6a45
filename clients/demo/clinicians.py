"""The clinicians' part of the demo: the cardiologist reads, the GP and (later) she are refused.

Reads go through :meth:`MedLedgerClient.fetch`, which asks for the header first: that request
is what the API decides on and logs on chain, granted or denied, so a refusal here is a
refusal the auditor will find. A granted read must decrypt to exactly the bytes the patient
shared.
"""

from __future__ import annotations

import json
from typing import Any

from clients.demo import cast
from clients.demo.scene import Scene
from clients.sdk import MedLedgerClient
from clients.sdk.errors import ClientError, NotAllowedError
from crypto.fame_types import UserKey


def cardiologist_reads(story: Scene) -> None:
    person = cast.clinician("cardiologist")
    with story.client_for("cardiologist") as client:
        key = _fetch_key(story, client, person)
        action = "lists the patient's records"
        try:
            page = client.list_records(story.outcome.patient)
            observed = f"{page.total} records: " + ", ".join(r.record_type for r in page.items)
            ok = {r.record_id for r in page.items} == set(story.plaintexts)
        except ClientError as exc:
            observed, ok = f"error: {exc}", False
        story.report.step(person.label, action, expected="both records", observed=observed, ok=ok)
        for record in story.outcome.records:
            _read(story, client, person, key, record)


def _fetch_key(story: Scene, client: MedLedgerClient, person: cast.Clinician) -> UserKey:
    action = "signs in (SIWE) and fetches an attribute key"
    expected = "a FAME key for role, org and dept"
    try:
        client.login()
        key = client.fetch_user_key()
    except ClientError as exc:
        raise story.fail(person.label, action, expected, exc) from None
    attrs = sorted(a for a in key.attributes if not a.startswith("uid:"))
    story.report.step(
        person.label, action, expected=expected, observed=", ".join(attrs) + ", uid:…", ok=True
    )
    return key


def _read(
    story: Scene,
    client: MedLedgerClient,
    person: cast.Clinician,
    key: UserKey,
    record: dict[str, Any],
) -> None:
    action = f"reads and decrypts the {record['record_type']}"
    expected = "granted, decrypted, identical to what was shared"
    record_id = record["record_id"]
    try:
        plaintext = client.fetch_bytes(record_id, user_key=key)
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    same = plaintext == story.plaintexts.get(record_id)
    observed = f"{len(plaintext)} bytes, " + ("identical" if same else "DIFFERENT")
    story.report.step(person.label, action, expected=expected, observed=observed, ok=same)
    try:
        story.report.excerpt(cast.excerpt(json.loads(plaintext)))
    except ValueError:
        story.report.excerpt(plaintext[:80].decode(errors="replace"))


def gp_refused(story: Scene) -> None:
    person = cast.clinician("gp")
    with story.client_for("gp") as client:
        key = _fetch_key(story, client, person)
        _refused(story, client, person, key, "gp", why="no consent covers the GP")


def cardiologist_refused(story: Scene) -> None:
    person = cast.clinician("cardiologist")
    with story.client_for("cardiologist") as client:
        try:
            client.login()
            key = client.fetch_user_key()
        except ClientError as exc:
            raise story.fail(person.label, "signs in again", "a session", exc) from None
        _refused(story, client, person, key, "cardiologist", why="after the revocation")


def _refused(
    story: Scene,
    client: MedLedgerClient,
    person: cast.Clinician,
    key: UserKey,
    who: str,
    *,
    why: str,
) -> None:
    record = story.outcome.records[0]
    action = f"tries to read the {record['record_type']} ({why})"
    expected = "403, denial logged on chain"
    try:
        client.fetch_bytes(record["record_id"], user_key=key)
    except NotAllowedError as exc:
        access_tx = exc.details.get("access_tx")
        story.outcome.denied_reads[who] = {
            "record_id": record["record_id"],
            "access_tx": access_tx,
            "status": exc.status,
        }
        observed = f"refused: {exc.message} (HTTP {exc.status})"
        ok = exc.status == 403 and bool(access_tx)
        if not access_tx:
            observed += ", no access tx reported"
        story.report.step(
            person.label, action, expected=expected, observed=observed, ok=ok, tx_hash=access_tx
        )
        return
    except ClientError as exc:
        observed = f"error: {exc}"
    else:
        observed = "READ THE RECORD"
    story.report.step(person.label, action, expected=expected, observed=observed, ok=False)
