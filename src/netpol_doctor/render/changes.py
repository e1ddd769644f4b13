"""Output of `verify` (contract results) and `diff` (verdict changes and their causes):
plain text, one fact per line, and JSON with stable keys."""

from __future__ import annotations

from typing import Any

from ..analysis.words import plural
from ..contract import FlowResult
from ..diff import DiffResult
from .structured import diagnosis_dict, direction_dict, finding_dict
from .text import render_diagnosis

__all__ = ["contract_dict", "diff_dict", "render_contract", "render_diff"]

_SHOWN = 20


def render_contract(results: list[FlowResult], color: bool = False) -> str:
    lines = []
    failed = [r for r in results if not r.ok]
    for r in results:
        f = r.flow
        port = f"{f.protocol.value} {f.port}" if f.port else "UDP+TCP 53"
        if f.destination.target == "apiserver":
            port = "the API server"
        status = "ok  " if r.ok else "FAIL"
        lines.append(
            f"{status} {f.name}: expect {f.expect.value}, {port}, {plural(r.pairs, 'pair')}"
        )
        if not r.pairs:
            lines.append("     (no pod matches this flow: nothing was checked)")
        for src, dst, got in r.violations[:_SHOWN]:
            lines.append(f"     {got.value}: {src} -> {dst}")
        if len(r.violations) > _SHOWN:
            lines.append(f"     ... and {len(r.violations) - _SHOWN} more")
    lines.append("")
    lines.append(f"{len(results) - len(failed)} of {len(results)} flows hold")
    text = "\n".join(lines) + "\n"
    for r in failed:
        for diag in r.explained[:1]:
            text += f"\n--- why ({r.flow.name}) ---\n" + render_diagnosis(diag, color)
    return text


def contract_dict(results: list[FlowResult]) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in results),
        "flows": [
            {
                "name": r.flow.name,
                "expect": r.flow.expect.value,
                "port": r.flow.port,
                "protocol": r.flow.protocol.value,
                "pairs": r.pairs,
                "ok": r.ok,
                "violations": [
                    {"source": s, "destination": d, "verdict": v.value} for s, d, v in r.violations
                ],
                "explained": [diagnosis_dict(d, []) for d in r.explained],
            }
            for r in results
        ],
    }


def render_diff(result: DiffResult) -> str:
    lines = [
        f"INCOMPLETE: the {side} side could not be read completely (problems on stderr): "
        "verdicts that depend on what was not read are not compared"
        for side in result.unread_sides
    ]
    lines.append(
        f"{plural(len(result.changes), 'verdict change')} over {result.pods_compared} pods "
        f"and {plural(len(result.ports), 'port')}"
    )
    if result.only_before:
        lines.append(f"pods only before: {len(result.only_before)} (not compared)")
    if result.only_after:
        lines.append(f"pods only after: {len(result.only_after)} (not compared)")
    for causes, changes in result.groups:
        lines.append("")
        head = "; ".join(str(c) for c in causes) or "no object change found (e.g. a peer's IP)"
        lines.append(f"{plural(len(changes), 'change')} caused by: {head}")
        for c in changes[:_SHOWN]:
            lines.append(
                f"  {c.before.value} -> {c.after.value}  {c.source} -> {c.destination}  "
                f"{c.protocol.value} {c.port}"
            )
        if len(changes) > _SHOWN:
            lines.append(f"  ... and {len(changes) - _SHOWN} more")
        first = changes[0]
        for label, d in (("before", first.before_decision), ("after", first.after_decision)):
            for side in (d.egress, d.ingress):
                summary = direction_dict(d, side)["summary"]
                lines.append(f"    {label}: {summary}")
    return "\n".join(lines) + "\n"


def diff_dict(result: DiffResult) -> dict[str, Any]:
    return {
        "complete": not result.unread_sides,
        "problems": {
            "before": [finding_dict(f) for f in result.problems_before],
            "after": [finding_dict(f) for f in result.problems_after],
        },
        "pods_compared": result.pods_compared,
        "ports": [f"{p.value}/{n}" for p, n in result.ports],
        "only_before": result.only_before,
        "only_after": result.only_after,
        "groups": [
            {
                "causes": [
                    {
                        "change": c.kind,
                        "kind": c.ref.kind,
                        "namespace": c.ref.namespace,
                        "name": c.ref.name,
                        "detail": c.detail,
                    }
                    for c in causes
                ],
                "changes": [
                    {
                        "source": c.source,
                        "destination": c.destination,
                        "protocol": c.protocol.value,
                        "port": c.port,
                        "before": c.before.value,
                        "after": c.after.value,
                        "explanation": {
                            "before": {
                                "egress": direction_dict(
                                    c.before_decision, c.before_decision.egress
                                ),
                                "ingress": direction_dict(
                                    c.before_decision, c.before_decision.ingress
                                ),
                            },
                            "after": {
                                "egress": direction_dict(c.after_decision, c.after_decision.egress),
                                "ingress": direction_dict(
                                    c.after_decision, c.after_decision.ingress
                                ),
                            },
                        },
                    }
                    for c in changes
                ],
            }
            for causes, changes in result.groups
        ],
    }
