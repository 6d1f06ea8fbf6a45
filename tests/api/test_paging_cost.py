"""Chart listing and timeline take the page first and decide access for that page only.

The old listing ran an access decision (an RPC each) on every record of the chart before
paging, and the timeline did it for three purposes: the cost of one request grew with the
chart. Here the calls the API sends to the node (``eth_call``: the decisions) are counted (on the app's own provider) for
the same page of a small and of a large chart: they must be the same, and bounded by the
page size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from tests.api.conftest import GENEROUS_LIMITS, Stack

PAGE = 2


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    # the caller's Consortium lookup is cached for the whole test: only decisions are counted
    return {**GENEROUS_LIMITS, "principal_cache_seconds": 600.0}


@contextmanager
def counted_rpcs(stack: Stack) -> Iterator[list[str]]:
    provider = stack.ctx.chain.w3.provider
    original = provider.make_request
    methods: list[str] = []

    def counting(method: Any, params: Any) -> Any:
        methods.append(str(method))
        return original(method, params)

    provider.make_request = counting  # type: ignore[method-assign]
    try:
        yield methods
    finally:
        provider.make_request = original  # type: ignore[method-assign]


def _chart(stack: Stack, patient: LocalAccount, size: int) -> list[bytes]:
    ids = []
    for n in range(size):
        record_id, header, body = stack.make_record(patient, "role:doctor", f"r{n}".encode())
        response = stack.upload(
            patient, record_id=record_id, patient=patient, header=header, body=body
        )
        assert response.status_code == 201, response.text
        ids.append(record_id)
    # the GP may read the first record of the chart, and nothing else
    stack.grant(patient, stack.gp, record_id=ids[0])
    stack.wait_indexed()
    return ids


def _cost(stack: Stack, path: str) -> tuple[int, dict[str, Any]]:
    headers = stack.login(stack.gp)
    stack.client.get("/auth/me", headers=headers)  # the principal is cached from here on
    with counted_rpcs(stack) as methods:
        response = stack.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    # eth_call is the decisions; a cached block number may or may not be refreshed meanwhile
    return methods.count("eth_call"), response.json()


def test_listing_cost_does_not_grow_with_the_chart(api_stack: Stack) -> None:
    small, large = api_stack.patient, api_stack.other_patient
    _chart(api_stack, small, 3)
    _chart(api_stack, large, 12)
    path = "/patients/{a}/records?limit=" + str(PAGE)
    small_cost, small_page = _cost(api_stack, path.format(a=small.address))
    large_cost, large_page = _cost(api_stack, path.format(a=large.address))
    assert small_cost == large_cost
    assert large_cost <= 2 * PAGE + 2  # the whole-chart check, then one per record of the page
    assert (small_page["total"], large_page["total"]) == (3, 12)
    assert len(large_page["items"]) == 1  # of the page, only the first record is open
    # a later page holds nothing open to the GP: refused, at the same bounded cost
    headers = api_stack.login(api_stack.gp)
    with counted_rpcs(api_stack) as methods:
        later = api_stack.client.get(
            f"/patients/{large.address}/records?limit={PAGE}&offset=6", headers=headers
        )
    assert later.status_code == 403
    assert methods.count("eth_call") <= 2 * PAGE + 2


def test_timeline_cost_does_not_grow_with_the_chart(api_stack: Stack) -> None:
    small, large = api_stack.patient, api_stack.other_patient
    _chart(api_stack, small, 3)
    _chart(api_stack, large, 12)
    path = "/patients/{a}/timeline?limit=" + str(PAGE) + "&offset={o}"
    # the oldest records are last in the timeline (newest first)
    small_cost, small_page = _cost(api_stack, path.format(a=small.address, o=3 - PAGE))
    large_cost, large_page = _cost(api_stack, path.format(a=large.address, o=12 - PAGE))
    assert small_cost == large_cost
    assert large_cost <= 3 * (2 * PAGE + 1)  # three purposes, each bounded by the page
    assert (small_page["total"], large_page["total"]) == (3, 12)
    assert [i["may_open"] for i in large_page["items"]] == [True]
