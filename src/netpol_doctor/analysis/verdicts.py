"""The one rule that combines several pairs into one answer, used by every question
that has more than one (a Service's endpoints, a workload's pods, the cluster DNS pods
on UDP and TCP, the node paths of an outside client SNATed by a `Cluster`
LoadBalancer): `denied` if any pair is denied (some connection fails, so the user
sees failures), else `unknown` if any pair is unknown, else `allowed`. README
"Naming the two ends" documents it. Imports `engine` only.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..engine import Verdict

__all__ = ["aggregate", "tally"]


def aggregate(verdicts: Iterable[Verdict]) -> Verdict:
    """No pair at all is missing evidence: `unknown`."""
    vs = list(verdicts)
    if not vs:
        return Verdict.UNKNOWN
    if Verdict.DENIED in vs:
        return Verdict.DENIED
    if Verdict.UNKNOWN in vs:
        return Verdict.UNKNOWN
    return Verdict.ALLOWED


def tally(verdicts: Iterable[Verdict]) -> dict[Verdict, int]:
    """How many pairs gave each answer, in the order denied, unknown, allowed."""
    vs = list(verdicts)
    return {v: n for v in (Verdict.DENIED, Verdict.UNKNOWN, Verdict.ALLOWED) if (n := vs.count(v))}
