"""Words for a triage: the seed's answer first (is NetworkPolicy the cause, which object
and rule), then the checklist, failing items first, each with its fix. Text, JSON and
markdown from one dict."""

from __future__ import annotations

from typing import Any

from ..analysis.triage import Item, Triage
from ..engine import Verdict
from .structured import diagnosis_dict, finding_dict

__all__ = ["render_triage_markdown", "render_triage_text", "triage_dict"]

_SPECIFIC = ("dns-egress-missing", "apiserver-egress-missing", "cni-policy-decided")
_MARK = {Verdict.DENIED: "BLOCKED", Verdict.UNKNOWN: "UNKNOWN", Verdict.ALLOWED: "ok"}


def _answer(t: Triage) -> tuple[str, list[str]]:
    """The headline and the lines naming the object and rule that decide it."""
    first = t.first_failure
    if t.verdict is Verdict.ALLOWED:
        return (
            "NetworkPolicy is not the cause: every network need checked below is allowed. "
            "Look elsewhere (the app, its dependencies, the network plugin: seed 002 step 6).",
            [],
        )
    if first is None:
        return "Nothing to check: the pod names no network need in the input.", []
    if t.verdict is Verdict.UNKNOWN:
        head = f"NetworkPolicy may be the cause; cannot tell for: {first.what}."
    else:
        head = f"NetworkPolicy IS the cause: {first.what} is blocked."
    lines = []
    # the need's own finding (dns-egress-missing, ...) says it best: it leads
    ordered = sorted(first.deciding, key=lambda f: f.id not in _SPECIFIC)
    fixed = False
    for f in ordered[:2]:
        lines.append(f"  [{f.id}] {f.message.splitlines()[0]}")
        policies = [o for o in f.objects if "Policy" in o.kind] or list(f.objects[:1])
        if policies:
            at = f" ({policies[0].location})" if policies[0].location else ""
            rule = f" {f.field}" if f.field else ""
            lines.append(f"  object: {policies[0]}{rule}{at}")
        if f.fix is not None and not fixed:
            fixed = True
            lines.append(f"  fix: {f.fix.summary}")
            if f.fix.snippet:
                lines.extend("      " + s for s in f.fix.snippet.rstrip().splitlines())
    if first.problem:
        lines.append(f"  why unknown: {first.problem}")
    return head, lines


def render_triage_text(t: Triage) -> str:
    head, why = _answer(t)
    alert = f" ({t.alert})" if t.alert else ""
    out = [f"triage {t.subject}{alert}", head, *why, "", "checklist:"]
    for item in t.items:
        out.append(f"  [{_MARK[item.verdict]:7}] {item.need.value}: {item.what}")
        if item.verdict is not Verdict.ALLOWED and item is not t.first_failure:
            for f in item.deciding[:2]:
                out.append(f"            {f.id}: {f.message.splitlines()[0]}")
            if item.problem:
                out.append(f"            {item.problem}")
    for note in t.notes:
        out.append(f"  note: {note}")
    return "\n".join(out) + "\n"


def _item_dict(i: Item) -> dict[str, Any]:
    return {
        "need": i.need.value,
        "what": i.what,
        "source": i.source,
        "destination": i.destination,
        "port": i.port,
        "protocol": i.protocol.value,
        "verdict": i.verdict.value,
        "problem": i.problem,
        "deciding": [finding_dict(f) for f in i.deciding],
        "diagnosis": diagnosis_dict(i.diagnosis, [])
        if i.diagnosis and i.verdict is not Verdict.ALLOWED
        else None,
    }


def triage_dict(triages: list[Triage]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "triage": [
            {
                "subject": t.subject,
                "alert": t.alert,
                "policy_is_cause": {"denied": "yes", "unknown": "unknown", "allowed": "no"}[
                    t.verdict.value
                ],
                "answer": _answer(t)[0],
                "first_failure": _item_dict(t.first_failure) if t.first_failure else None,
                "items": [_item_dict(i) for i in t.items],
                "notes": list(t.notes),
            }
            for t in triages
        ],
    }


def render_triage_markdown(t: Triage) -> str:
    head, why = _answer(t)
    alert = f" ({t.alert})" if t.alert else ""
    md = [f"## netpol-doctor triage: `{t.subject}`{alert}", "", f"**{head}**", ""]
    md += [f"- {line.strip()}" for line in why if line.strip()]
    md += ["", "| | need | check |", "|---|---|---|"]
    for item in t.items:
        md.append(f"| {_MARK[item.verdict]} | {item.need.value} | {item.what} |")
    md += [f"\n_note: {n}_" for n in t.notes]
    return "\n".join(md) + "\n"
