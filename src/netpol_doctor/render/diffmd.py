"""`diff --output markdown`: a pull-request comment. One summary line (flows opened,
closed, now unknown), a table of changed connections by workload with port, before ->
after and the cause (object and rule), long tables folded into `<details>`, and the
input problems. Compact like the peers' semantic diffs: np-guard/netpol-analyzer's
`diff -o md` (one row per workload pair: diff-type, source, destination, dir1, dir2;
docs/diff_output.md) and NCA's semantic_diff tables (one row per peer set)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from ..diff import Cause, Change, DiffResult
from ..engine import Decision, DirectionResult, Verdict
from ..findings import Finding
from ..model import Pod
from ..snapshot import Snapshot
from .text import render_problems

__all__ = ["render_diff_markdown"]

#: rows shown before the rest fold into <details>; rows past _LISTED go to --output json
_SHOWN = 15
_LISTED = 300
#: more source workloads than this in one namespace, alike otherwise, share a row
_FOLD = 3


@dataclass(frozen=True, slots=True)
class _Row:
    source: str
    destination: str
    port: str
    before: Verdict
    after: Verdict
    causes: tuple[Cause, ...]
    together: bool


def workload(snapshot: Snapshot, key: str) -> str:
    """The pod's workload as a reviewer names it: `ns/name[Deployment]` for a pod of a
    Deployment's ReplicaSet (its name less the pod-template-hash), the controller
    otherwise, the pod itself when it has none."""
    pod: Pod | None = snapshot.pods_by_key.get(key)
    if pod is None:
        return key
    if pod.template_of is not None:
        return f"{pod.template_of.key}[{pod.template_of.kind}]"
    if pod.owner is None:
        return f"{key}[Pod]"
    kind, name = pod.owner
    suffix = "-" + dict(pod.labels).get("pod-template-hash", "\0")
    if kind == "ReplicaSet" and name.endswith(suffix):
        kind, name = "Deployment", name.removesuffix(suffix)
    return f"{pod.namespace}/{name}[{kind}]"


def render_diff_markdown(result: DiffResult, after: Snapshot) -> str:
    opened = sum(1 for c in result.changes if c.after is Verdict.ALLOWED)
    closed = sum(1 for c in result.changes if c.after is Verdict.DENIED)
    unknown = sum(1 for c in result.changes if c.after is Verdict.UNKNOWN)
    md = [
        f"### netpol-doctor diff: {_flows(opened)} opened, {closed:,} closed, "
        f"{unknown:,} now unknown",
        "",
    ]
    for side in result.unread_sides:
        md += [
            f"> **INCOMPLETE**: the {side} side could not be read completely (see the "
            "input problems below): verdicts that depend on what was not read are not "
            "compared.",
            "",
        ]
    scope = f"{result.pods_compared:,} pods compared on {_ports(result)}"
    only = []
    if result.only_before:
        only.append(f"{len(result.only_before):,} only before")
    if result.only_after:
        only.append(f"{len(result.only_after):,} only after")
    md += [scope + (f" ({', '.join(only)}: not compared)" if only else "") + ".", ""]
    rows, first = _rows(result, after)
    if rows:
        head = [
            "| source | destination | port | before → after | pod pairs | cause |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        # the rule of each cause is read from one pair's decisions: only for rows shown
        lines = [_line(row, count, first[row]) for row, count in rows[:_LISTED]]
        md += [*head, *lines[:_SHOWN], ""]
        if len(lines) > _SHOWN:
            rest = lines[_SHOWN:_LISTED]
            md += [
                f"<details><summary>{len(lines) - _SHOWN:,} more changed connections</summary>",
                "",
                *head,
                *rest,
                "",
            ]
            if len(rows) > _LISTED:
                md += [f"… and {len(rows) - _LISTED:,} more: see `--output json`.", ""]
            md += ["</details>", ""]
    problems = [("before", f) for f in result.problems_before]
    problems += [("after", f) for f in result.problems_after]
    if problems:
        md += [f"#### Input problems ({len(problems)})", ""]
        md += [f"- {where}: {_problem(f)}" for where, f in problems]
        md.append("")
    return "\n".join(md)


def _flows(n: int) -> str:
    return f"{n:,} flow" if n == 1 else f"{n:,} flows"


def _ports(result: DiffResult) -> str:
    ports = [f"{p.value} {n}" for p, n in result.ports]
    if len(ports) > 6:
        return f"{len(ports)} ports"
    return ", ".join(ports) if ports else "no port"


def _rows(result: DiffResult, after: Snapshot) -> tuple[list[tuple[_Row, int]], dict[_Row, Change]]:
    """Changes folded into workload pairs; the sources of one destination, port,
    verdict change and cause fold further into their namespace when there are more
    than _FOLD of them (as NCA's peer sets). By destination, then source."""
    counts: dict[_Row, int] = defaultdict(int)
    first: dict[_Row, Change] = {}
    names: dict[str, str] = {}
    for c in result.changes:
        for key in (c.source, c.destination):
            if key not in names:
                names[key] = workload(after, key)
        row = _Row(
            names[c.source],
            names[c.destination],
            f"{c.protocol.value} {c.port}",
            c.before,
            c.after,
            c.causes,
            c.together,
        )
        counts[row] += 1
        first.setdefault(row, c)
    by_namespace: dict[tuple[_Row, str], list[_Row]] = defaultdict(list)
    for row in counts:
        namespace = row.source.partition("/")[0]
        by_namespace[(replace(row, source=""), namespace)].append(row)
    folded: dict[_Row, int] = {}
    for (bare, namespace), rows in by_namespace.items():
        if len(rows) <= _FOLD:
            folded.update((r, counts[r]) for r in rows)
            continue
        row = replace(bare, source=f"{len(rows)} workloads in {namespace}")
        folded[row] = sum(counts[r] for r in rows)
        first[row] = first[rows[0]]
    order = sorted(folded, key=lambda r: (r.destination, r.source, r.port, str(r.causes)))
    return [(r, folded[r]) for r in order], first


def _line(row: _Row, count: int, change: Change) -> str:
    verdicts = f"{row.before.value} → **{row.after.value}**"
    source = f"`{_cell(row.source)}`" if "/" in row.source else row.source
    return (
        f"| {source} | `{_cell(row.destination)}` | {row.port} | {verdicts} "
        f"| {count:,} | {_cell(_causes(row, change))} |"
    )


def _causes(row: _Row, change: Change) -> str:
    if not row.causes:
        return "no object change found (a pod's address, port or node?)"
    words = [_cause(c, change) for c in row.causes]
    if row.together:
        return "together: " + " + ".join(words)
    return words[0] if len(words) == 1 else "each alone: " + "; ".join(words)


def _cause(cause: Cause, change: Change) -> str:
    """The object change and, for a policy, the rule that decided the pair."""
    what = f"{cause.ref.kind} {cause.ref.key} {cause.kind}"
    if cause.ref.kind != "NetworkPolicy":
        return f"{what} ({cause.detail})" if cause.detail else what
    rule = _rule(cause, change.after_decision, "now") or _rule(cause, change.before_decision, "")
    return f"{what}: {rule}" if rule else what


def _rule(cause: Cause, decision: Decision, when: str) -> str | None:
    for side in (decision.ingress, decision.egress):
        for o in side.admitted_by:
            if o.policy.ref.key == cause.ref.key and o.rule is not None:
                verb = "admits" if when == "now" else "admitted"
                return f"{o.rule.path} {verb} it"
        if any(p.ref.key == cause.ref.key for p in side.isolated_by) and not side.admitted_by:
            verb = "isolates" if when == "now" else "isolated"
            return f"{verb} {_subject(side)} for {side.direction.value}; no rule admits the flow"
    return None


def _subject(side: DirectionResult) -> str:
    pod = side.subject.pod
    return pod.key if pod is not None else "it"


def _problem(f: Finding) -> str:
    return f"`{render_problems([f]).strip()}`".replace("|", "\\|")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
