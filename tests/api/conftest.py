"""The API test harness: a real MedLedger stack per test, driven through HTTP.

``api_stack`` deploys fresh contracts on the session anvil, enrols the demo consortium
(成都市第三人民医院 "cd3h" with a cardiologist and an auditor, 青羊区社区卫生服务中心 "qyqchc"
with a GP), points :class:`Settings` at a temp data dir (LocalBlockStore) and at the
``database_url`` under test (SQLite, and PostgreSQL when ``MEDLEDGER_TEST_POSTGRES_URL`` is
set), and runs ``create_app`` under a ``TestClient``
with its lifespan (migrations, reconciler, indexer thread). Nothing is mocked.

The API holds no key (``docs/key-authorities.md``). Tests that make records act as the client:
:meth:`Stack.authorities` gives each institution a FAME key pair held in the test process (as
its authority would hold it) and registers its digest on chain, and :meth:`Stack.make_record`
writes an envelope v3 for them and the patient's own key. Tests that need a key authority
serving members run one (``tests/authority``).

People are fresh random accounts per test (they never send transactions: the API's relayer
does); only the consortium admin (anvil key 0, deployer) and the API relayer (anvil key 9,
used by no other test package) hold funds.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from web3 import Web3

from crypto import envelope, fame, siwe
from crypto.errors import CryptoError
from crypto.fame_types import MasterPublicKey, MasterSecretKey, UserKey
from crypto.patient_key import PatientKey, derive_from_account
from crypto.policy import policy_hash
from crypto.reach import Institution
from crypto.signing import (
    Consent,
    Domain,
    Purpose,
    RecordBodyRekey,
    RecordRegistration,
    RecordRekey,
    Revocation,
    consent_id,
    sign,
)
from ledger_api.app import create_app
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.anvil import AnvilProcess
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.deploy import Deployment, deploy_all
from ledger_api.chain.devnode import enrol_demo_consortium
from ledger_api.chain.emergency import EmergencyAccess
from ledger_api.chain.relayer import Relayer
from ledger_api.config import Settings
from ledger_api.context import AppContext
from ledger_api.hooks import Hooks
from ledger_api.indexer import Indexer
from storage.unixfs import compute_cid
from tests.api.signing_client import SigningClient
from tests.conftest import ANVIL_KEYS, postgres_url
from tests.storage.conftest import empty_database

ADMIN_KEY = ANVIL_KEYS[0]
RELAYER_KEY = ANVIL_KEYS[9]
UNSERVED_AUTHORITY_URL = "http://127.0.0.1:9/"  # registered on chain; nothing listens there
# the tests set their rate limits explicitly (far above what any test does), so that none
# fails on a 429 it did not ask for; the rate-limit tests override these through stack_settings
GENEROUS_LIMITS: dict[str, Any] = {
    name: "100000/minute"
    for name in (
        "rate_sign_in_per_address",
        "rate_sign_in_per_ip",
        "rate_denied_reads_per_address",
        "rate_denied_reads_per_ip",
        "rate_key_issuance_per_member",
        "rate_key_issuance_per_ip",
        "rate_uploads_per_address",
        "rate_uploads_per_ip",
        "rate_system_accounts",
    )
}
BACKENDS = ["sqlite"] + (["postgres"] if postgres_url() else [])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database per test: a SQLite file, or a fresh PostgreSQL schema."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@dataclass(frozen=True)
class InstitutionKeys:
    """One institution's FAME key pair, held by the test as that institution's authority
    would hold it (never by the API); its digest and ``signer`` are registered on chain."""

    key: envelope.AuthorityKey
    msk: MasterSecretKey
    signer: LocalAccount

    @property
    def institution(self) -> Institution:
        return self.key.institution

    def user_key(self, attributes: list[str] | tuple[str, ...], *, epoch: int = 1) -> UserKey:
        """A member key of this institution: ``attributes`` plus ``org:<code>`` and
        ``epoch:<epoch>``, as the authority derives them."""
        derived = [f"org:{self.institution.code}", f"epoch:{epoch}"]
        return fame.keygen(self.msk, [*attributes, *derived])


@dataclass
class Stack:
    """One running API and everything a test needs to drive it as each role."""

    client: TestClient
    settings: Settings
    w3: Web3
    deployment: Deployment
    admin_consortium: Consortium  # Consortium sending as the consortium admin
    cd3h: int  # institution ids
    qyqchc: int
    admin: LocalAccount
    patient: LocalAccount
    other_patient: LocalAccount
    cardiologist: LocalAccount
    gp: LocalAccount
    auditor: LocalAccount
    tmp_path: Path
    hooks: Hooks = field(default_factory=Hooks)
    _tokens: dict[str, str] = field(default_factory=dict)
    _authorities: dict[int, InstitutionKeys] = field(default_factory=dict)
    _v2_keys: tuple[MasterPublicKey, MasterSecretKey] | None = None

    # ------------------------------------------------------------------ the running app

    @property
    def ctx(self) -> AppContext:
        ctx = self.client.app.state.ctx  # type: ignore[attr-defined]
        assert ctx is not None, "the app is not running"
        return ctx

    def restart(self, *, hooks: Hooks | None = None) -> TestClient:
        """Stop the app and start a new one on the same chain, store and database.

        The new app runs its startup again (migrations, reconciler, indexer): what a crash
        and a restart of the process look like to the data.
        """
        self.client.__exit__(None, None, None)
        self.hooks = hooks if hooks is not None else Hooks()
        self.client = SigningClient(create_app(self.settings, hooks=self.hooks))
        self.client.__enter__()
        self._tokens.clear()
        return self.client

    # ------------------------------------------------------------------ people and sessions

    def accounts(self) -> dict[str, LocalAccount]:
        return {
            "admin": self.admin,
            "patient": self.patient,
            "other_patient": self.other_patient,
            "cardiologist": self.cardiologist,
            "gp": self.gp,
            "auditor": self.auditor,
        }

    def siwe_message(self, account: LocalAccount, **overrides: Any) -> siwe.SiweMessage:
        """A fresh nonce from ``POST /auth/nonce`` and the message to sign (fields overridable)."""
        response = self.client.post("/auth/nonce", json={"address": account.address})
        assert response.status_code == 200, response.text
        grant = response.json()
        fields: dict[str, Any] = {
            "domain": grant["domain"],
            "address": account.address,
            "uri": grant["uri"],
            "chain_id": grant["chain_id"],
            "nonce": grant["nonce"],
            "issued_at": datetime.fromisoformat(grant["issued_at"]),
            "expiration_time": datetime.fromisoformat(grant["expiration_time"]),
            "statement": "Sign in to MedLedger",
        }
        fields.update(overrides)
        return siwe.SiweMessage(**fields)

    def login_response(self, account: LocalAccount, message: siwe.SiweMessage | None = None) -> Any:
        message = message or self.siwe_message(account)
        signature = siwe.sign(message, account.key)
        return self.client.post(
            "/auth/login", json={"message": message.text(), "signature": "0x" + signature.hex()}
        )

    def login(self, account: LocalAccount) -> dict[str, str]:
        """Sign in through HTTP (nonce, EIP-4361 message, login); returns auth headers.

        Sessions are reused per account within a test (until :meth:`restart`).
        """
        token = self._tokens.get(account.address)
        if token is None:
            response = self.login_response(account)
            assert response.status_code == 200, response.text
            token = response.json()["token"]
            self._tokens[account.address] = token
        if isinstance(self.client, SigningClient):
            self.client.signers[f"Bearer {token}"] = account
        return {"Authorization": f"Bearer {token}"}

    # ------------------------------------------------------------------ records

    def authorities(self) -> dict[int, InstitutionKeys]:
        """Each institution's key pair (made and registered on chain on first use).

        Registered by the institution's admin with a signer of its own and a URL where
        nothing listens: the API never asks an authority for a key, and no test here needs
        one served (``tests/authority`` serves them)."""
        if not self._authorities:
            for number in (self.cd3h, self.qyqchc):
                mpk, msk = fame.setup()
                code = self.admin_consortium.institution(number).code.casefold()
                digest = envelope.authority_digest(mpk)
                signer = Account.create()
                self.admin_consortium.register_authority(
                    institution_id=number,
                    pubkey_digest=digest,
                    signer=signer.address,
                    url=UNSERVED_AUTHORITY_URL,
                ).wait()
                self._authorities[number] = InstitutionKeys(
                    key=envelope.AuthorityKey(Institution(number, code), mpk, digest),
                    msk=msk,
                    signer=signer,
                )
        return self._authorities

    def authority_keys(self) -> list[envelope.AuthorityKey]:
        """The directory a writer encrypts to: each key pinned, with its current epoch."""
        keys = []
        for number, held in self.authorities().items():
            epoch = self.admin_consortium.authority_of(number).epoch
            institution = Institution(number, held.institution.code, epoch)
            keys.append(envelope.AuthorityKey(institution, held.key.mpk, held.key.digest))
        return keys

    @staticmethod
    def patient_key(patient: LocalAccount) -> PatientKey:
        """The patient's own X25519 key, derived from their wallet as the SDK derives it."""
        return derive_from_account(patient)

    def make_record(
        self,
        patient: LocalAccount | str,
        policy: str,
        plaintext: bytes,
        *,
        add_patient_uid: bool = True,
        content_type: str = "application/fhir+json",
        author: LocalAccount | None = None,
        record_id: bytes | None = None,
    ) -> tuple[bytes, bytes, bytes]:
        """Encrypt like a client does: ``(record_id, header_bytes, body_bytes)``, an envelope
        v3 (one slot per institution the policy reaches, the patient's own slot) bound to the
        record and patient and sealed by ``author`` (default: the patient).

        The policy ORs in ``uid:<patient>`` unless told not to: redundant in v3 (the patient
        slot opens it) and kept so that a test's policy reads as it did. A patient given as an
        address gets a fresh X25519 key (nobody holds their wallet here)."""
        address = patient if isinstance(patient, str) else patient.address
        if add_patient_uid:
            policy = f"({policy}) or uid:{address.lower()}"
        if author is None:
            author = patient if not isinstance(patient, str) else Account.create()
        record_id = record_id or secrets.token_bytes(32)
        patient_public = (
            PatientKey(secrets.token_bytes(32)).public_key
            if isinstance(patient, str)
            else self.patient_key(patient).public_key
        )
        record, body = envelope.encrypt_bytes_v3(
            plaintext,
            authorities=self.authority_keys(),
            policy=policy,
            patient_public_key=patient_public,
            content_type=content_type,
            binding=envelope.RecordBinding(record_id=record_id, patient=address),
            sealer=envelope.AccountSealer(author),
        )
        return record_id, record.header_bytes, body

    @property
    def v2_mpk(self) -> MasterPublicKey:
        """A FAME public key the test holds (no authority's, not the API's) for the tests of
        envelope v2 (still accepted for a new record while clients move over) and v1 (refused)."""
        if self._v2_keys is None:
            self._v2_keys = fame.setup()
        return self._v2_keys[0]

    def v2_user_key(self, attributes: list[str]) -> UserKey:
        """A key for :attr:`v2_mpk`'s records."""
        self.v2_mpk  # noqa: B018  (made on first use)
        assert self._v2_keys is not None
        return fame.keygen(self._v2_keys[1], attributes)

    def make_record_v2(
        self,
        patient: LocalAccount,
        policy: str,
        plaintext: bytes,
        *,
        add_patient_uid: bool = True,
        author: LocalAccount | None = None,
        record_id: bytes | None = None,
    ) -> tuple[bytes, bytes, bytes]:
        """An envelope v2 under :attr:`v2_mpk`; its policy ORs in ``uid:<patient>`` (a v2
        record's only way to let the patient in) unless told not to."""
        record_id = record_id or secrets.token_bytes(32)
        if add_patient_uid:
            policy = f"({policy}) or uid:{patient.address.lower()}"
        record, body = envelope.encrypt_bytes(
            plaintext,
            mpk=self.v2_mpk,
            policy=policy,
            content_type="application/fhir+json",
            binding=envelope.RecordBinding(record_id=record_id, patient=patient.address),
            sealer=envelope.AccountSealer(author or patient),
        )
        return record_id, record.header_bytes, body

    def upload(
        self,
        account: LocalAccount,
        *,
        record_id: bytes,
        patient: LocalAccount | str,
        header: bytes,
        body: bytes,
        record_type: str = "Observation",
        signer: LocalAccount | None = None,
        deadline: int | None = None,
        signed: bool = True,
    ) -> Any:
        """``POST /records`` as ``account`` (multipart: metadata JSON + header + body), the
        registration signed by ``signer`` (default: ``account``, the author) as clients do."""
        address = patient if isinstance(patient, str) else patient.address
        metadata: dict[str, Any] = {
            "record_id": "0x" + record_id.hex(),
            "patient": address,
            "record_type": record_type,
        }
        if signed:
            registration = self.registration(
                record_id=record_id,
                patient=address,
                header=header,
                body=body,
                record_type=record_type,
                deadline=deadline,
            )
            signature = sign(self.registry_domain, registration, (signer or account).key)
            metadata.update(deadline=registration.deadline, signature="0x" + signature.hex())
        return self.client.post(
            "/records",
            headers=self.login(account),
            data={"metadata": json.dumps(metadata)},
            files={
                "header": ("header.cbor", header, "application/cbor"),
                "body": ("body.bin", body, "application/octet-stream"),
            },
        )

    @property
    def registry_domain(self) -> Domain:
        return RecordRegistration.domain(
            chain_id=self.deployment.chain_id,
            verifying_contract=self.deployment.address("RecordRegistry"),
        )

    def registration(
        self,
        *,
        record_id: bytes,
        patient: str,
        header: bytes,
        body: bytes,
        record_type: str = "Observation",
        deadline: int | None = None,
    ) -> RecordRegistration:
        """The RecordRegistration of an upload, as its author's client builds it (a header
        that does not parse gets a zero policy hash: the API refuses it before the hash)."""
        try:
            digest = policy_hash(envelope.parse_header(header).policy)
        except CryptoError:
            digest = b"\0" * 32
        return RecordRegistration(
            id=record_id,
            patient=patient,
            body_cid=str(compute_cid(body)),
            header_cid=str(compute_cid(header)),
            body_hash=hashlib.sha256(body).digest(),
            policy_hash=digest,
            record_type=record_type.encode("utf-8")[:32].ljust(32, b"\0"),
            deadline=deadline if deadline is not None else int(time.time()) + 3600,
        )

    def rekey_signed(
        self,
        actor: LocalAccount,
        *,
        record_id: str,
        header: bytes,
        body: bytes | None,
        deadline: int | None = None,
    ) -> str:
        """The ``signed`` form field of ``POST /records/{id}/rekey``: the actor's signature of
        the re-key of the record's current on-chain version (header only, or with a body)."""
        # a malformed id (the API refuses it first) is signed as zeros
        raw_id = bytes.fromhex(record_id[2:]) if len(record_id) == 66 else bytes(32)
        try:
            version = self.ctx.chain.records.record_of(raw_id).version
        except Exception:  # an unknown record: any version; the API refuses it first
            version = 1
        try:
            digest = policy_hash(envelope.parse_header(header).policy)
        except CryptoError:
            digest = b"\0" * 32
        deadline = deadline if deadline is not None else int(time.time()) + 3600
        message: RecordRekey | RecordBodyRekey
        if body is None:
            message = RecordRekey(
                id=raw_id,
                version=version,
                header_cid=str(compute_cid(header)),
                policy_hash=digest,
                deadline=deadline,
            )
        else:
            message = RecordBodyRekey(
                id=raw_id,
                version=version,
                body_cid=str(compute_cid(body)),
                header_cid=str(compute_cid(header)),
                body_hash=hashlib.sha256(body).digest(),
                policy_hash=digest,
                deadline=deadline,
            )
        signature = sign(self.registry_domain, message, actor.key)
        return json.dumps({"signature": "0x" + signature.hex(), "deadline": deadline})

    # ------------------------------------------------------------------ consents

    @property
    def domain(self) -> Domain:
        return Domain(
            chain_id=self.deployment.chain_id,
            verifying_contract=self.deployment.address("ConsentManager"),
        )

    def sign_consent(
        self,
        patient: LocalAccount,
        *,
        grantee: str | None = None,
        grantee_policy_hash: bytes = b"\x00" * 32,
        record_id: bytes = b"\x00" * 32,
        purpose: Purpose = Purpose.TREATMENT,
        not_before: int = 0,
        expires_at: int | None = None,
        nonce: int | None = None,
        signer: LocalAccount | None = None,
    ) -> tuple[Consent, bytes]:
        """An EIP-712 consent of ``patient`` (signed by ``signer``, default the patient)."""
        consent = Consent(
            patient=patient.address,
            grantee=grantee or "0x" + "00" * 20,
            grantee_policy_hash=grantee_policy_hash,
            record_id=record_id,
            purpose=purpose,
            not_before=not_before,
            expires_at=expires_at if expires_at is not None else int(time.time()) + 86_400,
            nonce=nonce if nonce is not None else secrets.randbits(64),
        )
        return consent, sign(self.domain, consent, (signer or patient).key)

    def grant(
        self,
        patient: LocalAccount,
        grantee: LocalAccount | str | None = None,
        **fields: Any,
    ) -> tuple[Consent, bytes]:
        """Sign a consent and put it on chain (relayed directly; mined on return).

        Goes through ``ConsentManager.grantBySig`` with the API's relayer rather than
        ``POST /consents`` so that tests of other endpoints do not depend on that route.
        """
        address = grantee if isinstance(grantee, str) or grantee is None else grantee.address
        consent, signature = self.sign_consent(patient, grantee=address, **fields)
        self.ctx.chain.consents.grant_by_sig(consent, signature).wait()
        return consent, signature

    def sign_revocation(
        self, patient: LocalAccount, consent: Consent, *, nonce: int | None = None
    ) -> tuple[Revocation, bytes]:
        """A revocation of ``consent`` signed by ``patient`` (default nonce: above the consent's,
        as ConsentManager requires)."""
        revocation = Revocation(
            patient=patient.address,
            consent_id=consent_id(consent),
            nonce=nonce if nonce is not None else consent.nonce + 1 + secrets.randbits(16),
            deadline=int(time.time()) + 3600,
        )
        return revocation, sign(self.domain, revocation, patient.key)

    # ------------------------------------------------------------------ chain and index

    def access_logged(self, from_block: int | None = None) -> list[dict[str, Any]]:
        """Every ``AccessLogged`` event of this deployment, decoded (args as a dict)."""
        log = AccessLog(self.w3, self.deployment.address("AccessLog"))
        event = log.contract.events.AccessLogged
        start = self.deployment.block_number if from_block is None else from_block
        return [dict(e["args"]) for e in event.get_logs(from_block=start)]

    def wait_indexed(self, *, timeout: float = 20.0) -> int:
        """Block until the app's indexer has caught up with the chain head."""
        head = self.w3.eth.block_number
        indexer = Indexer(self.w3, self.deployment, self.ctx.sessions)
        deadline = time.monotonic() + timeout
        while indexer.cursor() < head:
            if time.monotonic() > deadline:
                raise TimeoutError(f"indexer at {indexer.cursor()}, chain at {head}")
            time.sleep(0.05)
        return head


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    """Overrides for the stack's :class:`Settings`; a test module may override this fixture."""
    return {}


@pytest.fixture
def stack_hooks() -> Hooks:
    """The fault-injection hooks of the stack's first app; override to inject a failure."""
    return Hooks()


@pytest.fixture
def api_stack(
    anvil: AnvilProcess,
    database_url: str,
    tmp_path: Path,
    stack_settings: dict[str, Any],
    stack_hooks: Hooks,
) -> Iterator[Stack]:
    w3 = connect(anvil.url, expected_chain_id=anvil.chain_id)
    admin = Account.from_key(ADMIN_KEY)
    relayer = Account.from_key(RELAYER_KEY)
    deployment = deploy_all(w3, deployer_key=ADMIN_KEY, relayer=relayer.address)
    deployment_file = tmp_path / "deployment.json"
    deployment.save(deployment_file)
    admin_consortium = Consortium(
        w3, deployment.address("Consortium"), sender=Relayer(w3, ADMIN_KEY)
    )
    people = {
        name: Account.create()
        for name in ("patient", "other_patient", "cardiologist", "gp", "auditor")
    }
    data_dir = tmp_path / "data"
    options: dict[str, Any] = {
        "rpc_url": anvil.url,
        "deployment_file": deployment_file,
        "data_dir": data_dir,
        "block_store": "local",
        "database_url": database_url,
        "relayer_key": RELAYER_KEY,
        "indexer_poll_interval": 0.1,
        "log_json": True,
        **GENEROUS_LIMITS,
    }
    options.update(stack_settings)
    settings = Settings(**options)
    # the break-glass cap is the contract's, set by the consortium admin from the setting
    emergency = EmergencyAccess(
        w3, deployment.address("EmergencyAccess"), sender=admin_consortium.sender
    )
    cd3h, qyqchc = enrol_demo_consortium(
        admin_consortium,
        admin_address=admin.address,
        cardiologist=people["cardiologist"].address,
        gp=people["gp"].address,
        auditor=people["auditor"].address,
        emergency=emergency,
        daily_cap=settings.break_glass_daily_cap,
    )
    client = SigningClient(create_app(settings, hooks=stack_hooks))
    client.__enter__()
    stack = Stack(
        client=client,
        settings=settings,
        w3=w3,
        deployment=deployment,
        admin_consortium=admin_consortium,
        cd3h=cd3h,
        qyqchc=qyqchc,
        admin=admin,
        patient=people["patient"],
        other_patient=people["other_patient"],
        cardiologist=people["cardiologist"],
        gp=people["gp"],
        auditor=people["auditor"],
        tmp_path=tmp_path,
        hooks=stack_hooks,
    )
    try:
        yield stack
    finally:
        stack.client.__exit__(None, None, None)
