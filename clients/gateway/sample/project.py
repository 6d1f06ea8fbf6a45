"""Write the sample hospital's gateway folder (``gateway init`` and the tests use it).

The folder declares: the HIS database connection with change capture on its tables, the
mappings of :mod:`clients.gateway.sample.mappings`, flows from each captured table (and from
an MLLP lab feed) to FHIR and into MedLedger, an atomic API (lab results of one patient, paged)
and, if a broker URL is given, a topic the lab flow publishes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clients.gateway.sample.mappings import ALL as MAPPINGS


@dataclass
class SampleOptions:
    his_url: str = "sqlite:///his.db"
    prefix: str = "his_"
    name: str = "pujiang-county"
    institution: str = "pjxrmyy"
    source_system: str = "his.pjxrmyy"
    medledger_url: str = "http://127.0.0.1:8000"
    policy: str = "dept:cardiology"
    capture_mode: str = "watermark"  # auto | log | watermark
    delay_s: float = 2.0
    reconcile_s: float = 30.0
    nats_url: str | None = None
    mllp_port: int = 2575
    server_port: int = 8780
    api_key: str = "lis-app"
    server_id: int = 7700
    slot: str | None = None


def write_sample(dest: Path, options: SampleOptions | None = None) -> Path:
    o = options or SampleOptions()
    dest = Path(dest)
    for sub in ("connections", "mappings", "flows", "apis", "topics"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    p = o.prefix
    (dest / ".gitignore").write_text(".gateway-state/\n", encoding="utf-8")  # state, key: not Git
    (dest / "gateway.yaml").write_text(
        f"""kind: Gateway
version: 1
name: {o.name}
description: 蒲江县人民医院 前置机网关 (county hospital front-end gateway)
institution: {o.institution}
source_system: {o.source_system}
server: {{host: 127.0.0.1, port: {o.server_port}}}
medledger:
  url: {o.medledger_url}
  policy: "{o.policy}"
  account_key_env: MEDLEDGER_GATEWAY_KEY
  concurrency: 4
traces: {{retention_hours: 72}}
""",
        encoding="utf-8",
    )
    log_extra = f"  server_id: {o.server_id}\n" + (
        f"  slot: {o.slot}\n  publication: {o.slot}\n" if o.slot else ""
    )
    (dest / "connections" / "his.yaml").write_text(
        f"""kind: Connection
version: 1
name: his
description: HIS database (read-only account)
type: sql
url: "{o.his_url}"
read_only: true
timeout_s: 10
capture:
  mode: {o.capture_mode}
  delay_s: {o.delay_s}
  poll_s: 0.2
  reconcile_s: {o.reconcile_s}
  lookback_s: 3600
{log_extra}  tables:
    {p}lab_result: {{key: id, timestamp: updated_at}}
    {p}diagnosis: {{key: id, timestamp: updated_at}}
    {p}prescription: {{key: id, timestamp: updated_at}}
    {p}patient: {{key: id, timestamp: updated_at}}
    {p}encounter: {{key: id, timestamp: updated_at}}
""",
        encoding="utf-8",
    )
    for name, text in MAPPINGS.items():
        (dest / "mappings" / f"{name}.yaml").write_text(text, encoding="utf-8")
    publish = ""
    if o.nats_url:
        (dest / "connections" / "broker.yaml").write_text(
            f"kind: Connection\nversion: 1\nname: broker\ntype: nats\nurl: {o.nats_url}\n",
            encoding="utf-8",
        )
        (dest / "topics" / "lab-results.yaml").write_text(
            f"""kind: Topic
version: 1
name: lab-results
description: 检验结果 (FHIR Observation)
connection: broker
subject: gw.{o.name}.lab-results
""",
            encoding="utf-8",
        )
        publish = "  - {id: announce, type: publish, input: observation, topic: lab-results}\n"
    flows = {
        "lab-results": (f"{p}lab_result", "lab-observation", publish),
        "diagnoses": (f"{p}diagnosis", "condition", ""),
        "prescriptions": (f"{p}prescription", "medication-request", ""),
    }
    for flow, (table, mapping, extra) in flows.items():
        step = "observation" if flow == "lab-results" else "resource"
        (dest / "flows" / f"{flow}.yaml").write_text(
            f"""kind: Flow
version: 1
name: {flow}
source: {{capture: {{connection: his, table: {table}}}}}
steps:
  - {{id: {step}, type: fhir, input: source, mapping: {mapping}}}
  - {{id: share, type: sink, input: {step}, sink: medledger}}
{extra}""",
            encoding="utf-8",
        )
    (dest / "flows" / "hl7-lab.yaml").write_text(
        f"""kind: Flow
version: 1
name: hl7-lab
description: 检验系统 (LIS) ORU^R01 over MLLP → Observation per OBX
source: {{mllp: {{host: 127.0.0.1, port: {o.mllp_port}, message_types: ["ORU^R01"]}}}}
steps:
  - id: results
    type: foreach
    input: source
    items: 'OBX.{{"obx": $, "pid": $$.PID[0], "obr": $$.OBR[0], "msh": $$.MSH[0]}}'
  - {{id: numeric, type: filter, input: results, when: 'obx.f2 = "NM"'}}
  - {{id: observation, type: fhir, input: numeric, mapping: hl7-observation}}
  - {{id: share, type: sink, input: observation, sink: medledger}}
""",
        encoding="utf-8",
    )
    (dest / "apis" / "lab-results-by-patient.yaml").write_text(
        f"""kind: Api
version: 1
name: lab-results-by-patient
description: 某患者的检验结果 (lab results of one patient, newest first)
connection: his
params:
  type: object
  additionalProperties: false
  required: [patient_id]
  properties:
    patient_id: {{type: string, pattern: "^P[0-9]{{6}}$"}}
    since: {{type: string, format: date-time}}
sql: |
  SELECT id, patient_id, loinc, item_name, value, unit, collected_at
  FROM {p}lab_result
  WHERE patient_id = :patient_id
  ORDER BY collected_at DESC, id DESC
  LIMIT :_limit OFFSET :_offset
page: {{size: 20, max: 200}}
keys: [{o.api_key}]
""",
        encoding="utf-8",
    )
    return dest
