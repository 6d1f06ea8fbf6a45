"""The gateway's HTTP server: atomic APIs with per-API keys, paging and OpenAPI; a flow API;
/metrics; the dead-letter API. Bad input gets a 4xx with a code, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import seed_his
from clients.gateway.server.app import create_gateway_app
from clients.gateway.server.keys import create_key, revoke_key
from tests.gateway.conftest import His
from tests.gateway.support import NoLedger

WORKSTATION_ORIGIN = "http://127.0.0.1:8000"  # the MedLedger API serving the workstation
LOOKUP = """kind: Flow
version: 1
name: lookup
description: 检验结果查询 (flow API)
source: {api: {keys: [lis-app], params: {type: object, required: [patient_id],
          properties: {patient_id: {type: string}}}}}
steps:
  - {id: labs, type: api, input: source, api: lab-results-by-patient,
     params: '{"patient_id": patient_id}'}
  - {id: each, type: foreach, input: labs}
  - {id: measured, type: filter, input: each, when: 'value >= 0'}
  - {id: brief, type: map, input: measured,
     expression: '{"code": loinc, "名称": item_name, "value": value}'}
"""


@pytest.fixture
def served(sqlite_his: His) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
    seed_his(sqlite_his.engine, sqlite_his.tables, patients=3, labs_each=5)
    (sqlite_his.root / "flows" / "lookup.yaml").write_text(LOOKUP, encoding="utf-8")
    text = (
        (sqlite_his.root / "gateway.yaml")
        .read_text()
        .replace(
            "server: {host: 127.0.0.1, port: 8780}",
            "server: {host: 127.0.0.1, port: 8780, admin_keys: [ops], index_keys: [workstation],"
            f" cors_origins: ['{WORKSTATION_ORIGIN}']}}",
        )
    )
    (sqlite_his.root / "gateway.yaml").write_text(text, encoding="utf-8")
    runtime = Runtime(sqlite_his.root, open_client=NoLedger, with_topics=False)
    keys = {
        name: create_key(runtime.store, name) for name in ("lis-app", "ops", "other", "workstation")
    }
    with TestClient(create_gateway_app(runtime)) as client:
        yield client, runtime, keys
    runtime.stop()


def get(client: TestClient, key: str | None, **params: Any) -> Any:
    headers = {"X-Api-Key": key} if key else {}
    return client.get("/apis/lab-results-by-patient", params=params, headers=headers)


def test_per_api_access_keys(served: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, runtime, keys = served
    assert get(client, None, patient_id="P000001").status_code == 401
    wrong = keys["lis-app"].split(".")[0] + ".not-the-secret"
    assert get(client, wrong, patient_id="P000001").status_code == 403
    assert get(client, keys["other"], patient_id="P000001").status_code == 403  # valid, not listed
    assert get(client, "lis-app", patient_id="P000001").status_code == 401
    ok = get(client, keys["lis-app"], patient_id="P000001")
    assert ok.status_code == 200
    assert len(ok.json()["items"]) == 5
    revoke_key(runtime.store, "lis-app")
    refused = get(client, keys["lis-app"], patient_id="P000001")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access_key"


def test_paging_and_parameters(served: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, _runtime, keys = served
    key = keys["lis-app"]
    first = get(client, key, patient_id="P000002", _limit=2).json()
    assert len(first["items"]) == 2
    assert first["next_offset"] == 2
    rest = get(client, key, patient_id="P000002", _limit=2, _offset=4).json()
    assert len(rest["items"]) == 1
    assert rest["next_offset"] is None
    seen = {r["id"] for r in first["items"]} | {r["id"] for r in rest["items"]}
    assert len(seen) == 3
    assert get(client, key, patient_id="P000002", _limit=201).status_code == 422  # over page.max
    assert get(client, key, patient_id="P000002", _limit="x").status_code == 422
    bad = get(client, key, patient_id="1 OR 1=1")  # the pattern refuses it before SQL
    assert bad.status_code == 422
    assert "patient_id" in bad.json()["message"]
    assert get(client, key).status_code == 422  # required
    assert get(client, key, patient_id="P000001", colour="red").status_code == 422  # unknown
    post = client.post(
        "/apis/lab-results-by-patient", headers={"X-Api-Key": key}, json={"patient_id": "P000003"}
    )
    assert post.status_code == 200
    assert len(post.json()["items"]) == 5
    for body in (b"{not json", b"[1, 2]"):
        answer = client.post(
            "/apis/lab-results-by-patient", headers={"X-Api-Key": key}, content=body
        )
        assert answer.status_code == 422
    big = client.post(
        "/apis/lab-results-by-patient",
        headers={"X-Api-Key": key},
        content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
    )
    assert big.status_code == 413
    assert client.get("/apis/nope").status_code == 404


def test_openapi_describes_the_declarations(
    served: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, _runtime, _keys = served
    doc = client.get("/openapi.json").json()
    op = doc["paths"]["/apis/lab-results-by-patient"]["get"]
    names = {p["name"]: p for p in op["parameters"]}
    assert names["patient_id"]["required"] is True
    assert names["patient_id"]["schema"]["pattern"] == "^P[0-9]{6}$"
    assert {"_offset", "_limit"} <= set(names)
    assert op["security"] == [{"apiKey": []}]
    assert "/flows/lookup" in doc["paths"]
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-Api-Key"


def test_flow_api_runs_the_dag(served: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, runtime, keys = served
    answer = client.post(
        "/flows/lookup", headers={"X-Api-Key": keys["lis-app"]}, json={"patient_id": "P000001"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"]
    assert len(body["output"]) == 5
    assert "名称" in body["output"][0]
    steps = runtime.store.run_steps(body["run_id"])
    assert [s["step"] for s in steps] == ["labs", "each", "measured", "brief"]
    assert all(s["duration_ms"] >= 0 for s in steps)
    assert (
        client.post("/flows/lookup", headers={"X-Api-Key": keys["lis-app"]}, json={}).status_code
        == 422
    )
    assert client.post("/flows/lookup", json={"patient_id": "P000001"}).status_code == 401


def test_metrics_and_monitor_state(served: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, runtime, _keys = served
    runtime.run_once()
    text = client.get("/metrics").text
    assert 'gateway_messages_consumed_total{kind="flow",name="lab-results"} 15.0' in text
    assert "gateway_records_held 18.0" in text  # 15 labs and 3 diagnoses, nobody linked
    state = client.get("/monitor/state").json()
    lab = next(f for f in state["flows"] if f["name"] == "lab-results")
    assert lab["counters"]["consumed"] == 15
    assert lab["counters"]["produced"] == 15
    assert {"from": "observation", "to": "share"} in lab["edges"]
    assert state["sink"] == {"held": 18}
    page = client.get("/monitor")
    assert page.status_code == 200
    assert "monitor.js" in page.text
    assert client.get("/monitor/static/../../store.py").status_code == 404


def test_dead_letter_api(
    served: tuple[TestClient, Runtime, dict[str, str]], sqlite_his: His
) -> None:
    client, runtime, keys = served
    with sqlite_his.engine.begin() as conn:
        conn.execute(sqlite_his.tables.diagnosis.update().values(icd10="BAD"))
    runtime.run_once()
    assert client.get("/dead-letters").status_code == 401
    assert client.get("/dead-letters", headers={"X-Api-Key": keys["lis-app"]}).status_code == 403
    listed = client.get("/dead-letters", headers={"X-Api-Key": keys["ops"]}).json()["items"]
    assert len(listed) == 3
    assert all("ICD-10" in d["reason"] for d in listed)
    run = client.get(
        f"/monitor/runs/{runtime.store.runs('diagnoses')[0]['run_id']}",
        headers={"X-Api-Key": keys["ops"]},
    ).json()
    assert run["steps"][0]["error"]
    first = listed[0]["id"]
    still = client.post(f"/dead-letters/{first}/replay", headers={"X-Api-Key": keys["ops"]})
    assert still.status_code == 422
    assert still.json()["state"] == "open"
    with sqlite_his.engine.begin() as conn:  # the HIS fixes its data; the message kept the bad code
        conn.execute(sqlite_his.tables.diagnosis.update().values(icd10="I10"))
    mapping = sqlite_his.root / "mappings" / "condition.yaml"
    mapping.write_text(
        mapping.read_text().replace('"code": icd10,', '"code": icd10 = "BAD" ? "I10" : icd10,')
    )
    fixed = Runtime(sqlite_his.root, open_client=NoLedger, with_topics=False)
    try:
        with TestClient(create_gateway_app(fixed)) as again:
            ok = again.post(f"/dead-letters/{first}/replay", headers={"X-Api-Key": keys["ops"]})
            assert ok.status_code == 200
            assert ok.json()["state"] == "replayed"
            assert (
                again.post(
                    "/dead-letters/99999/replay", headers={"X-Api-Key": keys["ops"]}
                ).status_code
                == 404
            )
            assert (
                again.get(
                    "/dead-letters", headers={"X-Api-Key": keys["ops"]}, params={"limit": 0}
                ).status_code
                == 422
            )
    finally:
        fixed.stop()


def test_patient_index_for_the_workstation(
    served: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    """GET /patient-index/{id}: the linked wallet, behind index keys, callable from the
    workstation's origin only."""
    client, runtime, keys = served
    wallet = Account.create().address
    runtime.sink.link("MRN-0001", wallet)

    def lookup(patient_id: str, key: str | None, origin: str | None = None) -> Any:
        headers = {"X-Api-Key": key} if key else {}
        if origin:
            headers["Origin"] = origin
        return client.get(f"/patient-index/{patient_id}", headers=headers)

    assert lookup("MRN-0001", None).status_code == 401
    assert lookup("MRN-0001", keys["lis-app"]).status_code == 403  # not an index key
    found = lookup("MRN-0001", keys["workstation"], WORKSTATION_ORIGIN)
    assert found.status_code == 200
    assert found.json()["wallet"] == wallet
    assert found.json()["patient_id"] == "MRN-0001"
    assert found.headers["access-control-allow-origin"] == WORKSTATION_ORIGIN
    elsewhere = lookup("MRN-0001", keys["workstation"], "http://evil.example")
    assert "access-control-allow-origin" not in elsewhere.headers
    missing = lookup("MRN-9999", keys["workstation"])
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_linked"
    assert lookup("x" * 129, keys["workstation"]).status_code == 422
    preflight = client.options(
        "/patient-index/MRN-0001",
        headers={
            "Origin": WORKSTATION_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == WORKSTATION_ORIGIN
