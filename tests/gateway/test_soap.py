"""A third-party SOAP web service (医保 eligibility, document/literal) through zeep: an
operation declared as an atomic API, a SOAP fault reported (not retried), an outage retried
and then failing fast once the breaker opens. The service is a real local HTTP server."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clients.gateway.config.project import load_project
from clients.gateway.connectors.atomic import AtomicApis
from clients.gateway.errors import CircuitOpenError, UpstreamError
from clients.gateway.sample.project import write_sample

NS = "http://insurance.example.cn/eligibility"
WSDL = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{NS}" targetNamespace="{NS}">
  <types>
    <xsd:schema targetNamespace="{NS}" elementFormDefault="qualified">
      <xsd:element name="CheckEligibility">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="idCard" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="CheckEligibilityResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="insured" type="xsd:boolean"/>
          <xsd:element name="plan" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="In"><part name="parameters" element="tns:CheckEligibility"/></message>
  <message name="Out"><part name="parameters" element="tns:CheckEligibilityResponse"/></message>
  <portType name="EligibilityPort">
    <operation name="CheckEligibility">
      <input message="tns:In"/><output message="tns:Out"/>
    </operation>
  </portType>
  <binding name="EligibilityBinding" type="tns:EligibilityPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="CheckEligibility">
      <soap:operation soapAction="{NS}/CheckEligibility"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="EligibilityService">
    <port name="EligibilityPort" binding="tns:EligibilityBinding"><soap:address location="http://placeholder"/></port>
  </service>
</definitions>
"""
ENVELOPE = '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{}</s:Body></s:Envelope>'


class SoapUpstream:
    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                upstream.calls += 1
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                if upstream.mode == "down":
                    self.send_response(503)
                    self.end_headers()
                    return
                id_card = re.search(r"idCard>([^<]*)<", body)
                if upstream.mode == "fault" or id_card is None:
                    status, inner = (
                        500,
                        (
                            "<s:Fault><faultcode>s:Client</faultcode>"
                            "<faultstring>身份证号格式错误</faultstring></s:Fault>"
                        ),
                    )
                else:
                    status, inner = (
                        200,
                        (
                            f'<r:CheckEligibilityResponse xmlns:r="{NS}">'
                            "<r:insured>true</r:insured>"
                            f"<r:plan>城乡居民医保 {id_card.group(1)[:6]}</r:plan>"
                            "</r:CheckEligibilityResponse>"
                        ),
                    )
                data = ENVELOPE.format(inner).encode()
                self.send_response(status)
                self.send_header("content-type", "text/xml; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/soap"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def soap(tmp_path: Path) -> Iterator[tuple[SoapUpstream, AtomicApis]]:
    upstream = SoapUpstream()
    root = write_sample(tmp_path / "gw")
    (tmp_path / "eligibility.wsdl").write_text(WSDL)
    (root / "connections" / "insurance.yaml").write_text(
        f"kind: Connection\nversion: 1\nname: insurance\ntype: soap\nurl: {upstream.url}\n"
        f"wsdl: {tmp_path / 'eligibility.wsdl'}\ntimeout_s: 2\nretries: 1\nbackoff_s: 0.01\n"
        "breaker: {failures: 2, reset_s: 30}\n"
    )
    (root / "apis" / "eligibility.yaml").write_text(
        "kind: Api\nversion: 1\nname: eligibility\nconnection: insurance\n"
        "params: {type: object, required: [idCard], properties: {idCard: {type: string}}}\n"
        "operation: CheckEligibility\n"
    )
    yield upstream, AtomicApis(load_project(root))
    upstream.close()


def test_soap_operation_as_an_atomic_api(soap: tuple[SoapUpstream, AtomicApis]) -> None:
    upstream, apis = soap
    [answer] = apis.call("eligibility", {"idCard": "510131196901190743"}).items
    assert answer == {"insured": True, "plan": "城乡居民医保 510131"}
    upstream.mode = "fault"
    with pytest.raises(UpstreamError, match="SOAP fault: 身份证号格式错误"):
        apis.call("eligibility", {"idCard": "x"})
    assert upstream.calls == 2  # a fault is the service's answer: not retried


def test_soap_outage_retries_then_opens_the_breaker(soap: tuple[SoapUpstream, AtomicApis]) -> None:
    upstream, apis = soap
    upstream.mode = "down"
    with pytest.raises(UpstreamError, match="after 2 attempts"):
        apis.call("eligibility", {"idCard": "510131196901190743"})
    assert upstream.calls == 2
    with pytest.raises(CircuitOpenError):
        apis.call("eligibility", {"idCard": "510131196901190743"})
    assert upstream.calls == 2
