"""Load-time checks of a flow: a DAG of steps whose inputs exist and whose types fit.

A flow is a list of steps, each naming its input (``source``, another step, or a branch's
case ``step.case``). At load we refuse unknown inputs, cycles (named, ``a → b → a``) and type
mismatches, so that a flow which loads can only fail at run time on data, never on shape.
The types are coarse on purpose: ``object`` (one JSON object), ``array`` (a list), ``hl7`` (a
parsed HL7 v2 message), ``fhir`` (a validated FHIR resource). The order returned is the
order steps run in.
"""

from __future__ import annotations

from clients.gateway.config.model import Flow, Step
from clients.gateway.errors import ConfigError

SOURCE_TYPES = {"capture": "object", "mllp": "hl7", "api": "object", "topic": "object"}
ACCEPTS: dict[str, set[str]] = {
    "api": {"object", "hl7"},
    "map": {"object", "array", "hl7", "fhir"},
    "fhir": {"object", "hl7"},
    "filter": {"object", "array", "hl7", "fhir"},
    "branch": {"object", "array", "hl7", "fhir"},
    "join": {"object", "array", "fhir"},
    "foreach": {"array", "object", "hl7"},
    "sink": {"fhir"},
    "publish": {"object", "array", "fhir"},
}
HINTS = {
    "sink": "the MedLedger sink takes FHIR: put a fhir step (a mapping) before it",
    "fhir": "a mapping takes one row or message: put a foreach before it",
    "foreach": "foreach takes a list (or an object with items: an expression giving one)",
}


def _err(flow: Flow, step: Step, field: str, message: str) -> ConfigError:
    return flow.doc.error(("steps", step.index, field), message)


def output_type(step: Step, input_type: str) -> str:
    kind = step.type
    if kind == "api":
        return "array"
    if kind == "map":
        return str(step.raw.get("output", "object"))
    if kind == "fhir":
        return "fhir"
    if kind == "join":
        return "object"
    if kind == "foreach":
        return "object"
    return input_type  # filter, branch, sink, publish pass their input on


def check_flow(flow: Flow) -> list[Step]:
    """Validate the graph and types; return the steps in a topological order."""
    by_id: dict[str, Step] = {}
    for step in flow.steps:
        if step.id in by_id or step.id == "source":
            raise _err(flow, step, "id", f"step id {step.id!r} is used twice (or reserved)")
        by_id[step.id] = step
    field_of = {s.id: ("inputs" if "inputs" in s.raw else "input") for s in flow.steps}

    def parent(step: Step, ref: str) -> str | None:
        if ref == "source":
            return None
        base, _, case = ref.partition(".")
        if base not in by_id:
            raise _err(flow, step, field_of[step.id], f"no step {base!r} in this flow")
        if case:
            target = by_id[base]
            if target.type != "branch":
                raise _err(flow, step, field_of[step.id], f"{base!r} is not a branch step")
            names = {c["name"] for c in target.raw["cases"]} | {target.raw.get("otherwise")}
            if case not in names:
                raise _err(flow, step, field_of[step.id], f"branch {base!r} has no case {case!r}")
        elif by_id[base].type == "branch":
            raise _err(flow, step, field_of[step.id], f"name a case of branch {base!r}: {base}.x")
        return base

    parents = {s.id: [p for p in (parent(s, r) for r in s.inputs) if p] for s in flow.steps}
    order = _topological(flow, by_id, parents)
    types: dict[str, str] = {"source": SOURCE_TYPES[flow.source_kind]}
    for step in order:
        in_types = [types[r.partition(".")[0]] for r in step.inputs]
        for ref, got in zip(step.inputs, in_types, strict=True):
            needs_items = step.type == "foreach" and got != "array" and "items" not in step.raw
            if got not in ACCEPTS[step.type] or needs_items:
                accepted = ", ".join(sorted(ACCEPTS[step.type]))
                hint = HINTS.get(step.type, f"{step.type} accepts {accepted}")
                raise _err(
                    flow,
                    step,
                    field_of[step.id],
                    f"type mismatch: {ref!r} gives {got}; {hint}",
                )
        types[step.id] = output_type(step, in_types[0])
    return order


def _topological(flow: Flow, by_id: dict[str, Step], parents: dict[str, list[str]]) -> list[Step]:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    order: list[Step] = []

    def visit(sid: str, trail: list[str]) -> None:
        if state.get(sid) == 2:
            return
        if state.get(sid) == 1:
            cycle = [*trail[trail.index(sid) :], sid][::-1]  # in the direction data flows
            step = by_id[cycle[0]]
            raise _err(flow, step, "input", "cycle: " + " → ".join(cycle))
        state[sid] = 1
        for p in parents[sid]:
            visit(p, [*trail, sid])
        state[sid] = 2
        order.append(by_id[sid])

    for step in flow.steps:
        visit(step.id, [])
    return order


def edges(flow: Flow) -> list[tuple[str, str]]:
    """(from, to) pairs for drawing the flow; a branch case is labelled ``step.case``."""
    return [(ref, step.id) for step in flow.steps for ref in step.inputs]
