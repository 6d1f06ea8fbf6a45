"""The clinicians' part of the demo: the cardiologist reads, the GP and (later) she are refused.

Each clinician's key comes from their own institution's key authority
(:meth:`~clients.sdk.authorities.AuthoritiesMixin.fetch_member_key`), which logs the issuance
on chain (``KeyIssued``); the cardiologist's is shown from the chain. No central key exists.

Reads go through :meth:`MedLedgerClient.fetch`, which asks for the header first: that request
is what the API decides on and logs on chain, granted or denied, so a refusal here is a
refusal the auditor will find. A granted read must decrypt to exactly the bytes the patient
shared.
"""

from __future__ import annotations

import json
from typing import Any

from clients.demo import cast
from clients.demo.key_authorities import key_issued_on_chain
from clients.demo.scene import Scene
from clients.sdk import MedLedgerClient
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ClientError, NotAllowedError


def cardiologist_reads(story: Scene) -> None:
    person = cast.clinician("cardiologist")
    with story.client_for("cardiologist") as client:
        key = _fetch_key(story, client, person)
        key_issued_on_chain(story, "cardiologist", key)
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


def _fetch_key(story: Scene, client: MedLedgerClient, person: cast.Clinician) -> MemberKey:
    institution = story.outcome.institutions[person.institution]
    action = f"signs in (SIWE) and gets a key from {person.institution}'s own authority"
    expected = f"a FAME key for role, org and dept from institution #{institution}"
    try:
        client.login()
        key = client.fetch_member_key()
    except ClientError as exc:
        raise story.fail(person.label, action, expected, exc) from None
    story.keys.setdefault(person.key, key)
    attrs = sorted(a for a in key.attributes if not a.startswith("uid:"))
    observed = ", ".join(attrs) + f", uid:… from institution #{key.institution}"
    story.report.step(
        person.label,
        action,
        expected=expected,
        observed=observed,
        ok=key.institution == institution,
    )
    return key


def _read(
    story: Scene,
    client: MedLedgerClient,
    person: cast.Clinician,
    key: MemberKey,
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
            key = client.fetch_member_key()
        except ClientError as exc:
            raise story.fail(person.label, "signs in again", "a session", exc) from None
        _refused(story, client, person, key, "cardiologist", why="after the revocation")


def _refused(
    story: Scene,
    client: MedLedgerClient,
    person: cast.Clinician,
    key: MemberKey,
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
