"""Admin-tier, Cilium and Calico policies are checked against their schema when read, like
NetworkPolicy (validation.py): a wrong type, enum value, range, CIDR or selector anywhere
is one `policy-invalid` problem naming the field, and the object is dropped, since the
API server never stores it. Each case: a valid object, one field changed, the field named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from netpol_doctor.crd_validation import validate_extended
from netpol_doctor.parse import Origin
from netpol_doctor.snapshot import build_snapshot

ANP: dict[str, Any] = {
    "apiVersion": "policy.networking.k8s.io/v1alpha1",
    "kind": "AdminNetworkPolicy",
    "metadata": {"name": "anp"},
    "spec": {
        "priority": 10,
        "subject": {"namespaces": {}},
        "ingress": [
            {
                "action": "Allow",
                "from": [{"pods": {"namespaceSelector": {}, "podSelector": {}}}],
                "ports": [{"portNumber": {"port": 80}}, {"portRange": {"start": 1, "end": 9}}],
            }
        ],
        "egress": [{"action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}]}],
    },
}
BANP: dict[str, Any] = {
    "apiVersion": "policy.networking.k8s.io/v1alpha1",
    "kind": "BaselineAdminNetworkPolicy",
    "metadata": {"name": "default"},
    "spec": {
        "subject": {"namespaces": {}},
        "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}],
    },
}
CNP: dict[str, Any] = {
    "apiVersion": "policy.networking.k8s.io/v1alpha2",
    "kind": "ClusterNetworkPolicy",
    "metadata": {"name": "cnp"},
    "spec": {
        "tier": "Admin",
        "priority": 1,
        "subject": {"namespaces": {}},
        "ingress": [
            {
                "action": "Accept",
                "from": [{"namespaces": {}}],
                "protocols": [{"tcp": {"destinationPort": {"range": {"start": 1, "end": 2}}}}],
            }
        ],
    },
}
CILIUM: dict[str, Any] = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "c", "namespace": "shop"},
    "spec": {
        "endpointSelector": {"matchLabels": {"k8s:app": "api"}},
        "ingress": [
            {
                "fromEndpoints": [{}],
                "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}],
            },
            {"fromCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]},
            {"fromEntities": ["world"], "icmps": [{"fields": [{"type": 8}]}]},
        ],
        "enableDefaultDeny": {"ingress": True},
    },
}
CALICO: dict[str, Any] = {
    "apiVersion": "projectcalico.org/v3",
    "kind": "GlobalNetworkPolicy",
    "metadata": {"name": "g"},
    "spec": {
        "order": 10,
        "selector": "app == 'api'",
        "types": ["Ingress"],
        "ingress": [
            {
                "action": "Allow",
                "protocol": "TCP",
                "source": {"nets": ["10.0.0.0/8"], "selector": "has(app)"},
                "destination": {"ports": [80, "90:99", "http"]},
                "icmp": {"type": 8},
            }
        ],
    },
}
TIER: dict[str, Any] = {
    "apiVersion": "projectcalico.org/v3",
    "kind": "Tier",
    "metadata": {"name": "security"},
    "spec": {"order": 100, "defaultAction": "Pass"},
}

_REMOVE = object()

# (valid object, path to change, new value, field named in the problem)
CASES: list[tuple[dict[str, Any], tuple[str | int, ...], object, str]] = [
    (ANP, ("spec", "ingress", 0, "action"), [], "spec.ingress[0].action"),
    (ANP, ("spec", "ingress", 0, "action"), "Accept", "spec.ingress[0].action"),
    (ANP, ("spec", "ingress", 0, "from"), True, "spec.ingress[0].from"),
    (ANP, ("spec", "ingress", 0, "from"), [], "spec.ingress[0].from"),
    (ANP, ("spec", "ingress", 0, "ports"), True, "spec.ingress[0].ports"),
    (ANP, ("spec", "ingress", 0, "ports", 0, "portNumber", "port"), 0, "…portNumber.port"),
    (ANP, ("spec", "ingress", 0, "ports", 0, "portNumber", "protocol"), "tcp", "…protocol"),
    (ANP, ("spec", "ingress", 0, "ports", 1, "portRange", "start"), "1", "…portRange.start"),
    (ANP, ("spec", "ingress", 0, "ports", 0), {}, "spec.ingress[0].ports[0]"),
    (ANP, ("spec", "egress", 0, "to", 0, "networks", 0), "10.0.0.0/33", "…networks[0]"),
    (ANP, ("spec", "priority"), 1001, "spec.priority"),
    (ANP, ("spec", "priority"), _REMOVE, "spec.priority"),
    (ANP, ("spec", "subject"), {"namespaces": {}, "pods": {}}, "spec.subject"),
    (ANP, ("spec", "subject", "namespaces"), {"matchLabels": {"a": []}}, "…matchLabels"),
    (ANP, ("spec", "subject", "namespaces"), {"matchExpressions": [{"key": "a"}]}, "…operator"),
    (ANP, ("spec",), _REMOVE, "spec"),
    (BANP, ("spec", "ingress", 0, "action"), "Pass", "spec.ingress[0].action"),
    (BANP, ("metadata", "name"), "other", "metadata.name"),
    (BANP, ("spec", "ingress", 0, "from", 0), {}, "spec.ingress[0].from[0]"),
    (CNP, ("spec", "tier"), "admin", "spec.tier"),
    (CNP, ("spec", "ingress", 0, "action"), "Allow", "spec.ingress[0].action"),
    (CNP, ("spec", "ingress", 0, "protocols", 0, "tcp"), {}, "…tcp.destinationPort"),
    (
        CNP,
        ("spec", "ingress", 0, "protocols", 0, "tcp", "destinationPort", "range", "end"),
        1,
        "…end",
    ),
    (CILIUM, ("spec", "ingress", 0, "toPorts", 0, "ports", 0, "port"), 80, "…ports[0].port"),
    (CILIUM, ("spec", "ingress", 0, "toPorts", 0, "ports", 0, "port"), "99999", "…port"),
    (CILIUM, ("spec", "ingress", 0, "toPorts", 0, "ports", 0, "protocol"), "TCPX", "…protocol"),
    (CILIUM, ("spec", "ingress", 0, "toPorts", 0, "ports", 0, "endPort"), -1, "…endPort"),
    (CILIUM, ("spec", "ingress", 0, "fromEndpoints", 0), {"matchLabels": True}, "…matchLabels"),
    (CILIUM, ("spec", "ingress", 1, "fromCIDRSet", 0, "cidr"), "10.0.0.0", "…cidr"),
    (CILIUM, ("spec", "ingress", 1, "fromCIDRSet", 0, "except"), "10.1.0.0/16", "…except"),
    (CILIUM, ("spec", "ingress", 2, "fromEntities", 0), "everything", "…fromEntities[0]"),
    (CILIUM, ("spec", "ingress", 2, "icmps", 0, "fields", 0, "family"), "IPv5", "…family"),
    (CILIUM, ("spec", "enableDefaultDeny", "ingress"), "yes", "spec.enableDefaultDeny.ingress"),
    (CILIUM, ("spec", "ingress"), {}, "spec.ingress"),
    (CALICO, ("spec", "ingress", 0, "action"), [], "spec.ingress[0].action"),
    (CALICO, ("spec", "ingress", 0, "action"), "allow", "spec.ingress[0].action"),
    (CALICO, ("spec", "ingress", 0, "action"), _REMOVE, "spec.ingress[0].action"),
    (CALICO, ("spec", "ingress", 0, "protocol"), 256, "spec.ingress[0].protocol"),
    (CALICO, ("spec", "ingress", 0, "source", "nets", 0), "10.0.0.300/8", "…nets[0]"),
    (CALICO, ("spec", "ingress", 0, "source", "selector"), "app ==", "…source.selector"),
    (CALICO, ("spec", "ingress", 0, "destination", "ports", 1), "99:90", "…ports[1]"),
    (CALICO, ("spec", "ingress", 0, "destination", "ports", 0), 70000, "…ports[0]"),
    (CALICO, ("spec", "ingress", 0, "icmp", "type"), 255, "spec.ingress[0].icmp.type"),
    (CALICO, ("spec", "ingress", 0, "ipVersion"), 5, "spec.ingress[0].ipVersion"),
    (CALICO, ("spec", "order"), 10**400, "spec.order"),
    (CALICO, ("spec", "types"), ["Ingress", "Inbound"], "spec.types[1]"),
    (CALICO, ("spec", "selector"), {"app": "api"}, "spec.selector"),
    (TIER, ("spec", "defaultAction"), "Allow", "spec.defaultAction"),
    (TIER, ("spec", "order"), "first", "spec.order"),
]


def _changed(obj: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    if value is _REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


def _load(obj: dict[str, Any]) -> Any:
    return build_snapshot([(obj, Origin("policies.yaml", 1, 3))])


@pytest.mark.parametrize("obj", [ANP, BANP, CNP, CILIUM, CALICO, TIER], ids=lambda o: o["kind"])
def test_valid_objects_pass_and_are_kept(obj: dict[str, Any]) -> None:
    snap = _load(obj)
    assert [p.message for p in snap.problems if p.id == "policy-invalid"] == []
    assert [x.ref.name for x in snap.extended] == [obj["metadata"]["name"]]


@pytest.mark.parametrize(
    ("obj", "path", "value", "field"),
    CASES,
    ids=[f"{o['kind']}:{f}={v!r}"[:80] for o, _, v, f in CASES],
)
def test_schema_violation_names_the_field_and_drops_the_object(
    obj: dict[str, Any], path: tuple[str | int, ...], value: object, field: str
) -> None:
    changed = _changed(obj, path, value)
    snap = _load(changed)
    problems = [p for p in snap.problems if p.id == "policy-invalid"]
    fields = [p.field or "" for p in problems]
    assert any(f == field or (field.startswith("…") and f.endswith(field[1:])) for f in fields), (
        field,
        [(p.field, p.message) for p in problems],
    )
    assert snap.extended == []  # never stored by the API server: it does nothing
    p = problems[0]
    assert p.objects[0].name == changed["metadata"]["name"] and p.objects[0].line == 3
    assert "never exists in a cluster" in p.message


def test_unknown_kinds_and_groups_are_not_judged() -> None:
    antrea = {"spec": {"ingress": True}}
    assert validate_extended("crd.antrea.io", "NetworkPolicy", antrea) == []
