"""Words for `probe` results: one line per tested pair (agreement first), the tool's
own message, the mismatch finding and the policy explanation; and the JSON form."""

from __future__ import annotations

from typing import Any

from ..analysis.probe_compare import Agreement
from ..analysis.probe_plan import Result
from ..model import Protocol
from .structured import finding_dict

__all__ = ["render_results", "results_dict"]


def results_dict(results: list[Result], protocol: Protocol) -> dict[str, Any]:
    counts = {a.value: sum(1 for r in results if r.comparison.agreement is a) for a in Agreement}
    return {
        "schema_version": 1,
        "summary": counts,
        "results": [
            {
                "source": r.planned.source.key,
                "destination": r.planned.destination,
                "address": r.planned.host,
                "port": r.planned.port,
                "protocol": protocol.value,
                "predicted": r.comparison.predicted.value,
                "observed": r.comparison.outcome.observed.value,
                "tool": r.comparison.outcome.tool,
                "tool_message": r.comparison.outcome.detail,
                "agreement": r.comparison.agreement.value,
                "reason": r.comparison.reason,
                "finding": finding_dict(r.comparison.finding) if r.comparison.finding else None,
                "explanation": [finding_dict(f) for f in r.explanation],
                "exec": list(r.commands),
            }
            for r in results
        ],
    }


def render_results(results: list[Result], protocol: Protocol) -> str:
    lines = []
    for r in results:
        c, p = r.comparison, r.planned
        tool = f" ({c.outcome.tool})" if c.outcome.tool else ""
        lines.append(
            f"{c.agreement.value.upper():8} {p.source.key} -> {p.destination} "
            f"{p.host}:{p.port}/{protocol.value}: predicted {c.predicted.value}, "
            f"observed {c.outcome.observed.value}{tool}: {c.reason}"
        )
        if c.outcome.detail:
            lines.append(f"         tool said: {c.outcome.detail}")
        if c.finding is not None:
            lines.append(f"         [{c.finding.id}] {c.finding.message}")
            if c.finding.fix:
                lines.append(f"         fix: {c.finding.fix.summary}")
        for f in r.explanation:
            lines.append(f"         policy: [{f.id}] {f.message}")
    n = {a: sum(1 for r in results if r.comparison.agreement is a) for a in Agreement}
    lines.append(
        f"{len(results)} probed: {n[Agreement.AGREE]} agree, {n[Agreement.MISMATCH]} "
        f"mismatch, {n[Agreement.UNKNOWN]} unknown"
    )
    return "\n".join(lines) + "\n"
