"""Which network plugin enforces policy, from the DaemonSets and pods in the input
(SEMANTICS.md §6), and the implementation-defined behaviour that follows from it.
Imports `model`, `selectors`, `snapshot`, `engine`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .engine import Semantics
from .findings import Finding, Fix, Severity
from .model import Direction, NetworkPolicy, ObjectRef, Protocol
from .selectors import Tri
from .snapshot import Snapshot

__all__ = [
    "AWS_PORT_LIMIT",
    "KNOWN_CNIS",
    "CniInfo",
    "aws_port_limit_findings",
    "detect_cni",
    "semantics_for",
]

#: CNI-10: the AWS VPC CNI policy agent's unique ports per protocol per section
AWS_PORT_LIMIT = 24


@dataclass(frozen=True, slots=True)
class CniProfile:
    name: str
    enforces: Tri  # does it enforce networking.k8s.io/v1 NetworkPolicy at all
    ipblock_pod_ips: Tri  # NP-51
    ipblock_node_ips: Tri  # NP-92 / CIL-31
    #: name prefixes of the agent DaemonSet or its pods
    agents: tuple[str, ...]


# Order matters: the policy engine wins over the IPAM/routing plugin (CNI-20), so
# enforcing engines are listed first and the first hit is the enforcer.
KNOWN_CNIS: tuple[CniProfile, ...] = (
    CniProfile("cilium", Tri.YES, Tri.NO, Tri.NO, ("cilium",)),
    CniProfile("gke-dataplane-v2", Tri.YES, Tri.NO, Tri.NO, ("anetd",)),
    CniProfile("canal", Tri.YES, Tri.YES, Tri.YES, ("canal",)),
    CniProfile("calico", Tri.YES, Tri.YES, Tri.YES, ("calico-node",)),
    CniProfile("antrea", Tri.YES, Tri.YES, Tri.YES, ("antrea-agent",)),
    CniProfile("weave", Tri.YES, Tri.YES, Tri.YES, ("weave-net",)),
    CniProfile("kube-router", Tri.YES, Tri.YES, Tri.YES, ("kube-router",)),
    CniProfile("azure-npm", Tri.YES, Tri.YES, Tri.YES, ("azure-npm",)),
    CniProfile("kube-network-policies", Tri.YES, Tri.YES, Tri.YES, ("kube-network-policies",)),
    # Enforces only with --enable-network-policy=true on its node agent (CNI-7).
    CniProfile("aws-vpc-cni", Tri.UNKNOWN, Tri.YES, Tri.YES, ("aws-node",)),
    CniProfile("flannel", Tri.NO, Tri.UNKNOWN, Tri.UNKNOWN, ("kube-flannel", "flannel")),
)


_ALL_AGENTS = tuple(prefix for profile in KNOWN_CNIS for prefix in profile.agents)


@dataclass(frozen=True, slots=True)
class CniInfo:
    profile: CniProfile | None
    evidence: tuple[ObjectRef, ...] = ()
    forced: bool = False  # given with --cni, not detected

    @property
    def name(self) -> str | None:
        return self.profile.name if self.profile else None

    @property
    def enforces_policy(self) -> bool:
        """False only on a plugin known to enforce no NetworkPolicy (Flannel alone):
        there traffic flows whatever the policies say."""
        return self.profile is None or self.profile.enforces is not Tri.NO


def detect_cni(snapshot: Snapshot) -> CniInfo:
    """First enforcing agent found among DaemonSets, then among pods (any namespace)."""
    # One pass keeps only names of any agent (100,000 pods: the name test comes
    # first, it is the cheap one); each profile then looks at those few.
    names: list[tuple[str, ObjectRef]] = [
        (w.ref.name, w.ref)
        for w in snapshot.workloads
        if w.ref.kind == "DaemonSet" and w.ref.name.startswith(_ALL_AGENTS)
    ]
    for p in snapshot.pods:
        name = p.owner[1] if p.owner else p.ref.name
        if name.startswith(_ALL_AGENTS) and p.template_of is None:
            names.append((name, p.ref))
    for profile in KNOWN_CNIS:
        hits = tuple(ref for name, ref in names if name.startswith(profile.agents))
        if hits:
            if profile.name == "aws-vpc-cni" and _aws_policy_agent_enabled(snapshot):
                profile = CniProfile("aws-vpc-cni", Tri.YES, Tri.YES, Tri.YES, profile.agents)
            return CniInfo(profile, hits[:3])
    return CniInfo(None)


def _aws_policy_agent_enabled(snapshot: Snapshot) -> bool:
    return any(
        w.ref.name == "aws-node" and "--enable-network-policy=true" in w.container_args
        for w in snapshot.workloads
    )


def profile_named(name: str) -> CniProfile | None:
    return next((p for p in KNOWN_CNIS if p.name == name), None)


def semantics_for(info: CniInfo) -> Semantics:
    if info.profile is None:
        return Semantics()
    return Semantics(info.profile.ipblock_pod_ips, info.profile.ipblock_node_ips, info.profile.name)


def aws_port_limit_findings(policies: Iterable[NetworkPolicy]) -> list[Finding]:
    """CNI-10: more unique port entries per protocol in one ingress or egress section
    than the AWS VPC CNI policy agent handles; it drops the rest silently."""
    out: list[Finding] = []
    for p in policies:
        for d in Direction:
            per_proto: dict[Protocol, set[tuple[int | str | None, int | None]]] = defaultdict(set)
            for rule in p.rules(d):
                for q in rule.ports:
                    per_proto[q.protocol].add((q.port, q.end_port))
            for proto, combos in sorted(per_proto.items(), key=lambda kv: kv[0].value):
                if len(combos) <= AWS_PORT_LIMIT:
                    continue
                out.append(
                    Finding(
                        "aws-vpc-cni-port-limit",
                        Severity.WARNING,
                        f"NetworkPolicy {p.ref.key} lists {len(combos)} unique {proto.value} "
                        f"ports for {d.value.lower()}; the AWS VPC CNI policy agent handles "
                        f"at most {AWS_PORT_LIMIT} per protocol per section and drops the rest",
                        (p.ref,),
                        f"spec.{d.rules_field}",
                        Fix("merge consecutive ports into endPort ranges, or split the policy"),
                    )
                )
    return out
