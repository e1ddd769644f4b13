"""Result objects -> plain JSON-ready dicts with stable keys (schema: docs/json-output.md).

The JSON renderer and the markdown renderer both read these dicts, so every output
format carries the same facts and the same sentences.
"""

from __future__ import annotations

from typing import Any

from ..diagnose import Diagnosis, PairResult
from ..engine import Decision, DirectionResult, RuleOutcome, Verdict
from ..explain import (
    describe_rule,
    peer_outcome,
    port_outcome,
    rule_name,
    side_summary,
)
from ..findings import Finding
from ..layers import deciding_step, layer_of, side_verdict
from ..model import ObjectRef
from ..podinfo import DirectionView, PodView
from ..targets import Target

__all__ = [
    "SCHEMA_VERSION",
    "diagnosis_dict",
    "direction_dict",
    "finding_dict",
    "pod_dict",
    "ref_dict",
]

SCHEMA_VERSION = 1


def ref_dict(ref: ObjectRef) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name}
    if ref.file is not None:
        out["file"] = ref.file
        out["document"] = ref.document
        out["line"] = ref.line
    return out


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "severity": f.severity.value,
        "message": f.message,
        "objects": [ref_dict(r) for r in f.objects],
        "field": f.field,
        "fix": None
        if f.fix is None
        else {"summary": f.fix.summary, "snippet": f.fix.snippet, "caution": f.fix.caution},
    }


def _rule_dict(o: RuleOutcome, d: Decision, side: DirectionResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "policy": o.policy.ref.key,
        "rule": o.rule.path if o.rule else None,
        "result": o.result.value,
        "name": rule_name(o.policy, o.rule, side.direction),
        "description": describe_rule(o.rule, o.policy.namespace) if o.rule else "admits nothing",
    }
    if o.rule is not None:
        out["peers"] = (
            None
            if o.rule.peers is None
            else [
                {
                    "index": p.peer.index,
                    "result": p.result.value,
                    "misses": [m.value for m in p.misses],
                    "explanation": peer_outcome(p, o.policy, side.direction),
                }
                for p in o.peers
            ]
        )
        out["ports"] = (
            None
            if not o.rule.ports
            else [
                {
                    "index": p.port.index,
                    "result": p.match.result.value,
                    "miss": p.match.miss.value if p.match.miss else None,
                    "explanation": port_outcome(p, d.protocol, d.port),
                }
                for p in o.ports
            ]
        )
    return out


def _decided_by(d: Decision, side: DirectionResult) -> str | None:
    """The object whose rule decided this direction, when it is not a NetworkPolicy."""
    layer = layer_of(d, side)
    step = deciding_step(layer) if layer is not None and d.if_enforced is None else None
    if step is None or step.ref.kind in ("Pod", "NetworkPolicy"):
        return None
    return str(step.ref)


def direction_dict(d: Decision, side: DirectionResult) -> dict[str, Any]:
    return {
        # what decided this direction (admin tier, Calico, Cilium or NetworkPolicy)
        "verdict": side_verdict(d, side).value,
        "network_policy_verdict": Verdict.of(side.result).value,
        "decided_by": _decided_by(d, side),
        "subject": side.subject.label,
        "exempt": side.exemption.value if side.exemption else None,
        "isolated": side.isolated,
        "isolated_by": [p.ref.key for p in side.isolated_by],
        "selected_by": [p.ref.key for p in side.selecting],
        "summary": side_summary(d, side),
        "rules": [_rule_dict(o, d, side) for o in side.outcomes],
    }


def _target_dict(t: Target) -> dict[str, Any]:
    return {
        "spec": t.spec,
        "kind": t.kind,
        "label": t.label,
        "members": [m.endpoint.label for m in t.members],
        "service": t.service.key if t.service else None,
        "service_port": t.service_port.port if t.service_port else None,
    }


def _pair_dict(p: PairResult) -> dict[str, Any]:
    d = p.decision
    return {
        "source": p.source.endpoint.label,
        "destination": p.destination.endpoint.label,
        "port": p.destination.port,
        "via": p.destination.via,
        "verdict": d.verdict.value if d else None,
        "problem": p.problem,
        "egress": direction_dict(d, d.egress) if d else None,
        "ingress": direction_dict(d, d.ingress) if d else None,
    }


def decisive_pair(diag: Diagnosis) -> PairResult | None:
    """The pair whose answer is the overall verdict (first denied, else first unknown)."""
    with_decision = [p for p in diag.pairs if p.decision is not None]
    for p in with_decision:
        if p.verdict is diag.verdict:
            return p
    return with_decision[0] if with_decision else None


def diagnosis_dict(diag: Diagnosis, problems: list[Finding]) -> dict[str, Any]:
    main = decisive_pair(diag)
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": diag.verdict.value,
        # what the policies alone say, when the plugin does not enforce them
        "policy_verdict": (diag.policy_verdict or diag.verdict).value,
        # the finding that overrides the policies' answer (null: they decide)
        "overridden_by": diag.overridden_by
        or ("cni-no-enforcement" if diag.policy_verdict is not None else None),
        "secondary_network": {
            "address": str(diag.secondary.ip),
            "pod": diag.secondary.pod.key,
            "interface": diag.secondary.attachment.interface,
            "network": diag.secondary.attachment.network,
            "primary_ips": [str(ip) for ip in diag.secondary.pod.ips],
        }
        if diag.secondary is not None
        else None,
        "source": _target_dict(diag.source),
        "destination": _target_dict(diag.destination),
        "port": diag.port,
        "protocol": diag.protocol_label,
        "cni": diag.cni.name,
        "egress": direction_dict(main.decision, main.decision.egress)
        if main and main.decision
        else None,
        "ingress": direction_dict(main.decision, main.decision.ingress)
        if main and main.decision
        else None,
        "pairs": [_pair_dict(p) for p in diag.pairs],
        "findings": [{**finding_dict(f), "decides": diag.decides(f)} for f in diag.findings],
        "verify": list(diag.verify),
        "symptom": diag.symptom.value if diag.symptom else None,
        "problems": [finding_dict(f) for f in problems],
    }


def _view_dict(v: DirectionView, namespace: str) -> dict[str, Any]:
    return {
        "isolated": v.isolated,
        "isolated_by": [p.ref.key for p in v.isolated_by],
        "rules": [
            {
                "policy": p.ref.key,
                "rule": r.path,
                "description": describe_rule(r, namespace),
            }
            for p, r in v.rules
        ],
        "ignored_rules_in": [p.ref.key for p in v.ignored],
    }


def pod_dict(pv: PodView) -> dict[str, Any]:
    pod = pv.pod
    return {
        "pod": pod.key,
        "template_of": str(pod.template_of) if pod.template_of else None,
        "host_network": pod.host_network,
        "labels": dict(pod.labels),
        "selected_by": [p.ref.key for p in pv.selected_by],
        "ingress": _view_dict(pv.ingress, pod.namespace),
        "egress": _view_dict(pv.egress, pod.namespace),
    }
