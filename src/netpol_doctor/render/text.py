"""Terminal output: the answer first, then the explanation, one fact per line.

`color=False` gives plain text (what pipes, files and golden tests see); `color=True`
adds rich markup for a TTY. Result object in, string out.
"""

from __future__ import annotations

import io
import shutil
import textwrap
from typing import TYPE_CHECKING

from ..analysis.rootcause import ROOT_CAUSE_IDS
from ..analysis.words import plural
from ..diagnose import Diagnosis, PairResult, pairs_rule, policy_decides
from ..engine import Decision, DirectionResult, Verdict
from ..explain import describe_rule, rule_outcome_lines, side_summary
from ..findings import Finding, Severity
from ..model import Protocol
from ..podinfo import DirectionView, PodView
from ..selectors import Tri
from .safe import printable
from .structured import decisive_pair

if TYPE_CHECKING:
    from ..matrix import Matrix

__all__ = ["render_diagnosis", "render_lint", "render_matrix", "render_pod", "render_problems"]

_VERDICT_STYLE = {
    Verdict.ALLOWED: "bold green",
    Verdict.DENIED: "bold red",
    Verdict.UNKNOWN: "bold yellow",
}
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_MAX_PAIRS_EXPLAINED = 3


class _Out:
    """Collects lines with optional rich markup; renders plain or coloured.

    Coloured output goes to a terminal, which would wrap long lines wherever the
    column ends, mid-word. So prose is wrapped here at word boundaries to the
    terminal's width, continuation lines indented under their first; code (YAML,
    commands, the matrix grid) is never wrapped, so it still pastes as one line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str | None, bool]] = []

    def add(self, text: str = "", style: str | None = None, *, code: bool = False) -> None:
        for line in text.split("\n"):
            self.lines.append((printable(line), style, code))

    def render(self, color: bool, width: int | None = None) -> str:
        if not color:
            return "\n".join(t for t, _, _ in self.lines).rstrip() + "\n"
        from rich.console import Console  # colour only: plain output needs no rich
        from rich.markup import escape

        width = width or shutil.get_terminal_size((100, 24)).columns
        buf = io.StringIO()
        console = Console(
            file=buf,
            force_terminal=True,
            color_system="standard",
            soft_wrap=True,  # no wrapping by rich: the lines are wrapped already
            highlight=False,
        )
        for text, style, code in self.lines:
            for piece in [text] if code else wrap_words(text, width):
                console.print(f"[{style}]{escape(piece)}[/]" if style else escape(piece))
        return buf.getvalue()


def wrap_words(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns broken only between words (a word longer than
    the line stays whole), continuation lines indented under the first."""
    body = text.lstrip(" ")
    indent = " " * (len(text) - len(body))
    hang = indent + ("    " if body.startswith("[") else "  ")
    lines = textwrap.wrap(
        body,
        width=max(width, len(hang) + 20),
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return lines or [text]


#: Findings naming one specific change; when present, the generic "add a policy for
#: exactly this flow" fix of *-not-allowed is left to the JSON output.
_SPECIFIC = frozenset(
    {
        "namespace-label-mismatch",
        "pod-selector-scope",
        "named-port-unresolved",
        "port-mismatch",
        "ipblock-except",
        "pod-label-mismatch",
        "peer-and-or-confusion",
        "dns-egress-missing",
        "apiserver-egress-missing",
        *ROOT_CAUSE_IDS,
    }
)
_NOT_ALLOWED = frozenset({"ingress-not-allowed", "egress-not-allowed"})


def _finding_lines(out: _Out, findings: tuple[Finding, ...] | list[Finding]) -> None:
    """`  [error] id: message`, continuation lines and the fix indented under it."""
    specific = any(f.id in _SPECIFIC and f.fix is not None for f in findings)
    for f in findings:
        first, *rest = f.message.split("\n")
        out.add(f"  [{f.severity.value}] {f.id}: {first}", _SEVERITY_STYLE[f.severity])
        pad = "      "
        brief = f.id in _NOT_ALLOWED and specific
        if not brief:
            for line in rest:
                out.add(f"{pad}{line}")
        if f.fix is None:
            continue
        if brief:
            out.add(f"{pad}(or {f.fix.summary}: see --output json)")
            continue
        out.add(f"{pad}fix: {f.fix.summary}", "green")
        if f.fix.snippet:
            for line in f.fix.snippet.rstrip().split("\n"):
                out.add(f"{pad}  {line}", code=True)
        if f.fix.caution:
            out.add(f"{pad}note: {f.fix.caution}")


def _direction_block(out: _Out, d: Decision, side: DirectionResult, title: str) -> None:
    out.add(title, "bold")
    out.add(f"  {side_summary(d, side)}")
    if side.selecting and not side.isolated:
        names = ", ".join(p.ref.key for p in side.selecting)
        out.add(f"  (selected by {names}, but not for {side.direction.value.lower()})")
    shown = side.outcomes
    if side.result is Tri.YES:
        # Allowed: the admitting rule is the explanation; the misses are noise here.
        shown = side.admitted_by
        others = len(side.outcomes) - len(shown)
        if others:
            out.add(
                f"  ({plural(others, 'other rule')} of these policies "
                + ("does" if others == 1 else "do")
                + " not admit it; see --output json)"
            )
    for layer in d.layers:
        if layer.side is side:
            for step in layer.verdict.steps:
                mark = {Tri.YES: "matches", Tri.NO: "no", Tri.UNKNOWN: "maybe"}[step.matched]
                rule = f" {step.rule}" if step.rule else ""
                out.add(f"  {step.ref}{rule} ({step.action.value}): {mark}; {step.reason}")
    for o in shown:
        style = {Tri.YES: "green", Tri.NO: None, Tri.UNKNOWN: "yellow"}[o.result]
        first, *rest = rule_outcome_lines(o, d.protocol, d.port, side.direction)
        out.add(f"  {first}", style)
        for line in rest:
            out.add(f"  {line}")


def _pair_block(out: _Out, p: PairResult) -> None:
    d = p.decision
    if d is None:
        out.add(f"{p.source.endpoint.label} -> {p.destination.endpoint.label}: {p.problem}")
        return
    if p.destination.via:
        out.add(f"via {p.destination.via}")
    _direction_block(out, d, d.egress, f"Egress from {d.source.label}")
    _direction_block(out, d, d.ingress, f"Ingress to {d.destination.label}")


_POLICY_HEADING = "What the policies would do once a plugin enforces them"
_POLICY_HEADINGS = {
    "secondary-network": "What the policies say on the primary (cluster) interface",
    "aws-vpc-cni-port-limit": "What the policies say",
}


def _override_note(diag: Diagnosis, policy: Verdict) -> str:
    """Why the headline is not the policies' own answer, under the headline."""
    if diag.overridden_by == "secondary-network" and diag.secondary is not None:
        s = diag.secondary
        if not diag.shared_network:
            return (
                f"{s.ip} is {s.pod.key}'s {s.attachment.label} address; the other end is "
                "not on that network, so the traffic crosses its primary interface, where "
                f"the policies say {policy.value} for this address"
            )
        primary = ", ".join(str(ip) for ip in s.pod.ips) or "no IP"
        return (
            f"{s.ip} is {s.pod.key}'s {s.attachment.label} address, not subject to "
            f"NetworkPolicy; the policies say {policy.value} for its primary interface "
            f"({primary})"
        )
    if diag.overridden_by == "aws-vpc-cni-port-limit":
        return (
            f"the policies alone say {policy.value}, but the AWS VPC CNI policy agent may "
            "drop the port entry that admits it"
        )
    return f"the policies alone say {policy.value}, but {diag.cni.name} does not enforce them"


def render_diagnosis(diag: Diagnosis, color: bool = False, width: int | None = None) -> str:
    out = _Out()
    ports = (
        diag.protocol_label
        if diag.protocol is Protocol.ICMP
        else f"{diag.protocol_label} {diag.port}"
    )
    out.add(
        f"{diag.verdict.value.upper()}  {diag.source.label} -> {diag.destination.label}  {ports}",
        _VERDICT_STYLE[diag.verdict],
    )
    if diag.policy_verdict is not None:
        out.add(f"  {_override_note(diag, diag.policy_verdict)}")
    main = decisive_pair(diag)
    decisive = [f for f in diag.findings if diag.decides(f)]
    # Under a plugin that enforces nothing, the rule-level findings say what the
    # policies would do once enforced: kept, under their own heading.
    unenforced = [f for f in diag.findings if diag.policy_verdict is not None and policy_decides(f)]
    warnings = [
        f
        for f in diag.findings
        if not diag.decides(f) and f not in unenforced and f.severity is not Severity.INFO
    ]
    if decisive:
        out.add()
        out.add("What blocks it" if diag.verdict is Verdict.DENIED else "What decides it", "bold")
        _finding_lines(out, decisive)
    if unenforced:
        out.add()
        out.add(_POLICY_HEADINGS.get(diag.overridden_by or "", _POLICY_HEADING), "bold")
        _finding_lines(out, unenforced)
    if warnings:
        out.add()
        out.add("Also check", "bold")
        _finding_lines(out, warnings)
    if diag.verify:
        out.add()
        out.add("Confirm it", "bold")
        for line in diag.verify:
            out.add(f"  {line}", code=True)
    if len(diag.pairs) > 1:
        out.add()
        out.add(f"Pairs ({len(diag.pairs)})", "bold")
        out.add(f"  {pairs_rule(diag)}")
        for p in diag.pairs:
            verdict = p.verdict.value if p.verdict else "no port"
            via = f"  port {p.destination.port}" if p.destination.port is not None else ""
            if diag.protocol is None and p.decision is not None:
                via += f"/{p.decision.protocol.value}"
            if p.source.via:
                via += f"  ({p.source.via})"
            out.add(
                f"  {verdict:<8} {p.source.endpoint.label} -> {p.destination.endpoint.label}{via}"
            )
    explained = [main] if main else []
    explained += [
        p
        for p in diag.pairs
        if p is not main
        and p.verdict is not Verdict.ALLOWED
        and len(explained) < _MAX_PAIRS_EXPLAINED
    ][: _MAX_PAIRS_EXPLAINED - len(explained)]
    if explained and diag.policy_verdict is not None:
        # The direction lines below are the policies' reading; the headline is the data
        # plane's answer: say so, or "ingress: DENIED" under ALLOWED reads as a contradiction.
        out.add()
        out.add(
            f"Direction by direction, as the policies read it (they say "
            f"{diag.policy_verdict.value}; the answer above is what the traffic meets)"
        )
    for p in explained:
        out.add()
        if len(diag.pairs) > 1:
            out.add(f"{p.source.endpoint.label} -> {p.destination.endpoint.label}", "bold")
        _pair_block(out, p)
    context = [f for f in diag.findings if f.severity is Severity.INFO and f not in decisive]
    if context:
        out.add()
        out.add("Context", "bold")
        _finding_lines(out, context)
    if diag.cni.name is None:
        out.add()
        out.add("CNI: not identified from the input; plugin-specific behaviour is left unknown")
    else:
        how = "given" if diag.cni.forced else "detected"
        out.add()
        out.add(f"CNI: {diag.cni.name} ({how})")
    return out.render(color, width)


def _view_lines(out: _Out, pv: PodView, v: DirectionView) -> None:
    word = v.direction.value.lower()
    ns = pv.pod.namespace
    if pv.pod.host_network:
        out.add(f"{v.direction.value}: hostNetwork pod: NetworkPolicy does not select it")
        return
    if not v.isolated:
        out.add(
            f"{v.direction.value}: not isolated; all {word} traffic is allowed by NetworkPolicy"
        )
    else:
        out.add(
            f"{v.direction.value}: isolated by {', '.join(p.ref.key for p in v.isolated_by)}",
            "bold",
        )
        if not v.rules:
            out.add(f"  no rule admits anything: all {word} traffic is denied")
        for policy in v.isolated_by:
            rules = [r for p, r in v.rules if p is policy]
            if not rules:
                out.add(f"  {policy.ref.key}: no {word} rules (admits nothing)")
            for r in rules:
                where = f"{policy.ref.key} {r.direction.rules_field}[{r.index}]"
                out.add(f"  {where}: {describe_rule(r, ns)}")
    for p in v.ignored:
        out.add(
            f"  note: {p.ref.key} has {word} rules but policyTypes is "
            f"[{', '.join(sorted(t.value for t in p.policy_types))}]: they do nothing",
            "yellow",
        )


def render_pod(pv: PodView, color: bool = False, width: int | None = None) -> str:
    out = _Out()
    pod = pv.pod
    labels = ", ".join(f"{k}={v}" for k, v in pod.labels) or "(none)"
    out.add(pod.display, "bold")
    out.add(f"labels: {labels}")
    if pod.ports:
        ports = ", ".join(
            f"{cp.port}/{cp.protocol.value}" + (f" ({cp.name})" if cp.name else "")
            for cp in pod.ports
        )
        out.add(f"ports: {ports}")
    sel = ", ".join(p.ref.key for p in pv.selected_by) or "none"
    out.add(f"selected by: {sel}")
    out.add()
    _view_lines(out, pv, pv.ingress)
    out.add()
    _view_lines(out, pv, pv.egress)
    return out.render(color, width)


_CELL = {Verdict.ALLOWED: "+", Verdict.DENIED: ".", Verdict.UNKNOWN: "?"}


def render_matrix(m: Matrix, color: bool = False) -> str:
    """A grid: rows are sources, columns destinations; + allowed, . denied, ? unknown."""
    from ..matrix import CODES  # here: the matrix (numpy) is for the matrix command only

    out = _Out()
    counts = m.counts()
    out.add(
        f"{m.protocol.value} {m.port}: {plural(len(m.pods), 'pod')}, "
        f"{counts[Verdict.ALLOWED]} allowed, {counts[Verdict.DENIED]} denied, "
        f"{counts[Verdict.UNKNOWN]} unknown pairs",
        "bold",
    )
    out.add("rows: source, columns: destination (numbered); + allowed, . denied, ? unknown")
    width = len(str(len(m.pods)))
    name_w = max((len(printable(p.display)) for p in m.pods), default=0)
    header = " " * (name_w + width + 3) + " ".join(f"{i + 1:>{width}}" for i in range(len(m.pods)))
    out.add(header, code=True)
    for i, (pod, row) in enumerate(zip(m.pods, m.rows(), strict=True)):
        cells = " ".join(f"{_CELL[CODES[int(v)]]:>{width}}" for v in row)
        out.add(f"{i + 1:>{width}}. {printable(pod.display):<{name_w}} {cells}", code=True)
    return out.render(color)


def render_problems(problems: list[Finding]) -> str:
    """Input problems, one per line: where, what object, which field, what is wrong."""
    lines = []
    for f in problems:
        ref = f.objects[0] if f.objects else None
        where = ref.location if ref and ref.location else None
        what = f"{ref}" if ref and ref.kind != "file" else None
        field = f"field {f.field}" if f.field else None
        head = ": ".join(x for x in (where, " ".join(y for y in (what, field) if y)) if x)
        lines.append(f"{f.severity.value}: {head or 'input'}: {f.message} [{f.id}]")
    return printable("\n".join(lines) + ("\n" if lines else ""))


def render_lint(findings: list[Finding]) -> str:
    """One line per finding (file, object, field, message, id), its fix under it, and
    a count line."""
    out = []
    for f in findings:
        out.append(render_problems([f]).rstrip("\n"))
        if f.fix is not None:
            out.append(f"    fix: {f.fix.summary}")
            if f.fix.snippet:
                out += [f"      {line}" for line in f.fix.snippet.rstrip().split("\n")]
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    out.append(
        f"{plural(counts[Severity.ERROR], 'error')}, "
        f"{plural(counts[Severity.WARNING], 'warning')}, {counts[Severity.INFO]} info"
    )
    return printable("\n".join(out) + "\n")
