"""``/keys/authorities`` and ``/patient-keys``: the key authorities and patients' keys, from
the chain (the API holds no key: ``docs/key-authorities.md``).

- ``GET /keys/authorities`` lists every institution with its authority as ``Consortium`` has
  it (institution, code, URL, public-key digest, epoch, floor). A convenience: clients read the
  same from the chain and pin the digest themselves.
- ``GET /patient-keys/{patient}`` reads the X25519 key a patient registered
  (``ConsentManager.patientKeyOf``): what a clinician's page wraps the patient slot of a record
  it writes for that patient to (the page cannot reach the chain itself). Public, like the chain.
- ``POST /patient-keys`` relays a patient's EIP-712-signed ``PatientKey`` registration to
  ``ConsentManager.registerPatientKey`` (the contract checks the signature; the relayer only
  pays gas).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.deps import ClientIpDep, ContextDep, LimiterDep
from ledger_api.http_errors import NotFoundError, UnprocessableError
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import ADDRESS_CHARS
from ledger_api.services.access import chain_required

router = APIRouter(tags=["keys"])
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class AuthorityOut(BaseModel):
    institution: int
    code: str
    active: bool
    registered: bool
    url: str
    digest: str = Field(description="SHA-256 of the authority's FAME public key (0x hex).")
    signer: str
    epoch: int = Field(description="The institution's membership epoch (its slots' epoch).")
    floor: int


class AuthoritiesOut(BaseModel):
    authorities: list[AuthorityOut]


@router.get(
    "/keys/authorities",
    summary="Every institution's key authority as recorded on chain (no key held here)",
    responses=error_responses(s503="chain_unavailable"),
)
def authorities(ctx: ContextDep) -> AuthoritiesOut:
    consortium = ctx.chain.consortium
    out = []
    with chain_required("cannot read the authorities from Consortium"):
        for number in range(1, consortium.institution_count() + 1):
            inst = consortium.institution(number)
            auth = consortium.authority_of(number)
            out.append(
                AuthorityOut(
                    institution=number,
                    code=inst.code.casefold(),
                    active=inst.active,
                    registered=auth.registered,
                    url=auth.url,
                    digest="0x" + auth.pubkey_digest.hex(),
                    signer=auth.signer,
                    epoch=auth.epoch,
                    floor=auth.floor,
                )
            )
    return AuthoritiesOut(authorities=out)


class PatientKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", max_length=42)
    public_key: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", max_length=66)
    version: int = Field(ge=1, le=2**64 - 1)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", max_length=132)


class PatientKeyOut(BaseModel):
    patient: str
    public_key: str
    version: int
    tx_hash: str | None = Field(
        description="The registration's transaction; null when the chain already held exactly "
        "this key at this version (a retry, or a wallet signing in again: nothing is sent)."
    )


class RegisteredPatientKeyOut(BaseModel):
    patient: str
    public_key: str = Field(description="The patient's X25519 public key (0x hex, 32 bytes).")
    version: int


@router.get(
    "/patient-keys/{patient}",
    summary="The X25519 key a patient registered on chain (their records' patient slot)",
    responses=error_responses(
        s404="patient_key_missing", s422="invalid_address", s503="chain_unavailable"
    ),
)
def patient_key(
    patient: Annotated[str, Path(max_length=ADDRESS_CHARS)], ctx: ContextDep
) -> RegisteredPatientKeyOut:
    """404 until the patient registered a key: a record written for them then cannot carry
    their slot, and the writer must not make one up."""
    if not _ADDRESS.fullmatch(patient):
        raise UnprocessableError(
            "patient must be a 0x-prefixed 20-byte address", code="invalid_address"
        )
    with chain_required("cannot read the patient's key"):
        key, version = ctx.chain.consents.patient_key_of(patient.lower())
    if key == bytes(32):
        raise NotFoundError(
            f"patient {patient} has not registered their key yet (the wallet does it at sign-in)",
            code="patient_key_missing",
        )
    return RegisteredPatientKeyOut(patient=patient, public_key="0x" + key.hex(), version=version)


@router.post(
    "/patient-keys",
    summary="Relay a patient's signed X25519 key registration to ConsentManager",
    responses=error_responses(
        s422="patient_key_refused", s429="rate_limited", s503="chain_unavailable"
    ),
)
def register_patient_key(
    body: PatientKeyIn, ctx: ContextDep, limiter: LimiterDep, ip: ClientIpDep
) -> PatientKeyOut:
    """Rate-limited like key requests (per patient and per IP): each relay costs gas.
    Idempotent: the key already registered at this version is answered without a transaction."""
    limiter.hit("key_issue", address=body.patient, ip=ip)
    with chain_required("cannot relay the patient key"):
        key, version = ctx.chain.consents.patient_key_of(body.patient.lower())
        if version == body.version and "0x" + key.hex() == body.public_key.lower():
            return PatientKeyOut(
                patient=body.patient, public_key=body.public_key, version=version, tx_hash=None
            )
        try:
            mined = ctx.chain.consents.register_patient_key(
                patient=body.patient,
                public_key=bytes.fromhex(body.public_key[2:]),
                version=body.version,
                signature=bytes.fromhex(body.signature[2:]),
            ).wait()
        except TransactionRevertedError as exc:
            raise UnprocessableError(
                f"ConsentManager refused the key: {exc}", code="patient_key_refused"
            ) from None
    return PatientKeyOut(
        patient=body.patient,
        public_key=body.public_key,
        version=body.version,
        tx_hash=mined.tx_hash,
    )
