"""`flows` results -> text, a JSON-ready dict, markdown. Words live here, facts in
`analysis.flows`. Imports `analysis.flows`, `render.structured`, `findings`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..analysis.flows import MAX_GROUPS, FlowGroup, FlowReport
from ..explain import rule_name
from ..findings import Finding
from ..inputs.flowlogs import Observed
from .structured import SCHEMA_VERSION, finding_dict

__all__ = ["InputStat", "decided_by", "flows_dict", "render_flows_markdown", "render_flows_text"]


@dataclass(frozen=True, slots=True)
class InputStat:
    name: str
    format: str | None
    records: int
    malformed: int


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _flow(g: FlowGroup) -> str:
    port = f" {g.port}" if g.port is not None else ""
    return f"{g.source.label} -> {g.destination.label}  {g.protocol}{port}"


def _observed(g: FlowGroup) -> str:
    parts = [f"{o.value} x{n}" for o, n in g.counts if n]
    if g.reasons:
        parts.append("(" + ", ".join(r for r, _ in g.reasons[:3]) + ")")
    return " ".join(parts)


def _headline(g: FlowGroup) -> str:
    if g.mismatch:
        return "MISMATCH"
    if g.count(Observed.DROPPED) or g.count(Observed.AUDIT):
        return "DROPPED"
    return "ALLOWED"


def _deciding(g: FlowGroup) -> list[Finding]:
    d = g.diagnosis
    if d is None:
        return []
    return [f for f in d.findings if d.decides(f)]


def decided_by(g: FlowGroup) -> list[str]:
    """Per direction, what decided the first pair: the admitting rule(s), the isolating
    policies, or no isolation."""
    d = g.diagnosis
    pair = next((p for p in d.pairs if p.decision is not None), None) if d else None
    if pair is None or pair.decision is None:
        return []
    out = []
    for side in (pair.decision.egress, pair.decision.ingress):
        word = side.direction.value.lower()
        if side.exemption is not None or side.subject.pod is None:
            continue
        if not side.isolated:
            out.append(f"{word}: no policy isolates {side.subject.label}")
        elif side.admitted_by:
            names = ", ".join(rule_name(o.policy, o.rule, side.direction) for o in side.admitted_by)
            out.append(f"{word}: admitted by {names}")
        else:
            names = ", ".join(p.ref.key for p in side.isolated_by)
            out.append(f"{word}: isolated by {names}, no rule admits it")
    return out


def render_flows_text(report: FlowReport, inputs: list[InputStat]) -> str:
    out = []
    read = ", ".join(f"{i.name} ({i.format or 'unknown format'})" for i in inputs)
    out.append(
        f"flows: {report.records} record(s) from {read}; {report.shown} group(s)"
        + (f", showing {len(report.groups)}" if len(report.groups) < report.shown else "")
        + (f"; {report.filtered} left out by --since/--namespace" if report.filtered else "")
    )
    if report.overflow:
        out.append(
            f"{report.overflow} record(s) of further flows were counted but not grouped: "
            f"more than {MAX_GROUPS} distinct flows (narrow with --namespace or --since)"
        )
    if report.cutoff is not None:
        out.append(f"since {_iso(report.cutoff)} (newest record {_iso(report.newest)})")
    mismatches = sum(1 for g in report.groups if g.mismatch)
    if mismatches:
        out.append(f"{mismatches} group(s) where the log and the policies disagree: first below")
    for g in report.groups:
        out.append("")
        span = f"  {_iso(g.first)} .. {_iso(g.last)}" if g.first is not None else ""
        out.append(f"{_headline(g):<9} {_flow(g)}   {_observed(g)}{span}")
        if g.nodes:
            out.append(f"  nodes: {', '.join(g.nodes)}")
        if g.policies:
            out.append(f"  the log names: {', '.join(g.policies[:5])}")
        for side in (g.source, g.destination):
            if side.why and side.spec is not None:
                out.append(f"  note: {side.why}")
        if g.diagnosis is None:
            out.append(f"  computed: UNKNOWN ({g.unknown})")
        else:
            policy = g.diagnosis.policy_verdict
            extra = f" (the policies alone: {policy.value.upper()})" if policy else ""
            out.append(f"  computed: {g.verdict.value.upper()}{extra}")
            out += [f"    {line}" for line in decided_by(g)]
        for f in g.findings:
            out.append(f"  [{f.severity.value}] {f.id}: {f.message}")
        fixed = False
        for f in _deciding(g):
            first, _, more = f.message.partition("\n")
            out.append(f"  [{f.severity.value}] {f.id}: {first}")
            if more:
                out += [f"    {line}" for line in more.split("\n")]
            if f.fix is not None and not fixed:
                fixed = True
                out.append(f"    fix: {f.fix.summary}")
                if f.fix.snippet:
                    out += [f"      {line}" for line in f.fix.snippet.rstrip().split("\n")]
        if g.command:
            out.append(f"  details: {g.command}")
        out.append(f"  first record: {g.example}")
    return "\n".join(out) + "\n"


def _group_dict(g: FlowGroup) -> dict[str, Any]:
    return {
        "source": {"label": g.source.label, "target": g.source.spec, "note": g.source.why},
        "destination": {
            "label": g.destination.label,
            "target": g.destination.spec,
            "note": g.destination.why,
        },
        "protocol": g.protocol,
        "port": g.port,
        "observed": {o.value: g.count(o) for o in Observed},
        "records": g.total,
        "first": _iso(g.first),
        "last": _iso(g.last),
        "nodes": list(g.nodes),
        "reasons": {r: n for r, n in g.reasons},
        "policies_in_log": list(g.policies),
        "verdict": g.verdict.value,
        "policy_verdict": g.diagnosis.policy_verdict.value
        if g.diagnosis and g.diagnosis.policy_verdict
        else None,
        "decided_by": decided_by(g),
        "unknown_reason": g.unknown,
        "mismatch": g.mismatch,
        "findings": [finding_dict(f) for f in g.findings],
        "diagnosis": [finding_dict(f) for f in _deciding(g)],
        "command": g.command,
        "first_record": g.example,
    }


def flows_dict(
    report: FlowReport, inputs: list[InputStat], problems: list[Finding]
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "inputs": [
            {"file": i.name, "format": i.format, "records": i.records, "malformed": i.malformed}
            for i in inputs
        ],
        "records": report.records,
        "left_out": report.filtered,
        "not_grouped": report.overflow,
        "since": _iso(report.cutoff),
        "newest": _iso(report.newest),
        "groups_total": report.shown,
        "groups": [_group_dict(g) for g in report.groups],
        "problems": [finding_dict(p) for p in problems],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_flows_markdown(report: FlowReport, inputs: list[InputStat]) -> str:
    out = [
        "## Flows",
        "",
        f"{report.records} record(s) from "
        + ", ".join(f"`{i.name}` ({i.format or 'unknown format'})" for i in inputs)
        + f"; {report.shown} group(s).",
        "",
        "| | flow | observed | computed | first | last |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for g in report.groups:
        out.append(
            f"| {_headline(g)} | {_cell(_flow(g))} | {_cell(_observed(g))} | "
            f"{g.verdict.value} | {_iso(g.first) or ''} | {_iso(g.last) or ''} |"
        )
    for g in report.groups:
        if not (g.mismatch or g.findings or _deciding(g)):
            continue
        out += ["", f"### {_headline(g)}: {_cell(_flow(g))}", ""]
        for f in [*g.findings, *_deciding(g)]:
            out.append(f"- **{f.id}** ({f.severity.value}): {_cell(f.message)}")
        if g.unknown:
            out.append(f"- computed: unknown ({_cell(g.unknown)})")
        if g.command:
            out += ["", f"`{g.command}`"]
    return "\n".join(out) + "\n"
