"""Whatever JSON arrives, every endpoint answers with a 2xx or a precise 4xx, never a 5xx."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.assistant.app import create_app
from clients.assistant.settings import AssistantSettings

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["hook", "hookInstance", "context", "prefetch", "extension", "feedback", "complaint", "answers",
     "text", "patient_id", "diagnoses", "visit_time", "record", "card", "outcome"]
)  # fmt: skip
BODIES = JSON | st.dictionaries(KEYS, JSON, max_size=6)
ROUTES = [
    "/cds-services/icd10-coding",
    "/cds-services/gp-intake",
    "/cds-services/gp-record",
    "/cds-services/icd10-coding/feedback",
    "/coding/suggest",
    "/intake/assess",
    "/records/check",
    "/records/document",
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_no_body_makes_a_5xx(tmp_path_factory, route: str, body: object) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path_factory.getbasetemp())
    answer = client.post(route, json=body)
    assert answer.status_code in (200, 400, 404, 413, 422), (route, body, answer.text)
    if answer.status_code != 200:
        assert answer.json()["message"]


_CLIENTS: dict[Path, TestClient] = {}


def _client(base: Path) -> TestClient:
    if base not in _CLIENTS:
        client = TestClient(
            create_app(AssistantSettings(data_dir=base / "fuzz")), raise_server_exceptions=False
        )
        client.__enter__()
        _CLIENTS[base] = client
    return _CLIENTS[base]


TEXT = st.text(max_size=40)
QUESTION_IDS = st.sampled_from(["character", "sbp", "onset", "temperature", "rest20", "nope"])
CONTEXT = st.fixed_dictionaries(
    {"userId": TEXT, "patientId": TEXT},
    optional={"diagnosisText": TEXT, "record": st.dictionaries(TEXT, JSON, max_size=4)},
)
INTAKE = st.fixed_dictionaries(
    {"complaint": st.sampled_from(["chest_pain", "fever", "rash", "x"]) | TEXT},
    optional={
        "answers": st.dictionaries(QUESTION_IDS, JSON, max_size=4),
        "present": st.lists(st.sampled_from(["fever", "rash", "unicorn"]) | JSON, max_size=3),
        "absent": JSON,
        "age": JSON,
        "sex": JSON,
    },
)
HOOK_CALLS = st.tuples(
    st.sampled_from(
        [("icd10-coding", "gp-diagnosis-entry"), ("gp-intake", "patient-view"),
         ("gp-record", "gp-record-sign")]
    ),
    st.fixed_dictionaries(
        {"hookInstance": TEXT, "context": CONTEXT},
        optional={"extension": st.fixed_dictionaries({"cn.medledger.intake": INTAKE}),
                  "prefetch": st.fixed_dictionaries({"patient": JSON})},
    ),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=HOOK_CALLS)
def test_near_valid_hook_calls_never_make_a_5xx(tmp_path_factory, call) -> None:  # type: ignore[no-untyped-def]
    (service, hook), body = call
    answer = _client(tmp_path_factory.getbasetemp()).post(
        f"/cds-services/{service}", json={"hook": hook, **body}
    )
    assert answer.status_code in (200, 400, 422), (service, body, answer.text)


def test_non_finite_numbers_in_raw_json_are_refused(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path_factory.getbasetemp())
    headers = {"content-type": "application/json"}
    answer = client.post(
        "/intake/assess", content=b'{"complaint": "fever", "age": NaN}', headers=headers
    )
    assert answer.status_code == 400
    assert "age" in answer.json()["message"]
    answer = client.post(
        "/intake/assess",
        content=b'{"complaint": "fever", "answers": {"temperature": Infinity}}',
        headers=headers,
    )
    assert answer.status_code == 400
    assert "must be a number" in answer.json()["message"]
