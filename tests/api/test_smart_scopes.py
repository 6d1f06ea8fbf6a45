"""The SMART scope grammar and intersections (``ledger_api.smart.scopes``), and the FastAPI ↔
authlib adapter's request and error shapes, without a chain."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from starlette.requests import Request

from ledger_api.smart import scopes as sc
from ledger_api.smart.adapter import FastAPIOAuth2Request, error_response
from ledger_api.smart.errors import ScopeSyntaxError


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("patient/Observation.rs", "patient/Observation.rs"),
        ("patient/Observation.read", "patient/Observation.rs"),
        ("user/*.write", "user/*.cud"),
        ("user/*.*", "user/*.cruds"),
        (
            "patient/Observation.rs?category=vital-signs",
            "patient/Observation.rs?category=vital-signs",
        ),
        ("launch/patient", "launch/patient"),
        ("fhirUser", "fhirUser"),
    ],
)
def test_scopes_parse_to_their_v2_form(text: str, canonical: str) -> None:
    assert sc.parse(text).text == canonical


@pytest.mark.parametrize(
    "text",
    [
        "system/*.rs",  # apps act for a person
        "patient/Observation.sr",  # v2 permissions in cruds order only
        "patient/Observation.rx",
        "patient/observation.rs",  # resource types are capitalised
        "admin/everything.all",
        "patient/Observation.read?x=1",  # v1 takes no query
        "launch/encounter",
        "",
    ],
)
def test_unknown_scopes_are_refused(text: str) -> None:
    with pytest.raises(ScopeSyntaxError):
        sc.parse(text)


def test_coverage_is_context_resource_permissions_and_query() -> None:
    allowed = sc.parse_all("patient/Observation.rs user/*.r launch")
    asked = sc.parse_all(
        "patient/Observation.r patient/Observation.rs?code=x patient/Observation.cruds "
        "patient/Condition.rs user/Condition.r user/Condition.rs launch openid"
    )
    kept = sc.to_text(sc.covered(asked, allowed))
    assert kept == "patient/Observation.r patient/Observation.rs?code=x user/Condition.r launch"
    narrow = sc.parse_all("patient/Observation.rs?code=x")
    assert sc.covered(sc.parse_all("patient/Observation.rs"), narrow) == []


def test_every_scope_is_explained_in_both_languages() -> None:
    for scope in sc.parse_all("launch launch/patient openid fhirUser offline_access user/*.cruds"):
        words = sc.explain(scope)
        assert words["zh-CN"]
        assert words["en"]


def _request(query: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/smart/token",
        "query_string": query.encode(),
        "headers": [(b"host", b"api.example.cn")],
        "scheme": "http",
        "server": ("api.example.cn", 80),
    }
    return Request(scope)


def test_the_adapter_merges_form_over_query_and_keeps_the_request_url() -> None:
    request = FastAPIOAuth2Request(
        _request("client_id=q&state=s"), {"client_id": ["f"], "code": ["c"]}
    )
    assert request.payload.data == {"client_id": "f", "code": "c", "state": "s"}
    assert request.payload.datalist["client_id"] == ["f", "q"]  # duplicates stay visible
    assert request.form == {"client_id": "f", "code": "c"}
    assert request.args == {"client_id": "q", "state": "s"}
    assert request.uri == "http://api.example.cn/smart/token?client_id=q&state=s"


def test_errors_keep_their_rfc_6749_code_and_never_redirect() -> None:
    response = error_response(InvalidScopeError("nope", redirect_uri="https://app/cb"))
    assert response.status_code == 400
    assert b'"error":"invalid_scope"' in response.body
    assert b"https://app/cb?error=invalid_scope" in response.body
    assert "location" not in response.headers
