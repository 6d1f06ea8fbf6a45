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
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

import contracts
from crypto.signing import Consent as SignedConsent
from crypto.signing import Domain, Purpose, sign
from ledger_api.chain.anvil import AnvilProcess
from ledger_api.chain.deploy import Deployment, deploy_all
from ledger_api.chain.relayer import Receipt, Relayer
from storage.db import create_engine, migrate, session_factory
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
    url = sa.engine.make_url(postgres_url() or "")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def create_postgres_schema() -> tuple[Engine, str]:
    admin = postgres_admin_engine()
    schema = f"medledger_t_{secrets.token_hex(6)}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return admin, schema


def drop_postgres_schema(admin: Engine, schema: str) -> None:
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
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

    (``AdminTransferred`` is emitted by the Consortium constructor during ``deploy_all``.)
    """
    c, admin, relayer = chain, chain.admin, chain.relayer
    inst_admin = Account.from_key(ANVIL_KEYS[2]).address
    c.send(admin, "Consortium", "addInstitution", "成都市第三人民医院", b32("cd3h"), inst_admin)
    c.send(admin, "Consortium", "addInstitution", "蒲江县人民医院", b32("pujiang"), inst_admin)
    c.send(admin, "Consortium", "updateInstitution", 2, "蒲江县医院", inst_admin)
    c.send(admin, "Consortium", "suspendInstitution", 2)
    c.send(admin, "Consortium", "reinstateInstitution", 2)
    attrs1 = [b32("role:doctor"), b32("dept:cardiology"), b32("org:cd3h")]
    c.send(admin, "Consortium", "enrolMember", c.doctor1, 1, 1, attrs1)
    c.send(admin, "Consortium", "enrolMember", c.doctor2, 2, 1, [b32("org:pujiang")])
    c.send(admin, "Consortium", "enrolMember", c.nurse, 1, 2, [b32("role:nurse")])
    c.send(admin, "Consortium", "updateMember", c.nurse, 2, [b32("role:nurse"), b32("dept:er")])
    c.send(admin, "Consortium", "suspendMember", c.nurse)
    c.send(admin, "Consortium", "reinstateMember", c.nurse)
    c.send(admin, "Consortium", "removeMember", c.nurse)
    c.send(admin, "Consortium", "enrolMember", c.authority, 0, 4, [])

    patient = c.patient.address
    records = [rid(i) for i in range(1, 6)]

    def record(n: bytes, author: str) -> tuple[Any, ...]:
        return (
            n,
            patient,
            author,
            f"bafy-body-{n.hex()[-4:]}",
            "bafy-header",
            n,
            b32("p"),
            b32("fhir"),
        )

    c.send(relayer, "RecordRegistry", "register", record(records[0], c.doctor1))
    c.send(relayer, "RecordRegistry", "registerBatch", [record(r, c.doctor1) for r in records[1:4]])
    c.send(relayer, "RecordRegistry", "register", record(records[4], patient))
    c.send(relayer, "RecordRegistry", "rekey", c.doctor1, records[0], "bafy-header-2", b32("p2"))
    c.send(relayer, "RecordRegistry", "supersede", c.doctor1, records[1], records[2])
    c.send(relayer, "RecordRegistry", "withdraw", c.doctor1, records[3], 7)

    now = int(c.w3.eth.get_block("latest")["timestamp"])
    domain = Domain(chain_id=31337, verifying_contract=c.deployment.address("ConsentManager"))
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

    c.send(relayer, "AccessLog", "logAccess", records[0], c.doctor1, 0, True, 0)
    batch = [(r, c.doctor2, 1, False, 403) for r in records] + [
        (rid(999), c.doctor2, 0, False, 404)
    ]
    c.send(relayer, "AccessLog", "logAccessBatch", batch)
    c.send(relayer, "AccessLog", "logKeyIssued", c.doctor1, b32("attrs"), 1)

    c.send(
        relayer,
        "Workflow",
        "requestReferral",
        c.doctor1,
        rid(101),
        patient,
        2,
        records[0],
        b32("cardio"),
    )
    c.send(relayer, "Workflow", "acceptReferral", c.doctor2, rid(101))
    c.send(relayer, "Workflow", "markArrived", c.doctor2, rid(101))
    c.send(relayer, "Workflow", "completeReferral", c.doctor2, rid(101), records[4])
    c.send(
        relayer, "Workflow", "requestReferral", c.doctor1, rid(102), patient, 2, bytes(32), b32("x")
    )
    c.send(relayer, "Workflow", "rejectReferral", c.doctor2, rid(102), b32("full"))
    c.send(
        relayer, "Workflow", "requestReferral", c.doctor1, rid(103), patient, 2, bytes(32), b32("y")
    )
    c.send(relayer, "Workflow", "cancelReferral", c.doctor1, rid(103), b32("better"))
    deadline = now + 3_600
    c.send(
        relayer,
        "Workflow",
        "requestConsultation",
        c.doctor1,
        rid(201),
        patient,
        records[0],
        [2],
        bytes(32),
        deadline,
    )
    c.send(relayer, "Workflow", "submitOpinion", c.doctor2, rid(201), "bafy-opinion", b32("h"))
    c.send(
        relayer, "Workflow", "closeConsultation", c.doctor1, rid(201), "bafy-conclusion", b32("c")
    )
    c.send(
        relayer,
        "Workflow",
        "requestConsultation",
        c.doctor1,
        rid(202),
        patient,
        bytes(32),
        [1, 2],
        bytes(32),
        deadline,
    )
    c.send(relayer, "Workflow", "cancelConsultation", c.doctor1, rid(202), b32("moot"))
    return {"records": records, "direct": direct, "relayed": relayed}


@pytest.fixture(scope="module")
def chain(anvil: AnvilProcess) -> Chain:
    """A fresh deployment on the session anvil with every event kind emitted once or more."""
    deployed = deploy_chain(anvil)
    deployed.scenario = emit_every_event(deployed)
    return deployed
