"""HL7 v2 over MLLP: a lab system sends ORU^R01 and gets ACK/NAK per the standard; results
become validated FHIR Observations; malformed input gets a NAK with the error."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.gateway.hl7.mllp import FS, VT, send
from clients.gateway.runtime import Runtime
from clients.gateway.sample.project import SampleOptions, write_sample
from tests.gateway.support import NoLedger


def oru(
    control: str, *, loinc: str = "2345-7", value: str = "5.6", patient: str = "P000001"
) -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LIS|PJXRMYY|MEDLEDGER|PJXRMYY|20261207083000||ORU^R01^ORU_R01|{control}|P|2.5",
                f"PID|1||{patient}^^^PJXRMYY^MR||张^三||19690119|M",
                "OBR|1|ORD1|LAB1|24331-1^血脂^LN|||20261207080000",
                f"OBX|1|NM|{loinc}^葡萄糖^LN||{value}|mmol/L^^UCUM|3.9-6.1|N|||F|||20261207081500",
                "OBX|2|NM|2093-3^总胆固醇^LN||4.2|mmol/L^^UCUM|2.8-5.2|N|||F",
                "OBX|3|ST|8251-1^备注^LN||空腹||||||F",
            ]
        )
        + "\r"
    )


def msa(answer: str) -> list[str]:
    return next(s for s in answer.split("\r") if s.startswith("MSA")).split("|")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[Runtime, int]]:
    root = write_sample(
        tmp_path / "gw", SampleOptions(his_url=f"sqlite:///{tmp_path / 'his.db'}", mllp_port=0)
    )
    runtime = Runtime(root, open_client=NoLedger, with_topics=False)
    port = runtime.start_listeners()["hl7-lab"]
    yield runtime, port
    runtime.stop()


def test_oru_is_acknowledged_and_mapped(listener: tuple[Runtime, int]) -> None:
    runtime, port = listener
    [answer] = send("127.0.0.1", port, [oru("MSG0001")])
    assert msa(answer)[:3] == ["MSA", "AA", "MSG0001"]
    msh = answer.split("\r")[0].split("|")
    assert msh[2:6] == ["MEDLEDGER", "PJXRMYY", "LIS", "PJXRMYY"]
    assert msh[8] == "ACK^R01^ACK"
    assert runtime.sink is not None
    assert runtime.sink.counts() == {"held": 2}
    rows = runtime.store.query("SELECT key, resource FROM shared ORDER BY key")
    assert [r["key"] for r in rows] == ["MSG0001-1", "MSG0001-2"]
    assert '"effectiveDateTime":"2026-12-07T08:15:00+08:00"' in rows[0]["resource"]
    # the lab resends the same message (no ACK seen): nothing is staged twice
    [again] = send("127.0.0.1", port, [oru("MSG0001")])
    assert msa(again)[1] == "AA"
    assert runtime.sink.counts() == {"held": 2}


def test_result_that_does_not_map_is_dead_lettered_not_blocking(
    listener: tuple[Runtime, int],
) -> None:
    runtime, port = listener
    answers = send("127.0.0.1", port, [oru("BAD1", loinc="2345-8"), oru("GOOD1")])
    assert [msa(a)[1] for a in answers] == ["AA", "AA"]
    [letter] = runtime.store.dead_letters()
    assert letter["flow"] == "hl7-lab"
    assert "check digit" in letter["reason"]
    assert runtime.sink is not None
    assert runtime.sink.counts() == {"held": 2}


@pytest.mark.parametrize(
    ("message", "code", "needle"),
    [
        ("PID|1||P1\r", "AR", "MSH"),
        ("MSH|^~\\&|LIS|X|GW|X|20261207||ORU^R01|\r", "AR", "MSH-10"),
        (
            "MSH|^~\\&|LIS|X|GW|X|20261207||ADT^A01|C9|P|2.5\rPID|1\r",
            "AR",
            r"unsupported message type ADT\S\A01",
        ),
        ("MSH|^~\\&|LIS|X|GW|X|20261207|||C9|P|2.5\r", "AR", "MSH-9"),
    ],
)
def test_malformed_messages_get_a_nak_with_the_error(
    listener: tuple[Runtime, int], message: str, code: str, needle: str
) -> None:
    _runtime, port = listener
    [answer] = send("127.0.0.1", port, [message])
    fields = msa(answer)
    assert fields[1] == code
    assert needle in answer
    err = next(s for s in answer.split("\r") if s.startswith("ERR"))
    assert err.endswith("^HL70357|E")


def test_bytes_outside_a_frame_and_oversized_frames(listener: tuple[Runtime, int]) -> None:
    _runtime, port = listener
    for payload in (
        b"GET / HTTP/1.1\r\n\r\n",
        VT + b"MSH|" + b"x" * (1024 * 1024 + 10) + FS + b"\r",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(payload)
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break  # the listener closed the connection
                data += chunk
        assert b"MSA|AR" in data
    [answer] = send("127.0.0.1", port, [oru("AFTER")])  # the listener is still serving
    assert msa(answer)[1] == "AA"
