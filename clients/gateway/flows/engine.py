"""Running a flow: one message through the DAG of steps, traced step by step.

A run is a pure computation plus reads: each step turns its input values into zero or more
output values (``filter`` drops, ``foreach`` fans out, ``branch`` routes to its cases,
``join`` combines). The two steps with effects, ``sink`` and ``publish``, do not act during
the run; they add :class:`Effect` objects to the result, which the pipeline commits together
with the source's position. So a run that fails at any step has changed nothing, and the
whole message goes to the dead-letter store with the step and the reason.

Steps that call out (``api``) and any step with a declared ``timeout_s`` run on a worker
thread and are abandoned after their timeout (:class:`StepTimeoutError`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from clients.gateway.config.model import Flow, Step
from clients.gateway.config.project import Project
from clients.gateway.errors import FlowError, GatewayError, StepTimeoutError
from clients.gateway.fhir.expressions import expression
from clients.gateway.fhir.mapping import Mapped, Mapper

ApiCaller = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


@dataclass
class Effect:
    kind: str  # "sink" | "publish"
    target: str  # sink name or topic name
    value: Any
    step: str


@dataclass
class RunResult:
    run_id: str
    flow: str
    ok: bool
    effects: list[Effect] = field(default_factory=list)
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    failed_step: str | None = None
    started: float = 0.0
    duration_ms: float = 0.0


def plain(value: Any) -> Any:
    """What a step sees of a value: a mapped FHIR resource is its resource."""
    return value.resource if isinstance(value, Mapped) else value


class FlowRunner:
    def __init__(
        self,
        project: Project,
        flow: Flow,
        *,
        call_api: ApiCaller | None = None,
        pool: ThreadPoolExecutor | None = None,
        trace_io: bool = True,
    ) -> None:
        self.project = project
        self.flow = flow
        self.order = project.order[flow.name]
        self.call_api = call_api
        self.pool = pool or ThreadPoolExecutor(4, thread_name_prefix=f"flow-{flow.name}")
        self.trace_io = trace_io
        self.mappers = {
            s.id: Mapper(project.mappings[s.raw["mapping"]]) for s in self.order if s.type == "fhir"
        }

    def run(self, message: Any) -> RunResult:
        result = RunResult(uuid.uuid4().hex, self.flow.name, ok=True, started=time.time())
        values: dict[str, list[Any]] = {"source": [message]}
        t0 = time.perf_counter()
        for step in self.order:
            inputs = [values.get(ref, []) for ref in step.inputs]
            s0 = time.perf_counter()
            try:
                outputs = self._timed(step, inputs, result)
            except GatewayError as exc:
                result.ok, result.error, result.failed_step = False, str(exc), step.id
                result.steps.append(self._trace(step, inputs, None, s0, str(exc)))
                break
            for name, out in outputs.items():
                values[name] = out
            result.steps.append(self._trace(step, inputs, outputs.get(step.id), s0, None))
        result.outputs = values
        result.duration_ms = (time.perf_counter() - t0) * 1000
        if not result.ok:
            result.effects = []
        return result

    def _trace(
        self, step: Step, inputs: Any, output: Any, s0: float, error: str | None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "step": step.id,
            "started": time.time(),
            "duration_ms": (time.perf_counter() - s0) * 1000,
            "error": error,
        }
        if self.trace_io:
            # a step's input is its parents' output, already in the trace: kept only where it
            # is new (the source's message) or where the step failed (to show what it got)
            if error is not None or "source" in step.inputs:
                entry["input"] = [[plain(v) for v in vs] for vs in inputs]
            entry["output"] = None if output is None else [plain(v) for v in output]
        return entry

    def _timed(
        self, step: Step, inputs: list[list[Any]], result: RunResult
    ) -> dict[str, list[Any]]:
        if step.type != "api" and "timeout_s" not in step.raw:
            return self._step(step, inputs, result)
        future = self.pool.submit(self._step, step, inputs, result)
        try:
            return future.result(timeout=step.timeout_s)
        except FutureTimeout:
            future.cancel()
            raise StepTimeoutError(
                f"step {step.id} ran past its timeout of {step.timeout_s} s"
            ) from None

    def _step(self, step: Step, inputs: list[list[Any]], result: RunResult) -> dict[str, list[Any]]:
        raw, kind, values = step.raw, step.type, inputs[0]
        if True:  # one block per step type
            if kind == "map":
                expr = expression(raw["expression"])
                return {step.id: [expr.evaluate(plain(v)) for v in values]}
            if kind == "fhir":
                return {step.id: [self.mappers[step.id].apply(plain(v)) for v in values]}
            if kind == "filter":
                expr = expression(raw["when"])
                return {step.id: [v for v in values if expr.truthy(plain(v))]}
            if kind == "foreach":
                out: list[Any] = []
                for v in values:
                    items = (
                        expression(raw["items"]).evaluate(plain(v)) if "items" in raw else plain(v)
                    )
                    if items is None:
                        continue
                    out.extend(items if isinstance(items, list) else [items])
                return {step.id: out}
            if kind == "branch":
                routed: dict[str, list[Any]] = {f"{step.id}.{c['name']}": [] for c in raw["cases"]}
                other = raw.get("otherwise")
                if other:
                    routed[f"{step.id}.{other}"] = []
                for v in values:
                    for case in raw["cases"]:
                        if expression(case["when"]).truthy(plain(v)):
                            routed[f"{step.id}.{case['name']}"].append(v)
                            break
                    else:
                        if other:
                            routed[f"{step.id}.{other}"].append(v)
                routed[step.id] = values
                return routed
            if kind == "join":
                joined = {
                    ref.replace(".", "_"): [plain(v) for v in vs]
                    for ref, vs in zip(step.inputs, inputs, strict=True)
                }
                joined = {k: (v[0] if len(v) == 1 else v) for k, v in joined.items()}
                if "expression" in raw:
                    return {step.id: [expression(raw["expression"]).evaluate(joined)]}
                return {step.id: [joined]}
            if kind == "api":
                if self.call_api is None:
                    raise FlowError(f"step {step.id}: atomic APIs are not available here")
                out = []
                for v in values:
                    params = (
                        expression(raw["params"]).evaluate(plain(v))
                        if "params" in raw
                        else plain(v)
                    )
                    if not isinstance(params, dict):
                        raise FlowError(f"step {step.id}: params must evaluate to an object")
                    out.append(self.call_api(raw["api"], params))
                return {step.id: out}
            if kind in ("sink", "publish"):
                target = raw["sink"] if kind == "sink" else raw["topic"]
                result.effects.extend(Effect(kind, target, v, step.id) for v in values)
                return {step.id: values}
        raise FlowError(f"step {step.id}: unknown type {kind}")
