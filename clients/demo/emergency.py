"""The emergency part of the demo: break-glass opened by t of n institutions' authorities.

The patient collapses at the community health centre. The GP, with no consent, opens the
chart by break-glass, co-signed by the cardiologist (the opening, its co-signer and its
reason's hash logged on chain), then reads every
record's header with ``purpose=emergency`` and asks the institutions' key authorities, t = 2 of
the n = 4, for their decryption shares of the records' emergency slots
(:meth:`~clients.sdk.emergency_threshold.EmergencyThresholdMixin.emergency_open_chart`). Each
authority checks the opening on chain and logs its release there (``EmergencyShareReleased``)
before it answers; the GP's client checks every share's proof and decrypts. No single
authority, and not the API, could have opened the chart alone. The patient then sees, from the
chain, which institutions released shares of their records.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from clients.demo import cast
from clients.demo.scene import PATIENT, Scene
from clients.sdk.errors import ClientError

REASON = "unconscious on arrival at the community centre, suspected acute heart failure"


def break_glass_by_threshold(story: Scene) -> None:
    person = cast.clinician("gp")
    action = (
        "opens the unconscious patient's chart by break-glass, co-signed by the cardiologist "
        "(reason logged on chain)"
    )
    expected = "an opening on chain, co-signed"
    patient = story.outcome.patient
    _after_the_last_record(story)
    try:
        with story.client_for("gp") as client, story.client_for("cardiologist") as second:
            client.login()
            opening_id = client.new_opening_id()
            # a second doctor's co-signature: the opening does not count against the GP's
            # daily cap on chain, so the demo can run again and again the same day
            cosignature = second.cosign_break_glass(
                opening_id=opening_id,
                clinician=story.accounts["gp"].address,
                patient=patient,
                reason=REASON,
            )
            opening = client.break_glass(
                patient, reason=REASON, opening_id=opening_id, cosignature=cosignature
            )
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    story.outcome.emergency = {"opening_id": opening.id, "opening_tx": opening.tx_hash}
    minutes = (opening.expires_at - opening.opened_at) // 60
    cardiologist = story.accounts["cardiologist"].address
    co_signer = (
        "the cardiologist"
        if (opening.co_signer or "").lower() == cardiologist.lower()
        else str(opening.co_signer)
    )
    story.report.step(
        person.label,
        action,
        expected=expected,
        observed=f"opening {opening.id[:10]}… for {minutes} min, co-signer {co_signer}",
        ok=bool(opening.open) and co_signer == "the cardiologist",
        tx_hash=opening.tx_hash,
    )
    _open_with_shares(story, opening.id)
    _patient_sees_releases(story, opening.id)


def _after_the_last_record(story: Scene) -> None:
    """Authorities release shares only of records registered before the opening's second."""
    latest = int(story.w3.eth.get_block("latest")["timestamp"])
    while time.time() < latest + 1.05:
        time.sleep(0.05)


def _open_with_shares(story: Scene, opening_id: str) -> None:
    person = cast.clinician("gp")
    t = int(story.outcome.emergency_key.get("t", 2))
    n = int(story.outcome.emergency_key.get("n", len(cast.INSTITUTIONS)))
    action = f"decrypts the chart with emergency shares from t = {t} of n = {n} authorities"
    expected = f"every record opened and identical; shares from {t} distinct institutions"
    try:
        with story.client_for("gp") as client, tempfile.TemporaryDirectory() as folder:
            results = client.emergency_open_chart(
                story.outcome.patient, Path(folder), opening_id=opening_id
            )
            opened = {r.record_id: r.path.read_bytes() for r in results if r.path is not None}
            releases = [
                r for r in client.emergency_releases(story.outcome.patient)
                if r["opening_id"].lower() == opening_id.lower()
            ]  # fmt: skip
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    known = {**story.plaintexts, **story.documents}
    compared = [rid for rid in opened if rid in known]
    same = all(opened[rid] == known[rid] for rid in compared)
    codes = {number: code for code, number in story.outcome.institutions.items()}
    released_by = sorted({r["institution_id"] for r in releases})
    per_record = {r["record_id"].lower() for r in releases}
    story.outcome.emergency.update(
        {
            "records_opened": sorted(opened),
            "released_by": [
                {
                    "institution": number,
                    "code": codes.get(number, "?"),
                    "authority": next(
                        r["authority"] for r in releases if r["institution_id"] == number
                    ),
                    "tx_hash": next(
                        r["tx_hash"] for r in releases if r["institution_id"] == number
                    ),
                }
                for number in released_by
            ],
        }
    )
    ok = (
        same
        and set(story.plaintexts) <= set(opened)
        and len(released_by) >= t
        and {rid.lower() for rid in opened} <= per_record
    )
    for entry in story.outcome.emergency["released_by"]:
        story.report.note(
            f"shares released by #{entry['institution']} {entry['code']} "
            f"({cast.institution_name(entry['code'])}) authority {entry['authority']}, "
            f"tx {entry['tx_hash'][:12]}…"
        )
    names = ", ".join(codes.get(number, "?") for number in released_by)
    observed = (
        f"{len(opened)} records opened ({len(compared)} compared: "
        + ("identical" if same else "DIFFERENT")
        + f"); shares from {names} ({len(released_by)} of {n})"
    )
    story.report.step(person.label, action, expected=expected, observed=observed, ok=ok)


def _patient_sees_releases(story: Scene, opening_id: str) -> None:
    action = "sees from the chain which institutions released shares of their records"
    released = story.outcome.emergency.get("released_by", [])
    expected = f"the {len(released)} institutions that released, under this opening"
    try:
        with story.client_for("patient") as client:
            seen = [
                r for r in client.emergency_releases(story.outcome.patient)
                if r["opening_id"].lower() == opening_id.lower()
            ]  # fmt: skip
    except ClientError as exc:
        story.report.step(PATIENT, action, expected=expected, observed=f"error: {exc}", ok=False)
        return
    institutions = sorted({r["institution_id"] for r in seen})
    ok = bool(released) and institutions == [e["institution"] for e in released]
    codes = ", ".join(e["code"] for e in released)
    observed = f"{len(seen)} releases by {codes or 'no one'}"
    story.report.step(PATIENT, action, expected=expected, observed=observed, ok=ok)
