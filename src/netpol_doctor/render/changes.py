"""Output of `verify` (contract results) and `diff` (verdict changes and their causes):
plain text, one fact per line, and JSON with stable keys."""

from __future__ import annotations

from typing import Any

from ..analysis.words import plural
from ..contract import FlowResult, Side, Unmatched
from ..diff import Cause, DiffResult
from ..findings import Finding
from .structured import diagnosis_dict, direction_dict, finding_dict
from .text import render_diagnosis, render_problems

__all__ = [
    "caused_by",
    "contract_dict",
    "diff_dict",
    "plural",
    "render_contract",
    "render_diff",
    "side_text",
    "unmatched_text",
]

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
        pairs = plural(r.pairs, "pair")
        lines.append(f"{status} {f.name}: expect {f.expect.value}, {port}, {pairs}")
        for u in r.unmatched:
            lines.append(f"     {unmatched_text(u)}")
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


def side_text(side: Side) -> str:
    """One end of a contract flow in words: which pods, in which namespaces."""
    if side.pod is not None:
        return f"pod {side.pod}"
    if side.target is not None:
        return side.target
    parts = [f"pods {side.pods}" if side.pods is not None else "every pod"]
    if side.namespaces:
        word = "namespace" if len(side.namespaces) == 1 else "namespaces"
        parts.append(f"in {word} {', '.join(side.namespaces)}")
    else:
        parts.append("in any namespace")
    if side.namespace_selector is not None:
        parts.append(f"with namespace labels {side.namespace_selector}")
    if side.not_namespaces:
        parts.append(f"outside {', '.join(side.not_namespaces)}")
    return " ".join(parts)


def unmatched_text(u: Unmatched) -> str:
    if u.side == "both":
        return (
            "matches nothing to check: both ends match only the same pod "
            "(a pod is never checked against itself)"
        )
    missing = ""
    if u.missing_namespaces:
        names = ", ".join(u.missing_namespaces)
        verb = "does" if len(u.missing_namespaces) == 1 else "do"
        word = "namespace" if len(u.missing_namespaces) == 1 else "namespaces"
        missing = f" ({word} {names} {verb} not exist in the input)"
    return f"{u.side}: {side_text(u.what)} matches nothing{missing}"


def contract_dict(
    results: list[FlowResult], problems: list[Finding] | None = None
) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in results),
        "problems": [finding_dict(f) for f in problems or []],
        "flows": [
            {
                "name": r.flow.name,
                "expect": r.flow.expect.value,
                "port": r.flow.port,
                "protocol": r.flow.protocol.value,
                "pairs": r.pairs,
                "ok": r.ok,
                "unmatched": [
                    {
                        "side": u.side,
                        "selects": side_text(u.what),
                        "namespaces": list(u.what.namespaces),
                        "missing_namespaces": list(u.missing_namespaces),
                        "message": unmatched_text(u),
                    }
                    for u in r.unmatched
                ],
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
        f"{plural(len(result.changes), 'verdict change')} over "
        f"{plural(result.pods_compared, 'pod')} and {plural(len(result.ports), 'port')}"
    )
    if result.only_before:
        lines.append(f"pods only before: {len(result.only_before)} (not compared)")
    if result.only_after:
        lines.append(f"pods only after: {len(result.only_after)} (not compared)")
    for causes, together, changes in result.groups:
        lines.append("")
        lines.append(f"{plural(len(changes), 'change')} {caused_by(causes, together)}")
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
    problems = [("before", f) for f in result.problems_before]
    problems += [("after", f) for f in result.problems_after]
    if problems:
        lines += ["", f"input {'problem' if len(problems) == 1 else 'problems'}:"]
        for where, f in problems:
            lines.append(f"  {where}: {render_problems([f]).rstrip()}")
    return "\n".join(lines) + "\n"


def caused_by(causes: tuple[Cause, ...], together: bool) -> str:
    """The cause line of a group of changes, in words."""
    if not causes:
        return "with no object change found to cause them (e.g. a pod's address or port)"
    named = "; ".join(str(c) for c in causes)
    if together:
        return f"caused by these changes together (none alone): {named}"
    if len(causes) > 1:
        return f"caused by each of these (reverting any one alone undoes it): {named}"
    return f"caused by: {named}"


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
                "together": together,
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
            for causes, together, changes in result.groups
        ],
    }
