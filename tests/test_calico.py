"""Calico NetworkPolicy / GlobalNetworkPolicy (SEMANTICS.md §5, CAL-*), one side of a flow.

Sources of the expected verdicts:
- [DOC-GS] tigera/docs `calico/network-policy/get-started/calico-policy/calico-network-policy.mdx`
- [DOC-NS] tigera/docs `calico/network-policy/policy-rules/namespace-policy.mdx`
- [DOC-SA] tigera/docs `calico/network-policy/policy-rules/service-accounts.mdx`
- [DOC-TIERS] tigera/docs `calico/network-policy/policy-tiers/tiered-policy.mdx`
- [DOC-NP] tigera/docs `calico/reference/resources/networkpolicy.mdx` (sample, `types` table)
- [DOC-TIER] tigera/docs `calico/reference/resources/tier.mdx` (end of tier drop, defaultAction)
- [DOC-ENTITY] tigera/docs `calico/_includes/content/_entityrule.mdx` (notSelector, scopes)
- [CAL-CONV] projectcalico/calico `libcalico-go/lib/backend/k8s/conversion/conversion.go`
  (Kubernetes NPs at order 1000 in tier default)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from builders import namespace, node, pod, policy, snapshot_of
from netpol_doctor import calico
from netpol_doctor.engine import Endpoint, EndpointKind, Semantics, evaluate
from netpol_doctor.extended import Action, FamilyVerdict, FlowSide
from netpol_doctor.model import Direction, ObjectRef, Protocol
from netpol_doctor.parse import ExtendedObject
from netpol_doctor.selectors import Tri
from netpol_doctor.targets import endpoint_for_ip, endpoint_for_pod

IN, OUT = Direction.INGRESS, Direction.EGRESS
ALLOW, DENY, PASS, NONE = Action.ALLOW, Action.DENY, Action.PASS, Action.NONE
Obj = dict[str, Any]


def cnp(key: str, spec: Obj) -> Obj:
    ns, name = key.split("/")
    meta = {"name": name, "namespace": ns}
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def gnp(name: str, spec: Obj, group: str = "projectcalico.org/v3") -> Obj:
    return {
        "apiVersion": group,
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def tier(name: str, order: float | None, default_action: str | None = None) -> ExtendedObject:
    """parse.py does not keep Tier objects yet: hand them to compile directly."""
    spec: Obj = {} if order is None else {"order": order}
    if default_action:
        spec["defaultAction"] = default_action
    raw = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": name}}
    return ExtendedObject(ObjectRef("Tier", None, name), "projectcalico.org", {**raw, "spec": spec})


def with_sa(obj: Obj, sa: str) -> Obj:
    obj["spec"]["serviceAccountName"] = sa
    return obj


BASE: list[Obj] = [
    namespace("production"),
    namespace("other"),
    namespace("circle", shape="circle"),
    namespace("square", shape="square"),
    namespace("dev", environment="development"),
    namespace("prod-engineering"),
    pod("production/red", "10.0.0.1", color="red", role="database", ports=["redis:6379/TCP"]),
    pod("production/blue", "10.0.0.2", color="blue", role="frontend"),
    pod("production/green", "10.0.0.3", color="green"),
    pod("other/blue", "10.0.1.2", color="blue"),
    pod("circle/blue", "10.0.2.2", color="blue"),
    pod("square/blue", "10.0.3.2", color="blue"),
    pod("dev/a", "10.0.4.1", app="a"),
    pod("dev/b", "10.0.4.2", app="b"),
    with_sa(pod("prod-engineering/db", "10.0.5.1", app="db"), "db"),
    with_sa(pod("prod-engineering/api", "10.0.5.2", app="api"), "api-service"),
    pod("prod-engineering/web", "10.0.5.3", app="web"),
    with_sa(pod("other/api", "10.0.1.5", app="api"), "api-service"),
    pod("production/stage", "10.0.0.7", env="stage"),
    pod("production/stage2", "10.0.0.8", env="stage"),
    pod("production/team-a", "10.0.0.9", team="a"),
    pod("kube-system/agent", "172.18.0.2", host_network=True, app="agent"),
]


@dataclass(frozen=True)
class Group:
    """Policies (plus Tier objects) and questions `"SRC > DST PORT[/PROTO] in|out: ACTION[?]"`;
    a trailing `?` means certainty UNKNOWN. SRC/DST are pod keys or `ip/ADDRESS`."""

    name: str
    objects: list[Obj]
    questions: list[str]
    tiers: tuple[ExtendedObject, ...] = field(default=())


def _endpoint(snap: Any, name: str) -> Endpoint:
    if name.startswith("ip/"):
        return endpoint_for_ip(snap, ip_address(name[3:]))
    return endpoint_for_pod(snap, snap.pods_by_key[name])


def side(tmp: Path, group: Group, question: str) -> FamilyVerdict:
    flow = question.split(":")[0]
    src_key, _, dst_key, port_proto, way = flow.split()
    port, _, proto = port_proto.partition("/")
    protocol, direction = Protocol(proto or "TCP"), IN if way == "in" else OUT
    snap = snapshot_of(tmp, BASE + group.objects)
    policies, problems = calico.compile([*snap.extended, *group.tiers])
    assert problems == []
    src, dst = _endpoint(snap, src_key), _endpoint(snap, dst_key)
    sem = Semantics(ipblock_matches_pod_ips=Tri.YES, cni="calico")
    decision = evaluate(snap, src, dst, protocol, int(port), sem)
    subject, other = (dst, src) if direction is IN else (src, dst)
    np = decision.ingress if direction is IN else decision.egress
    ctx = FlowSide(snap, direction, subject, other, protocol, int(port), sem, tuple(policies), np)
    return calico.direction(ctx)


def _cases(groups: list[Group]) -> list[Any]:
    return [pytest.param(g, q, id=f"{g.name}: {q}") for g in groups for q in g.questions]


def _check(verdict: FamilyVerdict, question: str) -> None:
    expected = question.split(":")[1].strip()
    action, certainty = Action(expected.rstrip("?")), Tri.UNKNOWN if "?" in expected else Tri.YES
    assert (verdict.action, verdict.certainty) == (action, certainty), verdict
    assert (verdict.unknown_reason is None) == (certainty is Tri.YES)
    if action is not NONE:
        assert verdict.steps and all(
            "tier " in s.reason or "NP-9" in s.reason for s in verdict.steps
        )


# --- documented examples -----------------------------------------------------------------

ALLOW_6379: Obj = {  # [DOC-GS] "Control traffic to/from endpoints in a namespace"
    "selector": "color == 'red'",
    "ingress": [
        {
            "action": "Allow",
            "protocol": "TCP",
            "source": {"selector": "color == 'blue'"},
            "destination": {"ports": [6379]},
        }
    ],
}
CIRCLE = {"selector": "color == 'blue'", "namespaceSelector": "shape == 'circle'"}
ALLOW_6379_CIRCLE = {**ALLOW_6379, "ingress": [{**ALLOW_6379["ingress"][0], "source": CIRCLE}]}
DENY_BLUE = {  # [DOC-GS] "Control traffic to/from endpoints independent of namespace"
    "selector": "color == 'red'",
    "ingress": [{"action": "Deny", "protocol": "TCP", "source": {"selector": "color == 'blue'"}}],
}
EGRESS_NETS = {  # [DOC-GS] "... using IP addresses or CIDR ranges"
    "selector": "color == 'red'",
    "types": ["Egress"],
    "egress": [{"action": "Deny", "destination": {"nets": ["1.2.3.0/24"]}}],
}
FRONTEND = {"selector": "role == 'frontend'"}
LOG_DENY = {  # [DOC-GS] "Generate logs for specific traffic"
    "selector": "role == 'database'",
    "types": ["Ingress", "Egress"],
    "ingress": [
        {"action": "Log", "protocol": "TCP", "source": FRONTEND},
        {"action": "Deny", "protocol": "TCP", "source": FRONTEND},
    ],
}
DEV = {"namespaceSelector": 'environment == "development"'}
DEV_ONLY = {  # [DOC-NS] restrict-development-access
    **DEV,
    "ingress": [{"action": "Allow", "source": DEV}],
    "egress": [{"action": "Allow", "destination": DEV}],
}
SA_NAMES = {  # [DOC-SA] demo-calico
    "selector": 'app == "db"',
    "ingress": [
        {"action": "Allow", "source": {"serviceAccounts": {"names": ["api-service", "user-auth"]}}}
    ],
}
SA_LABELS = {  # [DOC-SA] allow-web-frontend: ServiceAccount labels are not in the input
    "selector": 'app == "db"',
    "ingress": [
        {"action": "Allow", "source": {"serviceAccounts": {"selector": 'app == "web-frontend"'}}}
    ],
}
STAGE = {  # [DOC-TIERS] devops.stage-env (Pass example)
    "tier": "devops",
    "order": 255,
    "selector": 'env == "stage"',
    "ingress": [{"action": "Deny", "source": {"selector": 'env != "stage"'}}, {"action": "Pass"}],
    "egress": [
        {"action": "Deny", "destination": {"selector": 'env != "stage"'}},
        {"action": "Pass"},
    ],
    "types": ["Ingress", "Egress"],
}
SAMPLE = {  # [DOC-NP] sample YAML (rule metadata changes nothing)
    "selector": "role == 'database'",
    "types": ["Ingress", "Egress"],
    "ingress": [
        {
            "action": "Allow",
            "metadata": {"annotations": {"from": "frontend", "to": "database"}},
            "protocol": "TCP",
            "source": FRONTEND,
            "destination": {"ports": [6379]},
        }
    ],
    "egress": [{"action": "Allow"}],
}
DEVOPS_PASS = (tier("devops", 300, "Pass"),)  # [DOC-TIERS] "Pass default action tier example"
K8S_DENY_ALL = policy("production/deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]})

DOCS = [
    Group(
        "gs allow-tcp-6379",
        [cnp("production/allow-tcp-6379", ALLOW_6379)],
        [
            "production/blue > production/red 6379 in: allow",
            "production/blue > production/red 80 in: deny",  # end of tier (CAL-5)
            "production/blue > production/red 6379/UDP in: deny",
            "production/green > production/red 6379 in: deny",
            "other/blue > production/red 6379 in: deny",  # rule selector: own namespace (CAL-32)
            "production/red > production/blue 6379 in: none",  # not selected
        ],
    ),
    Group(
        "gs allow-tcp-6379 namespaceSelector",
        [cnp("production/allow-tcp-6379", ALLOW_6379_CIRCLE)],
        [
            "circle/blue > production/red 6379 in: allow",
            "square/blue > production/red 6379 in: deny",
            "production/blue > production/red 6379 in: deny",
        ],
    ),
    Group(
        "gs deny-blue",
        [gnp("deny-blue", DENY_BLUE)],
        [
            "other/blue > production/red 80 in: deny",
            "production/green > production/red 80 in: deny",  # the tier applies: end-of-tier deny
            "production/green > production/red 53/UDP in: deny",
        ],
    ),
    Group(
        "gs allow-egress-external",
        [cnp("production/allow-egress-external", EGRESS_NETS)],
        [
            "production/red > ip/1.2.3.4 443 out: deny",
            "production/red > ip/8.8.8.8 443 out: deny",  # end of tier
            "production/blue > ip/1.2.3.4 443 out: none",
        ],
    ),
    Group(
        "gs log then deny",
        [cnp("production/log-deny", LOG_DENY)],
        [
            "production/blue > production/red 6379 in: deny",
            "production/red > production/blue 80 out: deny",  # types has Egress, no egress rules
        ],
    ),
    Group(
        "ns restrict-development-access",
        [gnp("restrict-development-access", DEV_ONLY)],
        [
            "dev/a > dev/b 80 in: allow",
            "production/blue > dev/b 80 in: deny",
            "dev/a > production/blue 80 out: deny",
            "dev/a > production/blue 80 in: none",
        ],
    ),
    Group(
        "sa names",
        [cnp("prod-engineering/demo-calico", SA_NAMES)],
        [
            "prod-engineering/api > prod-engineering/db 80 in: allow",
            "prod-engineering/web > prod-engineering/db 80 in: deny",
            "other/api > prod-engineering/db 80 in: deny",  # own namespace only (CAL-32)
        ],
    ),
    Group(
        "sa labels",
        [cnp("prod-engineering/allow-web-frontend", SA_LABELS)],
        ["prod-engineering/web > prod-engineering/db 80 in: deny?"],
    ),
    Group(
        "tiers stage-env",
        [gnp("devops.stage-env", STAGE)],
        [
            "production/blue > production/stage 80 in: deny",  # env != 'stage' matches no env
            "production/stage2 > production/stage 80 in: none",  # Pass, nothing after
            "production/stage > production/blue 80 out: deny",
        ],
        DEVOPS_PASS,
    ),
    Group(
        "tiers stage-env then k8s",
        [gnp("devops.stage-env", STAGE), K8S_DENY_ALL],
        ["production/stage2 > production/stage 80 in: deny"],
        DEVOPS_PASS,
    ),
    Group(
        "np sample",
        [cnp("production/allow-tcp-6379", SAMPLE)],
        [
            "production/blue > production/red 6379 in: allow",
            "production/red > ip/8.8.8.8 443 out: allow",
        ],
    ),
]


@pytest.mark.parametrize(("group", "question"), _cases(DOCS))
def test_documented_examples(group: Group, question: str, tmp_path: Path) -> None:
    _check(side(tmp_path, group, question), question)


# --- order, tiers and the Kubernetes NetworkPolicies of the default tier -----------------

K8S_ALLOW_ALL = policy("production/allow-all", {"podSelector": {}, "ingress": [{}]})
K8S_EGRESS_ONLY = policy("production/egress-only", {"podSelector": {}, "egress": [{}]})
BLUE = {"selector": "color == 'blue'"}
DENY_FROM_BLUE = {"selector": "color == 'red'", "ingress": [{"action": "Deny", "source": BLUE}]}
ALLOW_FROM_BLUE = {"selector": "color == 'red'", "ingress": [{"action": "Allow", "source": BLUE}]}
PASS_ALL = {"selector": "color == 'red'", "ingress": [{"action": "Pass"}]}
SECURITY = (tier("security", 100),)
SECURITY_PASS = (tier("security", 100, "Pass"),)
BLUE_RED = "production/blue > production/red 80 in"
GREEN_RED = "production/green > production/red 80 in"


def ordered(spec: Obj, **extra: Any) -> Obj:
    return {**spec, **extra}


def in_tier(name: str, spec: Obj, tier_name: str = "security") -> Obj:
    return gnp(f"{tier_name}.{name}", {**spec, "tier": tier_name})


ORDER = [
    # CAL-41: below 1000 in the default tier runs before every Kubernetes NP; above, after
    Group(
        "order 100",
        [gnp("d", ordered(DENY_FROM_BLUE, order=100)), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: deny"],
    ),
    Group(
        "order 2000",
        [gnp("d", ordered(DENY_FROM_BLUE, order=2000)), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: allow"],
    ),
    Group("order unset", [gnp("d", DENY_FROM_BLUE), K8S_ALLOW_ALL], [f"{BLUE_RED}: allow"]),
    Group(
        "allow first",
        [gnp("a", ordered(ALLOW_FROM_BLUE, order=10)), K8S_DENY_ALL],
        [f"{BLUE_RED}: allow"],
    ),
    Group(
        "ns order 999",
        [cnp("production/d", ordered(DENY_FROM_BLUE, order=999)), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: deny"],
    ),
    # a Kubernetes default deny only makes the default tier apply: a later Allow still allows
    Group(
        "k8s deny then allow",
        [gnp("a", ordered(ALLOW_FROM_BLUE, order=2000)), K8S_DENY_ALL],
        [f"{BLUE_RED}: allow"],
    ),
    Group(
        "k8s deny-all",
        [K8S_DENY_ALL],
        [f"{BLUE_RED}: deny", "production/red > production/blue 80 out: none"],
    ),
    Group(
        "earlier tier deny",
        [in_tier("d", DENY_FROM_BLUE), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: deny"],
        SECURITY,
    ),
    Group(
        "earlier tier allow",
        [in_tier("a", ALLOW_FROM_BLUE), K8S_DENY_ALL],
        [f"{BLUE_RED}: allow"],
        SECURITY,
    ),
    Group(
        "pass, np allows", [in_tier("p", PASS_ALL), K8S_ALLOW_ALL], [f"{BLUE_RED}: allow"], SECURITY
    ),
    Group(
        "pass, np denies", [in_tier("p", PASS_ALL), K8S_DENY_ALL], [f"{BLUE_RED}: deny"], SECURITY
    ),
    Group("pass, nothing after", [in_tier("p", PASS_ALL)], [f"{BLUE_RED}: none"], SECURITY),
    Group(
        "end-of-tier deny",
        [in_tier("a", ALLOW_FROM_BLUE), K8S_ALLOW_ALL],
        [f"{GREEN_RED}: deny"],
        SECURITY,
    ),
    Group(
        "defaultAction Pass",
        [in_tier("a", ALLOW_FROM_BLUE), K8S_ALLOW_ALL],
        [f"{GREEN_RED}: allow"],
        SECURITY_PASS,
    ),
    Group(
        "tier after default",
        [in_tier("d", DENY_FROM_BLUE, "late"), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: allow"],
        (tier("late", 2_000_000),),
    ),
    Group(
        "tier not selecting is skipped",
        [in_tier("d", {"selector": "color == 'green'"}), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: allow"],
        SECURITY,
    ),
    # no Tier object: place and defaultAction unknown, only a unanimous answer is certain
    Group(
        "tier unknown, disagree",
        [in_tier("a", ALLOW_FROM_BLUE), K8S_DENY_ALL],
        [f"{BLUE_RED}: deny?"],
    ),
    Group(
        "tier unknown, agree", [in_tier("d", DENY_FROM_BLUE), K8S_DENY_ALL], [f"{BLUE_RED}: deny"]
    ),
    Group(
        "crd storage name gives the tier",
        [gnp("security.d", DENY_FROM_BLUE, "crd.projectcalico.org/v1"), K8S_ALLOW_ALL],
        [f"{BLUE_RED}: deny"],
        SECURITY,
    ),
]

# --- types defaulting, nets, ports, selectors, scopes ------------------------------------

RED = "color == 'red'"
ALLOW_ALL: list[Obj] = [{"action": "Allow"}]
NOT_NETS = [{"action": "Allow", "destination": {"notNets": ["10.0.0.0/8"]}}]
NOT_PORTS = [{"action": "Allow", "protocol": "TCP", "destination": {"notPorts": [22]}}]
RANGE = [{"action": "Allow", "protocol": "TCP", "destination": {"ports": ["8000:9000", "redis"]}}]
NAMED = [{"action": "Allow", "destination": {"ports": ["redis"]}}]
NOT_EQUAL: list[Obj] = [{"action": "Deny", "source": {"selector": "team != 'a'"}}, *ALLOW_ALL]
NOT_GREEN = [{"action": "Allow", "source": {"notSelector": "color == 'green'"}}]
ICMP = [{"action": "Allow", "protocol": "ICMP"}]
ICMP_TYPE = [{"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}}]
HTTP = [{"action": "Allow", "http": {"methods": ["GET"]}}]
UNKNOWN_FIELD: list[Obj] = [{"action": "Deny", "destination": {"domains": ["x"]}}, *ALLOW_ALL]
SERVICE = [{"action": "Allow", "destination": {"services": {"name": "x", "namespace": "y"}}}]
GNP_NS = {"namespaceSelector": "shape == 'circle'", "ingress": [{"action": "Deny"}]}


def red(direction: str, rules: list[Obj], name: str = "production/p") -> Obj:
    return cnp(name, {"selector": RED, direction: rules})


MATCHING = [
    # CAL-12: egress rules only -> types [Egress]; ingress stays open (Kubernetes: isolated)
    Group(
        "types egress only",
        [red("egress", ALLOW_ALL)],
        [f"{BLUE_RED}: none", "production/red > ip/8.8.8.8 443 out: allow"],
    ),
    Group("k8s egress only", [K8S_EGRESS_ONLY], [f"{BLUE_RED}: deny"]),
    Group(
        "types no rules",
        [cnp("production/n", {"selector": RED})],
        [f"{BLUE_RED}: deny", "production/red > production/blue 80 out: none"],
    ),
    Group(
        "notNets",
        [red("egress", NOT_NETS)],
        [
            "production/red > ip/8.8.8.8 443 out: allow",
            "production/red > ip/10.9.9.9 443 out: deny",
            "production/red > production/blue 443 out: deny",  # nets match pod IPs (CAL-35)
        ],
    ),
    Group(
        "notPorts",
        [red("ingress", NOT_PORTS)],
        [f"{BLUE_RED}: allow", "production/blue > production/red 22 in: deny"],
    ),
    Group(
        "ports",
        [red("ingress", RANGE)],
        [
            "production/blue > production/red 9000 in: allow",
            "production/blue > production/red 9001 in: deny",
            "production/blue > production/red 6379 in: allow",  # named port on the destination
        ],
    ),
    Group(
        "named port, no protocol",
        [red("ingress", NAMED)],
        [
            "production/blue > production/red 6379 in: allow",
            "production/blue > production/red 6379/UDP in: deny",
        ],
    ),
    Group(
        "!= on a missing label",
        [red("ingress", NOT_EQUAL)],
        [f"{BLUE_RED}: deny", "production/team-a > production/red 80 in: allow"],
    ),
    Group("namespaced scope", [cnp("other/n", {"selector": "all()"})], [f"{BLUE_RED}: none"]),
    Group(
        "notSelector in a namespaced policy",  # scoped to the policy's namespace
        [red("ingress", NOT_GREEN)],
        [
            "ip/8.8.8.8 > production/red 80 in: deny",
            f"{BLUE_RED}: allow",
            f"{GREEN_RED}: deny",
        ],
    ),
    Group(
        "notSelector in a GNP",  # CAL-33: anywhere, except
        [gnp("ns", {"selector": RED, "ingress": NOT_GREEN})],
        [
            "ip/8.8.8.8 > production/red 80 in: allow",
            "other/blue > production/red 80 in: allow",
            f"{GREEN_RED}: deny",
        ],
    ),
    Group(
        "GNP namespaceSelector",
        [gnp("circle", GNP_NS), pod("ghost/p", "10.0.9.9")],
        [
            "production/blue > circle/blue 80 in: deny",
            "production/blue > square/blue 80 in: none",
            "production/blue > ghost/p 80 in: none?",  # namespace ghost not in the input
        ],
    ),
    Group(
        "ICMP",
        [red("ingress", ICMP)],
        ["production/blue > production/red 0/ICMP in: allow", f"{BLUE_RED}: deny"],
    ),
    Group(
        "ICMP type",
        [red("ingress", ICMP_TYPE)],
        ["production/blue > production/red 0/ICMP in: deny?"],
    ),
    Group("http", [red("ingress", HTTP)], [f"{BLUE_RED}: deny?"]),
    Group("unknown field", [red("ingress", UNKNOWN_FIELD)], [f"{BLUE_RED}: allow?"]),
    Group("services", [red("egress", SERVICE)], ["production/red > ip/8.8.8.8 443 out: deny?"]),
    Group(
        "hostNetwork subject",
        [gnp("all", {"ingress": [{"action": "Deny"}]})],
        ["production/blue > kube-system/agent 80 in: none"],  # a host endpoint (CAL-13)
    ),
    Group(
        "staged kinds never enforce",
        [{**gnp("x", DENY_FROM_BLUE), "kind": "StagedGlobalNetworkPolicy"}],
        [f"{BLUE_RED}: none"],
    ),
    Group(
        "knp.default views",
        [cnp("production/knp.default.x", DENY_FROM_BLUE)],
        [f"{BLUE_RED}: none"],
    ),
]


@pytest.mark.parametrize(("group", "question"), _cases(ORDER + MATCHING))
def test_semantics(group: Group, question: str, tmp_path: Path) -> None:
    _check(side(tmp_path, group, question), question)


# --- compile: what Calico rejects, field by field ----------------------------------------


def ext(obj: Obj) -> ExtendedObject:
    meta = obj["metadata"]
    ref = ObjectRef(obj["kind"], meta.get("namespace"), meta["name"])
    return ExtendedObject(ref, obj["apiVersion"].split("/")[0], obj)


INVALID = [
    ({"selector": "color = 'red'"}, "spec.selector"),
    ({"ingress": [{"action": "Reject"}]}, "spec.ingress[0].action"),
    (
        {"ingress": [{"action": "Allow", "protocol": "ICMP", "destination": {"ports": [80]}}]},
        "spec.ingress[0].destination.ports",
    ),
    (
        {"ingress": [{"action": "Allow", "destination": {"ports": [80]}}]},
        "spec.ingress[0].destination.ports",
    ),
    (
        {
            "ingress": [
                {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["9000:8000"]}}
            ]
        },
        "spec.ingress[0].destination.ports[0]",
    ),
    ({"ingress": [{"action": "Allow", "protocol": "XTP"}]}, "spec.ingress[0].protocol"),
    (
        {"egress": [{"action": "Allow", "destination": {"nets": ["10.0.0.0/8", "fd00::/8"]}}]},
        "spec.egress[0]",
    ),
    (
        {"ingress": [{"action": "Allow", "source": {"nets": ["300.1.1.1/8"]}}]},
        "spec.ingress[0].source.nets",
    ),
    (
        {"ingress": [{"action": "Allow", "source": {"notNets": ["0.0.0.0/0"]}}]},
        "spec.ingress[0].source.notNets",
    ),
    (
        {"ingress": [{"action": "Allow", "source": {"selector": "global()"}}]},
        "spec.ingress[0].source.selector",
    ),
    (
        {"ingress": [{"action": "Allow", "destination": {"services": {"name": "x"}}}]},
        "spec.ingress[0]",
    ),
    ({"egress": [{"action": "Allow", "http": {"methods": ["GET"]}}]}, "spec.egress[0].http"),
    ({"types": ["Inbound"]}, "spec.types"),
    ({"order": "10"}, "spec.order"),
    ({"ingress": {"action": "Allow"}}, "spec.ingress"),
    ({"doNotTrack": True, "preDNAT": True, "applyOnForward": True}, "spec.preDNAT"),
]


@pytest.mark.parametrize(("spec", "path"), INVALID, ids=[p for _, p in INVALID])
def test_invalid_policy_is_reported_and_skipped(spec: Obj, path: str) -> None:
    policies, problems = calico.compile([ext(gnp("bad", spec)), ext(gnp("good", {}))])
    assert [p.ref.name for p in policies] == ["good"]
    assert [(f.id, f.field) for f in problems] == [("policy-invalid", path)]
    assert problems[0].objects[0].name == "bad"


def test_compile_defaults_and_tiers() -> None:
    objs = [
        ext(cnp("shop/a", {"egress": [{"action": "Allow"}]})),
        ext(gnp("security.b", {"tier": "security", "order": 5, "ingress": [{"action": "Pass"}]})),
        ext(
            gnp(
                "c", {"ingress": [{"action": "Allow", "source": {"namespaceSelector": "global()"}}]}
            )
        ),
        tier("security", 100),
        ExtendedObject(ObjectRef("CiliumNetworkPolicy", "shop", "x"), "cilium.io", {}),
    ]
    policies, problems = calico.compile(objs)
    assert problems == []
    a, b, c = policies
    assert (a.types, a.namespace, a.tier.order, a.sort_name) == (
        frozenset({OUT}),
        "shop",
        1e6,
        "shop/default.a",
    )
    assert (b.tier.name, b.tier.order, b.tier.known, b.order, b.sort_name) == (
        "security",
        100,
        True,
        5,
        "security.b",
    )
    assert (c.types, c.namespace, c.tier.default_action) == (
        frozenset({IN}),
        None,
        calico.RuleAction.DENY,
    )
    unknown = calico.compile([ext(gnp("d", {"tier": "nowhere"}))])[0][0].tier
    assert (unknown.order, unknown.known, unknown.default_action) == (
        None,
        False,
        calico.RuleAction.DENY,
    )


def test_bad_tier_object_is_reported() -> None:
    _, problems = calico.compile([tier("security", 100, "Allow")])
    assert [(f.id, f.field) for f in problems] == [("input-invalid", "spec.defaultAction")]


# --- explanation, exemptions, unknowns ----------------------------------------------------


def test_steps_name_tier_order_and_rule(tmp_path: Path) -> None:
    objs = [in_tier("d", ordered(DENY_FROM_BLUE, order=7)), K8S_ALLOW_ALL]
    verdict = side(tmp_path, Group("x", objs, [], SECURITY_PASS), f"{GREEN_RED}: allow")
    assert verdict.action is ALLOW
    rule, end, k8s = verdict.steps
    assert (rule.rule, rule.action, rule.matched) == ("spec.ingress[0]", DENY, Tri.NO)
    assert "tier security (order 100)" in rule.reason and "(order 7)" in rule.reason
    assert "does not match" in rule.reason
    assert (end.ref.kind, end.action, end.matched) == ("Tier", PASS, Tri.YES)
    assert (k8s.ref.name, k8s.action, k8s.matched) == ("allow-all", ALLOW, Tri.YES)
    assert "knp.default.allow-all" in k8s.reason and "order 1000" in k8s.reason


def test_end_of_tier_and_log_steps(tmp_path: Path) -> None:
    group = Group("x", [cnp("production/log-deny", LOG_DENY)], [])
    log, deny = side(tmp_path, group, f"{BLUE_RED}: deny").steps
    assert (log.action, log.matched, deny.action, deny.matched) == (NONE, Tri.YES, DENY, Tri.YES)
    *_, end = side(tmp_path, Group("x", [gnp("deny-blue", DENY_BLUE)], []), GREEN_RED).steps
    assert (end.ref.kind, end.rule, end.action) == ("Tier", None, DENY)
    assert "end of tier" in end.reason and "CAL-5" in end.reason


def test_unknown_reason_names_what_is_missing(tmp_path: Path) -> None:
    group = Group("x", [gnp("circle", GNP_NS), pod("ghost/p", "10.0.9.9")], [])
    verdict = side(tmp_path, group, "production/blue > ghost/p 80 in")
    assert verdict.unknown_reason is not None
    assert "namespace ghost is not in the input" in verdict.unknown_reason
    assert "possible outcomes: deny, none" in verdict.unknown_reason
    group = Group("y", [in_tier("a", ALLOW_FROM_BLUE), K8S_DENY_ALL], [])
    reason = side(tmp_path, group, BLUE_RED).unknown_reason
    assert reason is not None and "Tier security is not in the input" in reason


def test_own_node_and_self_are_not_policed(tmp_path: Path) -> None:
    snap = snapshot_of(
        tmp_path,
        [*BASE, node("node-1", "172.18.0.2"), gnp("deny", {"ingress": [{"action": "Deny"}]})],
    )
    policies, _ = calico.compile(snap.extended)
    red = endpoint_for_pod(snap, snap.pods_by_key["production/red"])
    host = Endpoint(EndpointKind.HOST, None, (ip_address("172.18.0.2"),), "node-1")
    for other in (host, red):
        decision = evaluate(snap, other, red, Protocol.TCP, 80)
        ctx = FlowSide(
            snap, IN, red, other, Protocol.TCP, 80, Semantics(), tuple(policies), decision.ingress
        )
        assert calico.direction(ctx).action is ALLOW
    other_node = Endpoint(EndpointKind.HOST, None, (ip_address("172.18.0.3"),), "node-2")
    decision = evaluate(snap, other_node, red, Protocol.TCP, 80)
    ctx = FlowSide(
        snap, IN, red, other_node, Protocol.TCP, 80, Semantics(), tuple(policies), decision.ingress
    )
    assert calico.direction(ctx).action is DENY


def test_unreadable_network_policies_make_default_tier_unknown(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, BASE)
    snap.unreadable.add(("networkpolicies", "production"))
    blue, red = (
        endpoint_for_pod(snap, snap.pods_by_key[k]) for k in ("production/blue", "production/red")
    )
    decision = evaluate(snap, blue, red, Protocol.TCP, 80)
    ctx = FlowSide(snap, IN, red, blue, Protocol.TCP, 80, Semantics(), (), decision.ingress)
    verdict = calico.direction(ctx)
    assert (verdict.action, verdict.certainty) == (NONE, Tri.UNKNOWN)
    assert verdict.unknown_reason is not None and "unreadable" in verdict.unknown_reason
