"""The scripted story of ``medledger demo``, played on real parts through the SDK.

The consortium admin registers the institutions; each institution's admin registers its own
key authority (its own process and key file) and the authorities make the emergency key (DKG,
t = 2 of n = 4); the admin enrols the clinicians (directly on chain, with the dev admin key,
skipping what already exists so that re-runs work); a new patient creates a wallet, registers
their own patient key, shares two FHIR records under ``role:doctor and dept:cardiology`` and grants
the cardiologist; the cardiologist reads and decrypts both; the GP is refused (and the refusal
is logged on chain); the patient revokes; the cardiologist is refused too; the auditor reads
the access log from the chain, compares it with the API's index and runs ``verify``. Then
the clinical workflows: a referral up to the tertiary hospital and back down
(:mod:`~clients.demo.referrals`), a remote consultation of two invited cardiologists
(:mod:`~clients.demo.consultation`), and the auditor reads both from the chain
(:mod:`~clients.demo.workflow_audit`); the county gateway shares a lab result; and at last the
GP opens the chart by break-glass with the shares of 2 of the 4 authorities
(:mod:`~clients.demo.emergency`). Every clinician's key comes from their own institution's
authority; there is no central key. Early on, the reference SMART app is listed in the
marketplace by three administrators' votes and installed at the tertiary hospital
(:mod:`~clients.demo.marketplace`), so the workstation can launch it on a chart.

Each step reports expected against observed. A step whose failure leaves nothing for the
next steps to work on (the stack or a share failing) ends the story early; a failed act of
a workflow ends that workflow only; the other steps only mark themselves failed, so one run
shows every broken expectation at once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from clients.demo import (
    audit,
    cast,
    clinicians,
    consultation,
    county_gateway,
    emergency,
    key_authorities,
    marketplace,
    referrals,
    workflow_audit,
)
from clients.demo.acts import PartAbortedError
from clients.demo.report import Reporter, short
from clients.demo.scene import ADMIN, PATIENT, Outcome, Scene, StoryAbortedError
from clients.demo.stack import ApiLayout, LocalStack
from clients.sdk import MedLedgerClient
from clients.sdk.errors import ClientError, WalletNotFoundError
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.devnode import DevKeys
from ledger_api.chain.relayer import Relayer
from ledger_api.errors import LedgerApiError


class Story(Scene):
    """One run of the story against ``stack``; :meth:`run` returns the :class:`Outcome`."""

    # ------------------------------------------------------------------ driver

    def run(self, steps: Sequence[Callable[[Story], None]] | None = None) -> Outcome:
        """Play ``steps`` (default :func:`story_steps`) in order; the outcome so far."""
        for step in story_steps() if steps is None else steps:
            try:
                step(self)
            except PartAbortedError as exc:
                self.report.note(f"the rest of this workflow is skipped: {exc}")
            except StoryAbortedError as exc:
                self.report.note(f"the story stops here: {exc}")
                break
            except Exception as exc:  # a web3 or library error no step expected: still one line
                what = step.__name__.strip("_").replace("_", " ")
                self.report.step(
                    "demo",
                    what,
                    expected="no error",
                    observed=f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}",
                    ok=False,
                )
                self.report.note("the story stops here")
                break
        return self.outcome

    # ------------------------------------------------------------------ the consortium

    def register_institutions(self) -> None:
        action = "registers the consortium's institutions"
        expected = f"{len(cast.INSTITUTIONS)} institutions on chain"
        admin = self._admin_consortium()
        added: list[str] = []
        last_tx: str | None = None
        try:
            for inst in cast.INSTITUTIONS:
                existing = admin.institution_id_by_code(inst.code)
                if existing:
                    self.outcome.institutions[inst.code] = existing
                    continue
                mined = admin.add_institution(
                    name=inst.name, code=inst.code, admin=admin.sender.address
                ).wait()
                self.outcome.institutions[inst.code] = int(
                    mined.event("InstitutionAdded").args["institutionId"]
                )
                added.append(inst.code)
                last_tx = mined.tx_hash
        except (LedgerApiError, KeyError) as exc:
            raise self.fail(ADMIN, action, expected, exc) from None
        for inst in cast.INSTITUTIONS:
            self.report.note(
                f"#{self.outcome.institutions[inst.code]} {inst.code:<7} {inst.name} ({inst.kind})"
            )
        present = len(cast.INSTITUTIONS) - len(added)
        observed = f"{len(added)} added, {present} already there"
        self.report.step(
            ADMIN, action, expected=expected, observed=observed, ok=True, tx_hash=last_tx
        )

    def enrol_clinicians(self) -> None:
        action = "enrols the clinicians with their attributes"
        expected = ", ".join(p.short for p in cast.CLINICIANS) + " enrolled"
        admin = self._admin_consortium()
        added: list[str] = []
        last_tx: str | None = None
        try:
            for person in cast.CLINICIANS:
                account = self._clinician_account(person)
                self.accounts[person.key] = account
                self.outcome.clinicians[person.key] = account.address
                if admin.is_member(account.address):
                    continue
                mined = admin.enrol_member(
                    account=account.address,
                    institution_id=self.outcome.institutions[person.institution],
                    role=person.role,
                    attributes=list(person.attributes),
                ).wait()
                added.append(person.key)
                last_tx = mined.tx_hash
            members = {
                p.key: admin.member_info(self.accounts[p.key].address) for p in cast.CLINICIANS
            }
            attributes = {
                p.key: admin.attributes_of(self.accounts[p.key].address) for p in cast.CLINICIANS
            }
        except (LedgerApiError, ClientError) as exc:
            raise self.fail(ADMIN, action, expected, exc) from None
        wrong = [
            p.key
            for p in cast.CLINICIANS
            if members[p.key].role != p.role
            or members[p.key].institution_id != self.outcome.institutions[p.institution]
            or not members[p.key].active
            or sorted(attributes[p.key]) != sorted(p.attributes)
        ]
        for person in cast.CLINICIANS:
            attrs = ", ".join(person.attributes) or "-"
            self.report.note(
                f"{person.label} at {cast.institution_name(person.institution)}: "
                f"{person.role.name.lower()}, {attrs}  {self.accounts[person.key].address}"
            )
        observed = f"{len(added)} enrolled, {len(cast.CLINICIANS) - len(added)} already members"
        if wrong:
            observed += f"; another role, institution or attributes on chain: {', '.join(wrong)}"
        self.report.step(
            ADMIN, action, expected=expected, observed=observed, ok=not wrong, tx_hash=last_tx
        )
        if wrong:
            raise StoryAbortedError("the clinicians on chain are not the demo's")

    def _admin_consortium(self) -> Consortium:
        sender = Relayer(self.w3, DevKeys.from_env().admin)  # DEV ONLY: anvil's public key #1
        return Consortium(self.w3, self.stack.deployment.address("Consortium"), sender=sender)

    def _clinician_account(self, person: cast.Clinician) -> LocalAccount:
        """The clinician's wallet in the data dir: created on the first run, reused after."""
        try:
            wallet = self.wallets.get(person.wallet)
        except WalletNotFoundError:
            wallet = self.wallets.create(person.wallet, cast.DEMO_WALLET_PASSWORD)
        return wallet.unlock(cast.DEMO_WALLET_PASSWORD)

    # ------------------------------------------------------------------ the patient

    def create_patient_wallet(self) -> None:
        actor = PATIENT
        action = "creates a wallet (encrypted keystore)"
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"patient-{stamp}-{secrets.token_hex(2)}"
        try:
            wallet = self.wallets.create(name, cast.DEMO_WALLET_PASSWORD)
            self.accounts["patient"] = wallet.unlock(cast.DEMO_WALLET_PASSWORD)
        except ClientError as exc:
            raise self.fail(actor, action, "a new keystore", exc) from None
        self.outcome.patient = wallet.address
        self.outcome.patient_wallet = wallet.name
        self.report.step(
            actor,
            action,
            expected="a new keystore",
            observed=f"{wallet.name} {wallet.address} in {wallet.path.parent}",
            ok=True,
        )

    def share_records(self) -> None:
        actor = PATIENT
        patient = self.outcome.patient
        self.first_block = self.w3.eth.block_number + 1  # the story's own blocks only
        with self.client_for("patient") as client:
            try:
                client.login()
            except ClientError as exc:
                raise self.fail(actor, "signs in (SIWE)", "a session", exc) from None
            for resource in (cast.observation(patient), cast.diagnostic_report(patient)):
                self._share(client, actor, resource)

    def _share(self, client: MedLedgerClient, actor: str, resource: dict[str, Any]) -> None:
        patient = self.outcome.patient
        kind = resource["resourceType"]
        action = f"shares a FHIR {kind} under '{cast.RECORD_POLICY}'"
        expected = "encrypted, stored, registered on chain"
        data = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            # the JSON text, not the dict: the cardiologist must get back exactly these bytes
            info = client.share_fhir(data.decode(), patient=patient, policy=cast.RECORD_POLICY)
        except ClientError as exc:
            raise self.fail(actor, action, expected, exc) from None
        self.plaintexts[info.record_id] = data
        self.outcome.records.append(
            {
                "record_id": info.record_id,
                "record_type": info.record_type,
                "tx_hash": info.tx_hash,
                "block_number": info.block_number,
                "body_cid": info.body_cid,
                "plaintext_bytes": len(data),
            }
        )
        observed = (
            f"record {short(info.record_id)} block {info.block_number}, body {short(info.body_cid)}"
        )
        ok = info.record_type == kind and info.patient.lower() == patient.lower()
        self.report.step(
            actor, action, expected=expected, observed=observed, ok=ok, tx_hash=info.tx_hash
        )

    def grant_cardiologist(self) -> None:
        actor = PATIENT
        cardiologist = cast.clinician("cardiologist")
        action = f"grants {cardiologist.label} (whole chart, treatment, 30 days)"
        expected = "consent relayed and mined"
        try:
            with self.client_for("patient") as client:
                client.login()
                receipt = client.grant(grantee=self.accounts["cardiologist"].address)
        except ClientError as exc:
            raise self.fail(actor, action, expected, exc) from None
        self.outcome.consent = {
            "consent_id": receipt.consent_id,
            "tx_hash": receipt.tx_hash,
            "block_number": receipt.block_number,
            "grantee": self.accounts["cardiologist"].address,
        }
        self.report.step(
            actor,
            action,
            expected=expected,
            observed=f"consent {short(receipt.consent_id)} block {receipt.block_number}",
            ok=True,
            tx_hash=receipt.tx_hash,
        )

    def revoke(self) -> None:
        actor = PATIENT
        action = "revokes the cardiologist's consent"
        expected = "revocation relayed and mined"
        try:
            with self.client_for("patient") as client:
                client.login()
                receipt = client.revoke(self.outcome.consent["consent_id"])
        except (ClientError, KeyError) as exc:
            raise self.fail(actor, action, expected, exc) from None
        self.outcome.revocation = {"tx_hash": receipt.tx_hash, "block_number": receipt.block_number}
        self.report.step(
            actor,
            action,
            expected=expected,
            observed=f"revoked in block {receipt.block_number}",
            ok=True,
            tx_hash=receipt.tx_hash,
        )


def story_steps() -> list[Callable[[Story], None]]:
    """The demo's steps in story order (a list, so a test can put one of its own between)."""
    return [
        Story.register_institutions,
        key_authorities.start_authorities,
        Story.enrol_clinicians,
        marketplace.list_reference_app,
        Story.create_patient_wallet,
        key_authorities.patient_registers_key,
        Story.share_records,
        Story.grant_cardiologist,
        clinicians.cardiologist_reads,
        clinicians.gp_refused,
        Story.revoke,
        clinicians.cardiologist_refused,
        audit.audit_log,
        audit.audit_verify,
        referrals.referral_up,
        referrals.referral_down,
        consultation.consultation,
        workflow_audit.audit_workflows,
        county_gateway.county_gateway_lab_result,
        emergency.break_glass_by_threshold,
    ]


def outcome_json(stack: LocalStack, outcome: Outcome, reporter: Reporter) -> dict[str, Any]:
    """The machine-readable result of ``--json``: enough to re-check everything on chain."""
    return {
        "ok": reporter.ok,
        "data_dir": str(stack.data_dir),
        "rpc_url": stack.rpc_url,
        "api_url": stack.api_url,
        "chain_id": stack.deployment.chain_id,
        "deployment": stack.deployment.to_json(),
        "node_pid": stack.node_pid,
        "api_pid": stack.api_pid,
        "started": {
            "node": stack.started_node,
            "api": stack.started_api,
            "authorities": len(stack.started_authorities),
        },
        "api_data_dir": str(ApiLayout(stack.data_dir).api_dir),
        "patient": outcome.patient,
        "patient_wallet": outcome.patient_wallet,
        "clinicians": outcome.clinicians,
        "institutions": outcome.institutions,
        "policy": cast.RECORD_POLICY,
        "records": outcome.records,
        "consent": outcome.consent,
        "revocation": outcome.revocation,
        "denied_reads": outcome.denied_reads,
        "verify": outcome.verify,
        "referrals": outcome.referrals,
        "consultation": outcome.consultation,
        "gateway_record": outcome.gateway_record,
        "authorities": outcome.authorities,
        "emergency_key": outcome.emergency_key,
        "patient_key": outcome.patient_key,
        "key_issued": outcome.key_issued,
        "emergency": outcome.emergency,
        "steps": [step.as_dict() for step in reporter.steps],
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
