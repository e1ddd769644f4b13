"""Findings: the one structured type for input problems, lint results and diagnoses.

Finding ids are a public contract (users grep and suppress them); every id in
`CATALOG` has a page `docs/findings/<id>.md`. Imports only `model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .model import ObjectRef

__all__ = ["CATALOG", "UNREAD_INPUT", "Finding", "Fix", "Severity", "unread_input"]


class Severity(Enum):
    ERROR = "error"  # decides the verdict, or input that cannot be used
    WARNING = "warning"  # likely wrong, or makes a verdict uncertain
    INFO = "info"  # context that helps read the answer

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Fix:
    """A change printed for the user, never applied."""

    summary: str
    snippet: str | None = None  # YAML or a kubectl command
    caution: str | None = None  # what else the fix would open


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    severity: Severity
    message: str
    objects: tuple[ObjectRef, ...] = ()
    field: str | None = None  # field path inside the first object, e.g. spec.ingress[0]
    fix: Fix | None = None


#: id -> one-line summary. Keep in sync with docs/findings/ (a test checks).
CATALOG: dict[str, str] = {
    # input problems
    "input-unreadable": "A path given with --snapshot could not be read.",
    "input-malformed": "A file is not valid YAML or JSON; its other documents are still read.",
    "input-invalid": "An object has a field of the wrong type or an impossible value.",
    "input-duplicate": "The same object appears more than once in the input; the last one wins.",
    "input-duplicate-key": "A YAML mapping gives the same key twice; the last value is used.",
    "namespace-missing": "Objects refer to a namespace that is not in the input.",
    "policy-invalid": "A NetworkPolicy the API server would reject: it does nothing in a cluster.",
    "policy-warning": "A NetworkPolicy the API server admits with a warning.",
    # what decides the verdict
    "ingress-not-allowed": "The destination is ingress-isolated and no rule admits the traffic.",
    "egress-not-allowed": "The source is egress-isolated and no rule admits the traffic.",
    "namespace-label-mismatch": "A namespaceSelector would admit the peer given a namespace label.",
    "pod-selector-scope": "A podSelector-only peer matches a pod of another namespace: never.",
    "pod-label-mismatch": "A podSelector would admit the peer if the pod had a label.",
    "peer-and-or-confusion": "One peer (AND) vs two list items (OR) decides this flow.",
    "named-port-unresolved": "A rule's named port does not resolve on the destination pod.",
    "port-mismatch": "The peer matches but no port or protocol of the rule does.",
    "ipblock-except": "The address is in an except range of an otherwise matching ipBlock.",
    "port-unresolved": "The asked port does not exist on the destination.",
    "service-no-endpoints": "The Service selects no pod: nothing answers, whatever the policy.",
    "cni-no-enforcement": "The network plugin does not enforce NetworkPolicy at all.",
    "symptom-refused": "'Connection refused' is not what a policy drop looks like.",
    "symptom-nxdomain": "NXDOMAIN is a DNS answer: the name is wrong, DNS is reachable.",
    # what qualifies it
    "dns-egress-missing": "An egress-isolated pod cannot reach the cluster DNS on UDP or TCP 53.",
    "apiserver-egress-missing": "An egress-isolated pod cannot reach the API server endpoints.",
    "icmp-undefined": "ICMP is undefined under NetworkPolicy; plugins differ.",
    "namespace-labels-unknown": "A decision needs labels of a namespace that is not in the input.",
    "ipblock-pod-ip": "Only an ipBlock could match a pod IP: fragile and CNI-dependent.",
    "own-node-egress": "Egress to the pod's own node is implementation-defined.",
    "extended-policies-present": "Policies of other kinds exist that can decide this traffic.",
    "admin-policy-decided": "An admin-tier policy decides this traffic before NetworkPolicy.",
    "cni-policy-decided": "A Cilium or Calico policy rule decides this traffic.",
    "cilium-l7-decides": "Cilium L7 rules decide request by request; which requests pass.",
    "cilium-l7-shadowed": "An L4 allow makes another rule's Cilium L7 rules ineffective.",
    "policy-not-enforced": "Policies of a kind the network plugin does not implement: no effect.",
    "reads-forbidden": "Part of the cluster could not be read; what depends on it is unknown.",
    # the setup
    "policy-types-implicit": "policyTypes omitted: which directions the policy controls, and why.",
    "policy-types-egress-ignored": "Egress rules that do nothing: policyTypes lacks Egress.",
    "policy-types-ingress-ignored": "Ingress rules that do nothing: policyTypes lacks Ingress.",
    "nodeport-snat": "Through a NodePort/LoadBalancer (Cluster policy) the client is a node IP.",
    "cni-unknown": "The network plugin, or whether it enforces policy, cannot be told.",
    "cni-unhealthy": "Network plugin agents restart, crash-loop or are not ready.",
    "policy-denied-event": "An Event records a policy denial involving these pods.",
    "aws-vpc-cni-port-limit": "More port entries than the AWS VPC CNI policy agent supports.",
    # evidence from the data plane (flows, probe): what was observed vs. the verdict
    "observed-drop-policy-allows": "The data plane dropped traffic that the policies allow.",
    "observed-allow-policy-denies": "The data plane let through traffic that the policies deny.",
    "observed-policy-not-in-input": "A flow log names a policy that the input does not have.",
    # context
    "not-isolated": "No policy selects the pod in that direction: policy does not block it there.",
    "default-deny-ingress": "A namespace-wide default deny isolates the pod for ingress.",
    "default-deny-egress": "A namespace-wide default deny isolates the pod for egress.",
    "host-network": "A hostNetwork pod is not selected by NetworkPolicy; it acts as its node.",
    "secondary-network": "Multus secondary interfaces are not covered by NetworkPolicy.",
    "service-mesh-present": "A service mesh can also reject this traffic at L7.",
    "self-traffic": "A pod talking to itself: NetworkPolicy does not block it.",
    "template-pod": "The answer is about a pod template: no live Pod of it is in the input.",
}

#: input problems that mean part of the input was not read at all: an answer that
#: depends on it cannot be trusted either way ("no change", "the contract holds")
UNREAD_INPUT = frozenset({"input-unreadable", "input-malformed", "input-invalid"})


def unread_input(problems: list[Finding]) -> bool:
    return any(p.id in UNREAD_INPUT and p.severity is Severity.ERROR for p in problems)
