"""Database fixtures for the storage tests: every index test runs on SQLite and PostgreSQL.

``database_url`` is parametrized over the backends under test:

- ``sqlite`` always: a fresh file in the test's temp dir (WAL needs a real file);
- ``postgres`` only when ``MEDLEDGER_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it). When
  the variable is unset the param is not collected at all; when it is set but the server is
  unreachable the test FAILS with the URL in the message: a CI that asked for PostgreSQL must
  never go green without it.

Isolation on PostgreSQL: each test gets its own schema with a random name, selected through
``search_path`` in the URL (``?options=-csearch_path=…``), and dropped afterwards, so tests
of other engineers can share the ``test`` database concurrently.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

import contracts
from crypto.signing import Consent as SignedConsent
from crypto.signing import (
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    Domain,
    Purpose,
    RecordRegistration,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
    ReferralRequest,
    ReferralStep,
    sign,
)
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.anvil import AnvilProcess
from ledger_api.chain.deploy import Deployment, deploy_all
from ledger_api.chain.records import RecordRegistry
from ledger_api.chain.relayer import Receipt, Relayer
from ledger_api.chain.workflow import Workflow
from storage.db import create_engine, migrate, session_factory
from tests.chain.signed import read_entry
from tests.conftest import ANVIL_KEYS, postgres_url

BACKENDS = ["sqlite"] + (["postgres"] if postgres_url() else [])


def postgres_admin_engine() -> Engine:
    """An engine on the PostgreSQL under test, or a test failure naming why it is unusable."""
    url = postgres_url()
    assert url is not None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        pytest.fail(
            f"MEDLEDGER_TEST_POSTGRES_URL is set to {url!r} but PostgreSQL is unreachable: {exc}",
            pytrace=False,
        )
    return engine


def postgres_schema_url(schema: str) -> str:
    """The URL of ``schema``: its ``search_path``, and its name as every connection's
    ``application_name``, so teardown can find the connections still open on it."""
    url = sa.engine.make_url(postgres_url() or "")
    url = url.update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema})
    return url.render_as_string(hide_password=False)


def create_postgres_schema() -> tuple[Engine, str]:
    admin = postgres_admin_engine()
    schema = f"medledger_t_{secrets.token_hex(6)}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return admin, schema


def close_schema_connections(admin: Engine, schema: str) -> int:
    """End every server connection still open on ``schema`` (by its ``application_name``).

    Why: a ``DROP SCHEMA … CASCADE`` takes an exclusive lock on every table in turn; a
    connection the test left open (an app's pool, a live server killed mid-request, a thread
    still in a transaction) that holds or waits for a lock on some of them made the drop
    deadlock once. Engines are disposed by their owners first; this closes what leaked."""
    with admin.connect() as connection:
        ended = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :schema AND pid <> pg_backend_pid()"
            ),
            {"schema": schema},
        ).scalar_one()
        connection.commit()
    return int(ended)


def drop_postgres_schema(admin: Engine, schema: str, *, attempts: int = 5) -> None:
    """Drop ``schema`` once no connection is left on it; retried (each time closing what
    appeared since) if a lock still stands in the way, never waiting forever on one."""
    try:
        for attempt in range(attempts):
            close_schema_connections(admin, schema)
            try:
                with admin.begin() as connection:
                    connection.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
                    connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                return
            except sa.exc.OperationalError:  # lock timeout or deadlock: close and try again
                if attempt == attempts - 1:
                    raise
    finally:
        admin.dispose()


@contextmanager
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of ``backend``: a SQLite file in ``tmp_path``, or a fresh
    PostgreSQL schema that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
        return
    admin, schema = create_postgres_schema()
    try:
        yield postgres_schema_url(schema)
    finally:
        drop_postgres_schema(admin, schema)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend under test (not yet migrated)."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database's engine."""
    migrate(database_url)
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


# ---------------------------------------------------------------------------- chain scenario


@dataclass
class Chain:
    """A deployment on the session anvil plus senders for each actor of the scenario."""

    w3: Web3
    deployment: Deployment
    admin: Relayer
    relayer: Relayer
    patient: Relayer
    doctor1: str
    doctor2: str
    nurse: str
    authority: str
    scenario: dict[str, Any] = field(default_factory=dict)

    def contract(self, name: str) -> Any:
        return self.w3.eth.contract(
            address=self.deployment.address(name), abi=contracts.load(name)["abi"]
        )

    def data(self, name: str, function: str, *args: Any) -> bytes:
        return bytes.fromhex(self.contract(name).encode_abi(function, args=list(args))[2:])

    def send(self, sender: Relayer, name: str, function: str, *args: Any) -> Receipt:
        to = self.deployment.address(name)
        return sender.send_and_wait(to=to, data=self.data(name, function, *args))

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def key(self, who: str) -> LocalAccount:
        """The account of an actor of the scenario (it signs what it does)."""
        return Account.from_key(ANVIL_KEYS[ACTOR_KEYS[who]])


ACTOR_KEYS = {"doctor1": 4, "doctor2": 5, "nurse": 6, "authority": 7, "patient": 8}


def b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\x00")


def rid(n: int) -> bytes:
    return n.to_bytes(32, "big")


def deploy_chain(node: AnvilProcess) -> Chain:
    w3 = Web3(Web3.HTTPProvider(node.url))
    admin_key, relayer_key, patient_key = ANVIL_KEYS[0], ANVIL_KEYS[1], ANVIL_KEYS[8]
    relayer_address = Account.from_key(relayer_key).address
    deployment = deploy_all(w3, deployer_key=admin_key, relayer=relayer_address)
    return Chain(
        w3=w3,
        deployment=deployment,
        admin=Relayer(w3, admin_key),
        relayer=Relayer(w3, relayer_key),
        patient=Relayer(w3, patient_key),
        doctor1=Account.from_key(ANVIL_KEYS[4]).address,
        doctor2=Account.from_key(ANVIL_KEYS[5]).address,
        nurse=Account.from_key(ANVIL_KEYS[6]).address,
        authority=Account.from_key(ANVIL_KEYS[7]).address,
    )


def consent_tuple(consent: SignedConsent) -> tuple[Any, ...]:
    m = consent.message()
    return (
        m["patient"],
        m["grantee"],
        m["granteePolicyHash"],
        m["recordId"],
        m["purpose"],
        m["notBefore"],
        m["expiresAt"],
        m["nonce"],
    )


def emit_every_event(chain: Chain) -> dict[str, Any]:
    """Send transactions that emit every event kind of every contract; returns what was made.

    Every action in someone's name carries that person's signature (the contracts trust
    signatures, not the relayer); the relayer only sends. (``AdminTransferred`` is emitted by
    the Consortium constructor during ``deploy_all``.)
    """
    c, admin, relayer = chain, chain.admin, chain.relayer
    w3, d = c.w3, c.deployment
    doctor1, doctor2, patient_key = c.key("doctor1"), c.key("doctor2"), c.key("patient")
    inst_admin = Account.from_key(ANVIL_KEYS[2]).address
    c.send(admin, "Consortium", "addInstitution", "成都市第三人民医院", b32("cd3h"), inst_admin)
    c.send(admin, "Consortium", "addInstitution", "蒲江县人民医院", b32("pujiang"), inst_admin)
    c.send(admin, "Consortium", "updateInstitution", 2, "蒲江县医院", inst_admin)
    c.send(admin, "Consortium", "suspendInstitution", 2)
    c.send(admin, "Consortium", "reinstateInstitution", 2)
    attrs1 = [b32("dept:cardiology"), b32("spec:heart_failure"), b32("title:chief")]
    c.send(admin, "Consortium", "enrolMember", c.doctor1, 1, 1, attrs1)
    c.send(admin, "Consortium", "enrolMember", c.doctor2, 2, 1, [b32("dept:general_practice")])
    c.send(admin, "Consortium", "enrolMember", c.nurse, 1, 2, [b32("dept:er")])
    c.send(admin, "Consortium", "updateMember", c.nurse, 2, [b32("dept:er"), b32("ward:3")])
    c.send(admin, "Consortium", "suspendMember", c.nurse)
    c.send(admin, "Consortium", "reinstateMember", c.nurse)
    c.send(admin, "Consortium", "removeMember", c.nurse)
    c.send(admin, "Consortium", "enrolMember", c.authority, 0, 4, [])

    patient = c.patient.address
    registry = RecordRegistry(w3, d.address("RecordRegistry"), sender=relayer)
    records = [rid(i) for i in range(1, 6)]

    def registration(n: bytes, author: LocalAccount) -> tuple[RecordRegistration, bytes]:
        message = RecordRegistration(
            id=n,
            patient=patient,
            body_cid=f"bafy-body-{n.hex()[-4:]}",
            header_cid="bafy-header",
            body_hash=n,
            policy_hash=b32("p"),
            record_type=b32("fhir"),
            deadline=chain_deadline(w3),
        )
        return message, registry.sign_as(author, message)

    registry.register(*registration(records[0], doctor1)).wait()
    registry.register_batch([registration(r, doctor1) for r in records[1:4]]).wait()
    registry.register(*registration(records[4], patient_key)).wait()
    later = chain_deadline(w3)
    rekey = RecordRekey(
        id=records[0], version=1, header_cid="bafy-header-2", policy_hash=b32("p2"), deadline=later
    )
    registry.rekey(rekey, registry.sign_as(doctor1, rekey)).wait()
    supersede = RecordSupersede(id=records[1], new_id=records[2], deadline=later)
    registry.supersede(supersede, registry.sign_as(doctor1, supersede)).wait()
    withdraw = RecordWithdraw(id=records[3], reason_code=7, deadline=later)
    registry.withdraw(withdraw, registry.sign_as(doctor1, withdraw)).wait()

    now = int(w3.eth.get_block("latest")["timestamp"])
    domain = Domain(chain_id=31337, verifying_contract=d.address("ConsentManager"))
    direct = SignedConsent(patient=patient, grantee=c.doctor1, expires_at=now + 86_400, nonce=1)
    relayed = SignedConsent(
        patient=patient,
        grantee_policy_hash=b32("role:doctor and org:pujiang"),
        record_id=records[0],
        purpose=Purpose.REFERRAL,
        expires_at=2**64 - 1,
        nonce=2**127,
    )
    c.send(c.patient, "ConsentManager", "grant", consent_tuple(direct))
    signature = sign(domain, relayed, ANVIL_KEYS[8])
    c.send(relayer, "ConsentManager", "grantBySig", consent_tuple(relayed), signature)
    c.send(c.patient, "ConsentManager", "revoke", consent_tuple(direct))

    log = AccessLog(w3, d.address("AccessLog"), sender=relayer)
    log.log_access(read_entry(log, doctor1, records[0], reason_code=0)).wait()
    batch = [
        read_entry(log, doctor2, r, granted=False, purpose=Purpose.REFERRAL, reason_code=403)
        for r in records
    ] + [read_entry(log, doctor2, rid(999), granted=False, reason_code=404)]
    log.log_access_batch(batch).wait()
    log.log_key_issued(holder=c.doctor1, attributes_hash=b32("attrs"), epoch=1).wait()

    workflow = Workflow(w3, d.address("Workflow"), sender=relayer)

    def signed(who: LocalAccount, message: Any) -> tuple[Any, bytes]:
        return message, workflow.sign_as(who, message)

    later = chain_deadline(w3)
    workflow.request_referral(
        *signed(
            doctor1,
            ReferralRequest(
                referral_id=rid(101),
                patient=patient,
                to_institution=2,
                record_id=records[0],
                reason=b32("cardio"),
                deadline=later,
            ),
        )
    ).wait()
    workflow.step_referral(*signed(doctor2, ReferralStep.accept(rid(101), deadline=later))).wait()
    workflow.step_referral(*signed(doctor2, ReferralStep.arrive(rid(101), deadline=later))).wait()
    summary = rid(6)  # the receiving doctor's answer, written after the acceptance
    registry.register(*registration(summary, doctor2)).wait()
    workflow.step_referral(
        *signed(doctor2, ReferralStep.complete(rid(101), summary, deadline=later))
    ).wait()
    for number, reason in ((102, "x"), (103, "y")):
        workflow.request_referral(
            *signed(
                doctor1,
                ReferralRequest(
                    referral_id=rid(number),
                    patient=patient,
                    to_institution=2,
                    reason=b32(reason),
                    deadline=later,
                ),
            )
        ).wait()
    workflow.step_referral(
        *signed(doctor2, ReferralStep.reject(rid(102), b32("full"), deadline=later))
    ).wait()
    workflow.step_referral(
        *signed(doctor1, ReferralStep.cancel(rid(103), b32("better"), deadline=later))
    ).wait()
    closes = now + 3_600
    workflow.request_consultation(
        *signed(
            doctor1,
            ConsultationRequest(
                consultation_id=rid(201),
                patient=patient,
                record_id=records[0],
                invited_institutions=(2,),
                closes_at=closes,
                deadline=later,
            ),
        )
    ).wait()
    workflow.submit_opinion(
        *signed(
            doctor2,
            ConsultationOpinion(
                consultation_id=rid(201),
                opinion_cid="bafy-opinion",
                opinion_hash=b32("h"),
                deadline=later,
            ),
        )
    ).wait()
    workflow.close_consultation(
        *signed(
            doctor1,
            ConsultationClose(
                consultation_id=rid(201),
                conclusion_cid="bafy-conclusion",
                conclusion_hash=b32("c"),
                deadline=later,
            ),
        )
    ).wait()
    workflow.request_consultation(
        *signed(
            doctor1,
            ConsultationRequest(
                consultation_id=rid(202),
                patient=patient,
                invited_institutions=(1, 2),
                closes_at=closes,
                deadline=later,
            ),
        )
    ).wait()
    workflow.cancel_consultation(
        *signed(
            doctor1,
            ConsultationCancel(consultation_id=rid(202), reason=b32("moot"), deadline=later),
        )
    ).wait()
    return {"records": records, "direct": direct, "relayed": relayed, "summary": summary}


def chain_deadline(w3: Web3, seconds: int = 3_600) -> int:
    """``seconds`` after the latest block (chain time)."""
    return int(w3.eth.get_block("latest")["timestamp"]) + seconds


@pytest.fixture(scope="module")
def chain(anvil: AnvilProcess) -> Chain:
    """A fresh deployment on the session anvil with every event kind emitted once or more."""
    deployed = deploy_chain(anvil)
    deployed.scenario = emit_every_event(deployed)
    return deployed
