"""The CDS Hooks 2.0 services over HTTP: discovery and responses validated against the
committed 2.0 schemas, cards as the spec defines them, and the feedback endpoint against
forged, replayed and malformed feedback."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clients.assistant.app import create_app
from clients.assistant.cds.cards import OVERRIDE_SYSTEM
from clients.assistant.cds.schemas import cds_schema, schema_errors
from clients.assistant.settings import AssistantSettings
from tests.assistant.test_records import valid_form

CONTEXT = {"userId": "Practitioner/gp-1", "patientId": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}


def hook_request(hook: str, **context: Any) -> dict[str, Any]:
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": {**CONTEXT, **context}}


def coding_card(client: TestClient, text: str = "2型糖尿病 血糖控制不佳") -> dict[str, Any]:
    answer = client.post(
        "/cds-services/icd10-coding", json=hook_request("gp-diagnosis-entry", diagnosisText=text)
    )
    assert answer.status_code == 200, answer.text
    assert schema_errors("response", answer.json()) == []
    return answer.json()["cards"][0]


def feedback(card: dict[str, Any], **item: Any) -> dict[str, Any]:
    return {
        "feedback": [{"card": card["uuid"], "outcomeTimestamp": "2026-11-26T02:00:00Z", **item}]
    }


def check_cards(cards: list[dict[str, Any]]) -> None:
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        assert card["source"]["url"].startswith("http://assistant.test/transparency#")
        assert card["overrideReasons"]
        assert all(r["display"] for r in card["overrideReasons"])


def test_the_schemas_are_the_2_0_release_and_catch_what_the_spec_forbids() -> None:
    for name in ("discovery", "request", "response", "feedback"):
        assert cds_schema(name)["x-cds-hooks-version"] == "2.0"  # type: ignore[arg-type]
    card = {"summary": "x" * 140, "indicator": "info", "source": {"label": "s"}}
    assert schema_errors("response", {"cards": [card]})
    card["summary"] = "ok"
    assert schema_errors("response", {"cards": [card]}) == []
    assert schema_errors("response", {"cards": [{**card, "indicator": "urgent"}]})
    assert schema_errors("response", {"cards": [{**card, "suggestions": [{"label": "a"}]}]})
    action = {"type": "create", "description": "d"}
    assert schema_errors(
        "response",
        {
            "cards": [
                {
                    **card,
                    "selectionBehavior": "any",
                    "suggestions": [{"label": "a", "actions": [action]}],
                }
            ]
        },
    )
    assert schema_errors(
        "feedback",
        {
            "feedback": [
                {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-01-01T00:00:00Z"}
            ]
        },
    )
    assert schema_errors("request", {"hook": "patient-view", "context": {}})


def test_discovery_lists_the_three_services(client: TestClient) -> None:
    answer = client.get("/cds-services").json()
    assert schema_errors("discovery", answer) == []
    services = {s["id"]: s for s in answer["services"]}
    assert set(services) == {"icd10-coding", "gp-intake", "gp-record"}
    assert services["gp-intake"]["hook"] == "patient-view"
    assert services["gp-intake"]["prefetch"] == {"patient": "Patient/{{context.patientId}}"}


def test_the_coding_service_suggests_codes_as_a_card(client: TestClient) -> None:
    card = coding_card(client)
    check_cards([card])
    assert card["summary"].startswith("ICD-10建议：E11.9")
    assert card["selectionBehavior"] == "at-most-one"
    assert card["suggestions"][0]["isRecommended"] is True
    condition = card["suggestions"][0]["actions"][0]["resource"]
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "E11.9",
        "display": "2型糖尿病不伴有并发症",
    }
    assert "建议，须医生确认" in card["detail"]
    assert "包含词条" in card["detail"]


def test_the_intake_service_raises_red_flags_and_a_differential(client: TestClient) -> None:
    request = hook_request("patient-view")
    request["prefetch"] = {
        "patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1962-05-01"}
    }
    request["extension"] = {
        "cn.medledger.intake": {
            "complaint": "chest_pain",
            "answers": {"character": "pressing", "rest20": True, "sweating": True},
        }
    }
    answer = client.post("/cds-services/gp-intake", json=request)
    assert answer.status_code == 200, answer.text
    assert schema_errors("response", answer.json()) == []
    cards = answer.json()["cards"]
    check_cards(cards)
    assert cards[0]["indicator"] == "critical"
    assert "急性冠脉综合征" in cards[0]["summary"]
    assert "RF-CP-ACS" in cards[0]["detail"]
    assert "年龄≥50岁" not in cards[0]["detail"]
    assert cards[-1]["indicator"] == "info"
    assert cards[-1]["summary"].startswith("胸痛鉴别诊断（建议）")
    without = client.post("/cds-services/gp-intake", json=hook_request("patient-view"))
    assert without.json() == {"cards": []}


def test_the_record_service_refuses_or_offers_the_document(client: TestClient) -> None:
    refused = client.post(
        "/cds-services/gp-record",
        json=hook_request("gp-record-sign", record=valid_form(chief_complaint="反复头晕")),
    )
    assert schema_errors("response", refused.json()) == []
    card = refused.json()["cards"][0]
    check_cards([card])
    assert card["indicator"] == "warning"
    assert "cc-no-duration" in card["detail"]
    accepted = client.post(
        "/cds-services/gp-record", json=hook_request("gp-record-sign", record=valid_form())
    )
    assert schema_errors("response", accepted.json()) == []
    card = accepted.json()["cards"][0]
    assert card["indicator"] == "info"
    assert card["suggestions"][0]["actions"][0]["resource"]["type"] == "document"
    other = client.post(
        "/cds-services/gp-record",
        json=hook_request("gp-record-sign", record=valid_form(patient_id="0xsomeoneelse")),
    )
    assert other.status_code == 400
    assert "differs from context.patientId" in other.json()["message"]


@pytest.mark.parametrize(
    ("service", "body", "status", "message"),
    [
        ("nope", {}, 404, "no CDS service"),
        ("icd10-coding", hook_request("patient-view", diagnosisText="高血压"), 400, "answers hook"),
        ("icd10-coding", {"hook": "gp-diagnosis-entry", "context": CONTEXT}, 400, "hookInstance"),
        ("icd10-coding", hook_request("gp-diagnosis-entry"), 400, "context.diagnosisText"),
        (
            "icd10-coding",
            hook_request("gp-diagnosis-entry", diagnosisText="x" * 201),
            400,
            "diagnosisText",
        ),
        (
            "icd10-coding",
            {**hook_request("gp-diagnosis-entry", diagnosisText="a"), "context": []},
            400,
            "context",
        ),
        (
            "gp-intake",
            {
                **hook_request("patient-view"),
                "extension": {"cn.medledger.intake": {"complaint": "x"}},
            },
            400,
            "unknown complaint",
        ),
        ("gp-record", hook_request("gp-record-sign", record="text"), 422, "must be a JSON object"),
    ],
)
def test_malformed_hook_calls_get_a_precise_4xx(
    client: TestClient, service: str, body: Any, status: int, message: str
) -> None:
    answer = client.post(f"/cds-services/{service}", json=body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["message"]


def test_non_json_and_oversized_bodies(client: TestClient) -> None:
    answer = client.post(
        "/cds-services/icd10-coding",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["message"] == "the body is not JSON"
    huge = json.dumps(hook_request("gp-diagnosis-entry", diagnosisText="高血压", pad="x" * 300_000))
    assert client.post("/cds-services/icd10-coding", content=huge).status_code == 413

    def chunks():  # no content-length: the limit counts what streams in
        for _ in range(40):
            yield b" " * 10_000

    assert client.post("/coding/suggest", content=chunks()).status_code == 413


def test_overrides_and_acceptances_are_recorded_once(client: TestClient) -> None:
    card = coding_card(client)
    reason = {
        "reason": {"system": OVERRIDE_SYSTEM, "code": "more-specific"},
        "userComment": "应为E11.4",
    }
    body = feedback(card, outcome="overridden", overrideReason=reason)
    assert client.post("/cds-services/icd10-coding/feedback", json=body).json() == {"stored": 1}
    assert client.post("/cds-services/icd10-coding/feedback", json=body).json() == {"stored": 0}
    accepted = feedback(
        card,
        outcome="accepted",
        outcomeTimestamp="2026-11-26T02:01:00Z",
        acceptedSuggestions=[{"id": card["suggestions"][1]["uuid"]}],
    )
    assert client.post("/cds-services/icd10-coding/feedback", json=accepted).json() == {"stored": 1}
    stored = client.app.state.store.feedback("icd10-coding")  # type: ignore[attr-defined]
    assert [(f["outcome"], f["reasonCode"], f["userComment"]) for f in stored] == [
        ("overridden", "more-specific", "应为E11.4"),
        ("accepted", None, None),
    ]


def test_forged_and_malformed_feedback_is_refused_and_nothing_half_written(
    client: TestClient,
) -> None:
    card = coding_card(client)
    other = client.post(
        "/cds-services/gp-record", json=hook_request("gp-record-sign", record=valid_form())
    ).json()["cards"][0]

    def post(body, service="icd10-coding"):
        return client.post(f"/cds-services/{service}/feedback", json=body)

    cases = [
        (feedback({"uuid": str(uuid.uuid4())}, outcome="overridden"), 404, "issued no card"),
        (feedback(other, outcome="overridden"), 404, "issued no card"),  # another service's card
        (
            feedback(
                card,
                outcome="accepted",
                acceptedSuggestions=[{"id": other["suggestions"][0]["uuid"]}],
            ),
            400,
            "is not on card",
        ),
        (
            feedback(
                card,
                outcome="overridden",
                overrideReason={"reason": {"system": OVERRIDE_SYSTEM, "code": "patient-declined"}},
            ),
            400,
            "was not offered",
        ),
        (
            feedback(card, outcome="overridden", outcomeTimestamp="2999-01-01T00:00:00Z"),
            400,
            "future",
        ),
        (
            feedback(card, outcome="overridden", outcomeTimestamp="yesterday"),
            400,
            "not an ISO timestamp",
        ),
        (
            feedback(card, outcome="overridden", outcomeTimestamp="2026-11-26T02:00:00"),
            400,
            "time zone",
        ),
        (feedback(card, outcome="maybe"), 400, "not a CDS Hooks 2.0 feedback"),
        ({"feedback": []}, 400, "not a CDS Hooks 2.0 feedback"),
    ]
    for body, status, message in cases:
        answer = post(body)
        assert answer.status_code == status, (body, answer.text)
        assert message in answer.json()["message"]
    good = feedback(card, outcome="overridden")["feedback"][0]
    bad = feedback({"uuid": "forged"}, outcome="overridden")["feedback"][0]
    assert post({"feedback": [good, bad]}).status_code == 404
    assert client.app.state.store.feedback() == []  # type: ignore[attr-defined]
    assert post(feedback(card, outcome="overridden"), service="nope").status_code == 404


def test_feedback_survives_a_restart(assistant_dir: Path, client: TestClient) -> None:
    card = coding_card(client)
    settings = AssistantSettings(data_dir=assistant_dir)
    with TestClient(create_app(settings)) as again:
        answer = again.post(
            "/cds-services/icd10-coding/feedback", json=feedback(card, outcome="overridden")
        )
        assert answer.json() == {"stored": 1}


def test_cors_admits_only_the_configured_origin(client: TestClient) -> None:
    allowed = client.options(
        "/coding/suggest",
        headers={"Origin": "https://ledger.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "https://ledger.example.org"
    refused = client.options(
        "/coding/suggest",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers
    with pytest.raises(ValueError, match="wildcard"):
        AssistantSettings(cors_origins=["*"])


def test_plain_json_endpoints_for_the_workstation(client: TestClient) -> None:
    answer = client.post("/coding/suggest", json={"text": "tnb", "limit": 3}).json()
    assert answer["suggestions"][0]["code"] == "E11.9"
    assert len(answer["suggestions"]) <= 3
    assert client.post("/coding/suggest", json={"text": ""}).status_code == 400
    assert client.post("/coding/suggest", json={"text": "a", "limit": 99}).status_code == 422
    assert client.post("/coding/suggest", json={"text": "a", "extra": 1}).status_code == 422
    assert client.get("/coding/codes/i10").json()["zh"] == "特发性（原发性）高血压"
    assert client.get("/coding/codes/Q99.9").status_code == 404
    assert len(client.get("/intake/complaints").json()) >= 12
    tree = client.get("/intake/complaints/fever").json()
    assert tree["questions"][0]["type"] == "number"
    assert client.get("/intake/complaints/nope").status_code == 400
    assessed = client.post(
        "/intake/assess",
        json={
            "complaint": "headache",
            "age": 47,
            "sex": "male",
            "answers": {"worst": True, "sudden": True},
        },
    ).json()
    assert assessed["redFlags"][0]["id"] == "RF-HA-SAH"
    assert assessed["differential"][0]["status"] == "suggestion"
    checked = client.post("/records/check", json=valid_form(diagnoses=[])).json()
    assert checked["ok"] is False
    assert checked["refusals"][0]["rule"] == "dx-missing"
    refused = client.post("/records/document", json=valid_form(diagnoses=[]))
    assert refused.status_code == 422
    assert refused.json()["refusals"][0]["rule"] == "dx-missing"
    assert client.post("/records/document", json=valid_form()).json()["type"] == "document"


def test_the_transparency_page_in_chinese_and_english(client: TestClient) -> None:
    zh = client.get("/transparency")
    assert zh.status_code == 200
    assert 'lang="zh-CN"' in zh.text
    for anchor in ("icd10-coding", "gp-intake", "gp-record"):
        assert f'id="{anchor}"' in zh.text
    assert "数据来源" in zh.text
    assert "训练数据" in zh.text
    assert "实测准确率" in zh.text
    assert "已知局限" in zh.text
    en = client.get("/transparency?lang=en")
    assert 'lang="en"' in en.text
    assert "Known limits" in en.text
    assert "Measured accuracy" in en.text
