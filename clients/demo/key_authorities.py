"""The demo's keys without escrow: each institution's own authority, and the patient's own key.

- :func:`start_authorities`: each institution's admin registers its own key authority (its
  own process and key file, :mod:`clients.demo.authorities`) and the four authorities make the
  consortium emergency key (DKG, t = 2 of n = 4), before any record is shared;
- :func:`patient_registers_key`: the patient registers the X25519 key derived from their
  wallet (``ConsentManager.registerPatientKey``), so every record carries a slot only they open;
- :func:`key_issued_on_chain`: the ``KeyIssued`` event of a member's key, read from the
  transaction the authority logged it in: which institution issued it, to whom, at which epoch.
"""

from __future__ import annotations

from typing import Any

import contracts
from clients.demo import cast
from clients.demo.authorities import THRESHOLD, ensure_authorities
from clients.demo.errors import DemoError
from clients.demo.scene import ADMIN, PATIENT, Scene
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ClientError
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.devnode import DevKeys
from ledger_api.chain.relayer import Relayer
from ledger_api.errors import LedgerApiError


def start_authorities(story: Scene) -> None:
    action = "each institution's admin registers its own key authority (own process, key file)"
    expected = f"{len(cast.INSTITUTIONS)} authorities on chain and serving, distinct key files"
    admin_key = DevKeys.from_env().admin  # DEV ONLY: anvil's public key, every demo admin
    admin = Consortium(
        story.w3,
        story.stack.deployment.address("Consortium"),
        sender=Relayer(story.w3, admin_key),
    )
    codes = {inst.code: story.outcome.institutions[inst.code] for inst in cast.INSTITUTIONS}
    try:
        found = ensure_authorities(story.stack, codes, admin=admin, admin_key=admin_key)
    except (DemoError, LedgerApiError) as exc:
        raise story.fail(ADMIN, action, expected, exc) from None
    story.outcome.authorities = [run.as_dict() for run in found.runs]
    for run in found.runs:
        state = "started" if run.started else "reused"
        story.report.note(
            f"#{run.institution} {run.code:<7} {run.url} pid {run.pid} ({state}), "
            f"key {run.key_file.relative_to(story.stack.data_dir)}, signer {run.signer}"
        )
    files = {run.key_file for run in found.runs}
    on_chain = [admin.authority_of(run.institution) for run in found.runs]
    ok = len(files) == len(found.runs) == len(cast.INSTITUTIONS) and all(
        info.pubkey_digest == run.digest and info.url == run.url
        for info, run in zip(on_chain, found.runs, strict=True)
    )
    started = sum(run.started for run in found.runs)
    registered = [run.registered_tx for run in found.runs if run.registered_tx]
    observed = (
        f"{len(found.runs)} authorities, {len(files)} key files; {started} started, "
        f"{len(found.runs) - started} reused; {len(registered)} registered now"
    )
    story.report.step(
        ADMIN,
        action,
        expected=expected,
        observed=observed,
        ok=ok,
        tx_hash=registered[-1] if registered else None,
    )
    key = found.emergency
    if key is None:  # ensure_authorities always makes or finds one
        raise story.fail(ADMIN, "emergency key", "a key", DemoError("no emergency key"))
    story.outcome.emergency_key = key.as_dict()
    n = len(found.runs)
    action = f"has the authorities make the emergency key (DKG, t = {THRESHOLD} of n = {n})"
    how = f"made now in {key.seconds:.1f} s" if key.made_now else "already made, reused"
    story.report.step(
        ADMIN,
        action,
        expected=f"round complete, t = {THRESHOLD} of n = {n}, no one holds the key",
        observed=f"round {key.key_round}: t = {key.t} of n = {key.n}, {how}, key {key.key[:14]}…",
        ok=(key.t, key.n) == (THRESHOLD, n),
        tx_hash=key.open_tx,
    )


def patient_registers_key(story: Scene) -> None:
    action = "registers their own patient key (X25519 from the wallet) on chain"
    expected = "ConsentManager.patientKeyOf = the derived key"
    try:
        with story.client_for("patient") as client:
            answer = client.register_patient_key()
            on_chain = client.patient_public_key(story.outcome.patient)
            derived = client.patient_key().public_key
    except ClientError as exc:
        raise story.fail(PATIENT, action, expected, exc) from None
    story.outcome.patient_key = {
        "public_key": "0x" + derived.hex(),
        "version": answer.get("version"),
        "tx_hash": answer.get("tx_hash"),
    }
    story.report.step(
        PATIENT,
        action,
        expected=expected,
        observed=f"key 0x{derived.hex()[:12]}… version {answer.get('version')}",
        ok=on_chain == derived,
        tx_hash=answer.get("tx_hash"),
    )


def key_issued_on_chain(story: Scene, who: str, key: MemberKey) -> None:
    """Report the ``KeyIssued`` event of ``who``'s key: their own institution's authority."""
    person = cast.clinician(who)
    expected_institution = story.outcome.institutions[person.institution]
    action = (
        f"her key was issued by {cast.institution_name(person.institution)}'s own authority"
        " (KeyIssued on chain)"
    )
    expected = f"KeyIssued by institution #{expected_institution}'s authority to her"
    try:
        event = _key_issued(story, key.tx_hash)
    except (LedgerApiError, ValueError) as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    signer = next(
        (
            a["signer"]
            for a in story.outcome.authorities
            if a["institution"] == expected_institution
        ),
        "",
    )
    ok = (
        event["institution"] == expected_institution == key.institution
        and event["holder"].lower() == story.accounts[who].address.lower()
        and event["issuer"].lower() == str(signer).lower()
    )
    story.outcome.key_issued[who] = event
    observed = (
        f"institution #{event['institution']} ({person.institution}), holder "
        f"{event['holder'][:10]}…, issuer {event['issuer'][:10]}…, epoch {event['epoch']}"
    )
    story.report.step(
        person.label, action, expected=expected, observed=observed, ok=ok, tx_hash=key.tx_hash
    )


def _key_issued(story: Scene, tx_hash: str) -> dict[str, Any]:
    contract = story.w3.eth.contract(
        address=story.stack.deployment.address("Consortium"),
        abi=contracts.load("Consortium")["abi"],
    )
    receipt = story.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    events = contract.events.KeyIssued().process_receipt(receipt)
    if len(events) != 1:
        raise ValueError(f"{len(events)} KeyIssued events in {tx_hash}")
    args = events[0]["args"]
    return {
        "institution": int(args["institutionId"]),
        "holder": str(args["holder"]),
        "issuer": str(args["issuer"]),
        "epoch": int(args["epoch"]),
        "tx_hash": tx_hash,
        "block_number": int(receipt["blockNumber"]),
    }
