"""The OpenAPI document: bounded inputs, every status each route can answer, and the EIP-712
types a wallet signs, generated from ``crypto.signing``.

Read from ``create_app(...).openapi()`` (no running stack needed) and from ``GET /chain``.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto import signing
from ledger_api.app import create_app
from ledger_api.config import Settings
from ledger_api.eip712 import type_sets
from tests.api.conftest import Stack

ERROR_REF = "#/components/schemas/ErrorOut"
SMART_ERROR_REF = "#/components/schemas/SmartErrorOut"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("openapi")
    return create_app(Settings(relayer_key="0x" + "11" * 32, data_dir=Path(data))).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]


def _unbounded(
    schema: dict[str, Any], where: str, doc: dict[str, Any], seen: frozenset[str]
) -> Iterator[str]:
    comps = doc["components"]["schemas"]
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        if name not in seen:
            yield from _unbounded(comps[name], f"{where}>{name}", doc, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _unbounded({"maxLength": schema.get("maxLength"), **sub}, where, doc, seen)
    kind = schema.get("type")
    free = schema.get("maxLength") is None and not {"enum", "const"} & set(schema)
    if kind == "string" and free and schema.get("format") != "binary":
        yield f"string without maxLength: {where}"
    if kind == "integer" and "maximum" not in schema:
        yield f"integer without maximum: {where}"
    if kind == "array":
        if "maxItems" not in schema:
            yield f"array without maxItems: {where}"
        yield from _unbounded(schema.get("items", {}), f"{where}[]", doc, seen)
    for name, prop in schema.get("properties", {}).items():
        yield from _unbounded(prop, f"{where}.{name}", doc, seen)


def test_every_input_is_bounded(document: dict[str, Any]) -> None:
    problems: list[str] = []
    for method, path, op in _operations(document):
        for param in op.get("parameters", []):
            where = f"{method} {path} {param['in']}:{param['name']}"
            problems += _unbounded(param.get("schema", {}), where, document, frozenset())
        for body in op.get("requestBody", {}).get("content", {}).values():
            problems += _unbounded(
                body.get("schema", {}), f"{method} {path} body", document, frozenset()
            )
    assert problems == []


def test_every_error_answer_has_the_error_schema(document: dict[str, Any]) -> None:
    """The API's error form everywhere but the SMART/OAuth routes, which answer RFC 6749's
    (``SmartErrorOut``, also admitting the API's form for their session errors)."""
    for method, path, op in _operations(document):
        smart = path.startswith("/smart/")
        for status, response in op["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                if smart and schema == {"$ref": SMART_ERROR_REF}:
                    continue
                assert schema == {"$ref": ERROR_REF}, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_statuses_from_dependencies_and_bodies_are_documented(document: dict[str, Any]) -> None:
    ops = {(m, p): op for m, p, op in _operations(document)}
    signed_in = [
        ("GET", "/records/{record_id}"),
        ("GET", "/records/{record_id}/header"),
        ("GET", "/records/{record_id}/body"),
        ("GET", "/patients/{address}/records"),
        ("GET", "/patients/{address}/timeline"),
        ("POST", "/records"),
    ]
    for key in signed_in:  # the 401s the schemathesis run found undocumented
        assert "401" in ops[key]["responses"], key
    json_posts = [
        (m, p)
        for (m, p), op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert len(json_posts) >= 11
    for key in json_posts:  # a body that is not UTF-8 JSON; a body over the limit
        assert {"400", "413", "422"} <= set(ops[key]["responses"]), key
    assert {"413", "415"} <= set(ops[("POST", "/records")]["responses"])
    for key in [
        ("POST", "/auth/nonce"),
        ("POST", "/auth/login"),
        ("POST", "/patient-keys"),
        ("POST", "/records"),
        ("GET", "/records/{record_id}/body"),
    ]:
        response = ops[key]["responses"]["429"]
        assert "Retry-After" in response["headers"], key
    assert "503" in ops[("GET", "/consents")]["responses"]


def test_the_eip712_types_are_published_from_crypto_signing(document: dict[str, Any]) -> None:
    published = {s["domain"]["name"]: s for s in document["info"]["x-eip712"]}
    consents = published[signing.DOMAIN_NAME]
    assert consents["types"]["Consent"] == signing.EIP712_TYPES["Consent"]
    assert consents["types"]["Revocation"] == signing.EIP712_TYPES["Revocation"]
    assert consents["types"]["EIP712Domain"] == signing.EIP712_DOMAIN_TYPE
    assert (
        published[signing.COSIGN_DOMAIN_NAME]["types"]["BreakGlassCosign"]
        == (signing.COSIGN_TYPES["BreakGlassCosign"])
    )
    assert "Consent" in document["info"]["description"]
    assert '"name": "granteePolicyHash"' in document["info"]["description"]


def test_a_type_set_added_to_signing_is_published_without_an_edit() -> None:
    module = types.ModuleType("fake_signing")
    module.DOMAIN_VERSION = "1"  # type: ignore[attr-defined]
    module.DOMAIN_NAME = "MedLedger ConsentManager"  # type: ignore[attr-defined]
    module.EIP712_TYPES = {"Consent": [{"name": "a", "type": "uint8"}]}  # type: ignore[attr-defined]
    module.ACTOR_DOMAIN_NAME = "MedLedger Workflow"  # type: ignore[attr-defined]
    module.ACTOR_DOMAIN_VERSION = "2"  # type: ignore[attr-defined]
    module.ACTOR_TYPES = {"Step": [{"name": "b", "type": "bytes32"}]}  # type: ignore[attr-defined]
    module.HELPER_TYPES = {"x": "not a type map"}  # type: ignore[attr-defined]
    found = {s.domain_name: s for s in type_sets(module)}
    assert set(found) == {"MedLedger ConsentManager", "MedLedger Workflow"}
    assert (found["MedLedger Workflow"].contract, found["MedLedger Workflow"].domain_version) == (
        "Workflow",
        "2",
    )


def test_get_chain_names_every_domain_with_its_contract(api_stack: Stack) -> None:
    body = api_stack.client.get("/chain").json()
    sets = {s["contract"]: s for s in body["eip712"]}
    consent_manager = sets["ConsentManager"]
    assert consent_manager["domain"] == {
        "name": signing.DOMAIN_NAME,
        "version": signing.DOMAIN_VERSION,
        "chainId": api_stack.deployment.chain_id,
        "verifyingContract": api_stack.deployment.address("ConsentManager"),
    }
    assert consent_manager["types"]["Consent"] == signing.EIP712_TYPES["Consent"]
    assert sets["EmergencyAccess"]["domain"]["verifyingContract"] == (
        api_stack.deployment.address("EmergencyAccess")
    )
