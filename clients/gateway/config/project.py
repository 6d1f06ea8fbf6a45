"""A gateway folder: load every declaration, check references, compute the config digest.

The folder is a Git-friendly project: ``gateway.yaml`` at the top and any number of ``*.yaml``
files below it (by convention ``connections/``, ``apis/``, ``topics/``, ``mappings/``,
``flows/``), each with a ``kind``. Loading checks, in order: YAML (no duplicate keys or
aliases), the kind's JSON Schema, unique names, references between files, SQL parameters
(all bound), JSONata expressions (they compile), and each flow's graph (no cycles, types fit).
The digest is SHA-256 over the sorted relative paths and bytes of those files: what
``apply`` records, on chain once the gateway account can, so an auditor can tie a record to
the exact mapping that produced it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from clients.gateway.config import schema
from clients.gateway.config.model import (
    Api,
    Connection,
    Flow,
    GatewaySettings,
    Mapping,
    Step,
    TableCapture,
    Topic,
)
from clients.gateway.config.yamlload import Located, load_file
from clients.gateway.connectors.sqlparams import check_bound
from clients.gateway.errors import ConfigError, UnboundParameterError
from clients.gateway.fhir.expressions import compile_expression
from clients.gateway.flows.graph import check_flow

STATE_DIR = ".gateway-state"
PAGING_PARAMS = frozenset({"_limit", "_offset"})


@dataclass
class Project:
    root: Path
    settings: GatewaySettings
    connections: dict[str, Connection] = field(default_factory=dict)
    apis: dict[str, Api] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    mappings: dict[str, Mapping] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    order: dict[str, list[Step]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return digest_of(self.files)

    @property
    def state_dir(self) -> Path:
        return self.root / str(self.settings.raw.get("state_dir", STATE_DIR))


def digest_of(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return "0x" + h.hexdigest()


def declaration_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under ``root`` except hidden folders (state, .git)."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in (".yaml", ".yml"):
            out.append(path)
    return out


def load_project(root: Path) -> Project:
    """Load and check a gateway folder; the first problem raises :class:`ConfigError`."""
    root = Path(root)
    if not (root / "gateway.yaml").is_file():
        raise ConfigError(str(root), None, "", "not a gateway folder: gateway.yaml is missing")
    docs: list[tuple[str, Located]] = []
    files: dict[str, bytes] = {}
    for path in declaration_files(root):
        doc = load_file(path, root)
        files[doc.file] = path.read_bytes()
        docs.append((schema.validate(doc), doc))
    gateway_docs = [d for k, d in docs if k == "Gateway"]
    if len(gateway_docs) != 1 or gateway_docs[0].file != "gateway.yaml":
        where = gateway_docs[1] if len(gateway_docs) > 1 else None
        raise ConfigError(
            where.file if where else "gateway.yaml",
            1,
            "kind",
            "exactly one Gateway, in gateway.yaml",
        )
    g = gateway_docs[0]
    project = Project(
        root=root,
        settings=GatewaySettings(
            name=g.data["name"],
            institution=g.data["institution"],
            source_system=g.data["source_system"],
            doc=g,
            raw=g.data,
        ),
        files=files,
    )
    for kind, doc in docs:
        _add(project, kind, doc)
    _check_references(project)
    return project


def _unique(table: dict[str, object], name: str, doc: Located, kind: str) -> None:
    if name in table:
        raise doc.error(("name",), f"another {kind} is already named {name!r}")


def _add(project: Project, kind: str, doc: Located) -> None:
    data = doc.data
    name = data["name"]
    if kind == "Connection":
        _unique(project.connections, name, doc, kind)  # type: ignore[arg-type]
        tables = {
            t: TableCapture(key=spec["key"], timestamp=spec.get("timestamp"))
            for t, spec in ((data.get("capture") or {}).get("tables") or {}).items()
        }
        if tables and data["type"] != "sql":
            raise doc.error(("capture",), "change capture needs a sql connection")
        project.connections[name] = Connection(name, data["type"], data["url"], doc, data, tables)
    elif kind == "Api":
        _unique(project.apis, name, doc, kind)  # type: ignore[arg-type]
        params = data.get("params") or {"type": "object", "properties": {}}
        schema.check_parameter_schema(doc, ("params",), params)
        project.apis[name] = Api(name, data["connection"], doc, data, params)
    elif kind == "Topic":
        _unique(project.topics, name, doc, kind)  # type: ignore[arg-type]
        project.topics[name] = Topic(
            name, data["connection"], data["subject"], doc, data.get("stream")
        )
    elif kind == "Mapping":
        _unique(project.mappings, name, doc, kind)  # type: ignore[arg-type]
        for field_name in ("expression", "patient", "key"):
            if field_name in data:
                compile_expression(data[field_name], doc, (field_name,))
        project.mappings[name] = Mapping(
            name, data["resource"], data["expression"], doc, data.get("patient"), data.get("key")
        )
    elif kind == "Flow":
        _unique(project.flows, name, doc, kind)  # type: ignore[arg-type]
        steps = [Step(s["id"], s["type"], s, i) for i, s in enumerate(data["steps"])]
        project.flows[name] = Flow(name, data["version"], data["source"], steps, doc)


def _check_references(project: Project) -> None:
    for api in project.apis.values():
        conn = project.connections.get(api.connection)
        if conn is None:
            raise api.doc.error(("connection",), f"no connection named {api.connection!r}")
        wants = {"sql": "sql", "request": "http", "operation": "soap"}.get(api.kind)
        if wants and conn.type != wants:
            raise api.doc.error(("connection",), f"{api.kind} needs a {wants} connection")
        if api.kind == "publish" and api.raw["publish"] not in project.topics:
            raise api.doc.error(("publish",), f"no topic named {api.raw['publish']!r}")
        if api.kind == "sql":
            declared = set((api.params.get("properties") or {}).keys())
            try:
                check_bound(api.raw["sql"], declared, PAGING_PARAMS)
            except UnboundParameterError as exc:
                raise api.doc.error(("sql",), str(exc)) from None
    for topic in project.topics.values():
        conn = project.connections.get(topic.connection)
        if conn is None or conn.type not in ("nats", "rabbitmq"):
            raise topic.doc.error(
                ("connection",), f"no nats or rabbitmq connection {topic.connection!r}"
            )
    for flow in project.flows.values():
        _check_flow_refs(project, flow)
        project.order[flow.name] = check_flow(flow)


def _check_flow_refs(project: Project, flow: Flow) -> None:
    source = flow.source
    if "capture" in source:
        conn = project.connections.get(source["capture"]["connection"])
        if conn is None:
            raise flow.doc.error(("source", "capture", "connection"), "no such connection")
        if source["capture"]["table"] not in conn.tables:
            raise flow.doc.error(
                ("source", "capture", "table"),
                f"table not declared under capture.tables of connection {conn.name!r}",
            )
    if "topic" in source and source["topic"] not in project.topics:
        raise flow.doc.error(("source", "topic"), f"no topic named {source['topic']!r}")
    if "api" in source:
        schema.check_parameter_schema(
            flow.doc, ("source", "api", "params"), source["api"].get("params") or {"type": "object"}
        )
    for step in flow.steps:
        raw = step.raw
        where = ("steps", step.index)
        if step.type == "api" and raw["api"] not in project.apis:
            raise flow.doc.error((*where, "api"), f"no atomic API named {raw['api']!r}")
        if step.type == "fhir" and raw["mapping"] not in project.mappings:
            raise flow.doc.error((*where, "mapping"), f"no mapping named {raw['mapping']!r}")
        if step.type == "publish" and raw["topic"] not in project.topics:
            raise flow.doc.error((*where, "topic"), f"no topic named {raw['topic']!r}")
        for field_name in ("expression", "when", "items", "params"):
            if field_name in raw:
                compile_expression(raw[field_name], flow.doc, (*where, field_name))
        for i, case in enumerate(raw.get("cases") or []):
            compile_expression(case["when"], flow.doc, (*where, "cases", i, "when"))
