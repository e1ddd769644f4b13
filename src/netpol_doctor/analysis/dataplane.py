"""When the data plane, not the policies, decides: traffic on a Multus secondary
interface (NP-98, seed 000 "GPU clusters"), and the AWS VPC CNI agent's port-entry
limit (CNI-10). Findings only; `diagnose` decides the verdict with them.

Imports `model`, `findings`, `engine`, `snapshot`, `inputs.multus`, `policy.aws_limits`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..engine import Decision, EndpointKind
from ..explain import port_runs
from ..findings import Finding, Fix, Severity
from ..inputs.multus import Attachment, secondary_attachments
from ..model import IPAddress, Pod, Protocol
from ..policy.aws_limits import ENTRY_LIMIT, Entry, overflows
from ..snapshot import Snapshot

__all__ = [
    "SecondaryAddress",
    "aws_overflow_findings",
    "collapse_ports",
    "secondary_address",
    "secondary_address_finding",
    "shared_network_findings",
]

#: the seed's advice (000, "GPU clusters"): where to look instead of NetworkPolicy
ADVICE = (
    "investigate the secondary network itself: its IPAM (addresses and subnet on both "
    "pods), the routes inside the pods, the SR-IOV/RDMA device and its device plugin, "
    "and the MTU, not NetworkPolicy"
)


@dataclass(frozen=True, slots=True)
class SecondaryAddress:
    """An address asked about that belongs to a pod's secondary interface."""

    ip: IPAddress
    pod: Pod
    attachment: Attachment

    @property
    def label(self) -> str:
        return f"{self.pod.key} {self.attachment.label} ({self.ip})"


def _index(snapshot: Snapshot) -> dict[IPAddress, tuple[Pod, Attachment]]:
    key = ("multus-secondary-index",)
    found = snapshot.memo.get(key)
    if found is None:
        found = {}
        for pod in snapshot.pods:
            if pod.host_network or pod.finished or pod.is_template:
                continue
            for att in secondary_attachments(pod):
                for ip in att.ips:
                    found.setdefault(ip, (pod, att))
        snapshot.memo[key] = found
    return dict(found)


def secondary_address(snapshot: Snapshot, ip: IPAddress) -> SecondaryAddress | None:
    """The pod and interface owning `ip` on a secondary network; None for a pod's
    primary address, a node's, or one no Multus annotation names."""
    if ip in snapshot.pods_by_ip or ip in snapshot.node_by_ip:
        return None
    hit = _index(snapshot).get(ip)
    return SecondaryAddress(ip, *hit) if hit else None


def on_network(pod: Pod | None, network: str) -> Attachment | None:
    if pod is None:
        return None
    return next((a for a in secondary_attachments(pod) if a.network == network), None)


def secondary_address_finding(
    asked: SecondaryAddress, other: Pod | None, role: str, port: int, protocol: Protocol
) -> Finding:
    """The deciding finding for a question about a secondary address. `role` is the
    asked address's role (destination or source); `other` the pod at the other end."""
    att = asked.attachment
    where = f"{asked.ip} is {asked.pod.key}'s {att.label} address on Multus network {att.network}"
    source = "k8s.v1.cni.cncf.io/" + ("networks request" if att.requested else "network-status")
    shared = on_network(other, att.network)
    if shared is not None and other is not None:
        mine = ", ".join(str(ip) for ip in shared.ips) or "address not in the annotations"
        msg = (
            f"{where} (from {source}); {other.key} is on that network too ({shared.label}, "
            f"{mine}), so this {protocol.value} {port} traffic goes between secondary "
            "interfaces, which NetworkPolicy does not filter: policy is not the cause. "
            f"If it fails, {ADVICE}"
        )
        return Finding("secondary-network", Severity.WARNING, msg, (asked.pod.ref, other.ref))
    who = (
        other.key
        if other is not None
        else ("the source" if role == "destination" else "the destination")
    )
    path = (
        "the packet goes out through its primary interface, where NetworkPolicy applies "
        "to it as an outside address, and reaches the secondary network only if something "
        "routes it there"
        if role == "destination"
        else "the packet can only arrive on its primary interface, where NetworkPolicy "
        "applies to it as an outside address, and only if something routes it there"
    )
    msg = (
        f"{where} (from {source}); {who} has no interface on that network, so {path}: "
        f"whether it arrives cannot be told from the input. Otherwise, {ADVICE}"
    )
    refs = (asked.pod.ref,) + ((other.ref,) if other is not None else ())
    return Finding("secondary-network", Severity.WARNING, msg, refs)


def shared_network_findings(decisions: Iterable[Decision]) -> list[Finding]:
    """Pod-to-pod on the primary interface, where both pods also share a secondary
    network: say which interface the answer is about, and how to ask about the other."""
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for d in decisions:
        src, dst = d.source.pod, d.destination.pod
        if src is None or dst is None or d.source.kind is not EndpointKind.POD:
            continue
        if d.destination.kind is not EndpointKind.POD or (src.key, dst.key) in seen:
            continue
        seen.add((src.key, dst.key))
        for theirs in secondary_attachments(dst):
            mine = on_network(src, theirs.network)
            if mine is None:
                continue
            src_ip = d.source.ips[0] if d.source.ips else "no IP"
            dst_ip = d.destination.ips[0] if d.destination.ips else "no IP"
            ask = (
                f"; to ask about it: netpol-doctor diagnose {src.key} ip/{theirs.ips[0]} "
                f"--port {d.port}"
                if theirs.ips
                else ""
            )
            out.append(
                Finding(
                    "secondary-network",
                    Severity.INFO,
                    f"this answer is about the primary (cluster) interface, {src.key} "
                    f"{src_ip} -> {dst.key} {dst_ip}, where NetworkPolicy applies. Both pods "
                    f"are also on Multus network {theirs.network} ({src.key} "
                    f"{_where(mine)}, {dst.key} {_where(theirs)}): traffic between those "
                    f"addresses is not filtered by NetworkPolicy{ask}",
                    (src.ref, dst.ref),
                )
            )
    return out


def _where(a: Attachment) -> str:
    ips = ", ".join(str(ip) for ip in a.ips)
    return f"{a.label} {ips}" if ips else a.label


# --- AWS VPC CNI ----------------------------------------------------------------------


def _entry_text(e: Entry) -> str:
    proto, port, end = e
    if proto is None:
        return "all ports and protocols"
    if port is None:
        return f"all {proto.value} ports"
    if isinstance(port, str):
        return f"{proto.value} port named {port}"
    return f"{proto.value} {port}-{end}" if end is not None else f"{proto.value} {port}"


def collapse_ports(entries: Iterable[Entry]) -> str:
    """'TCP 8000-8029 (30 ports), UDP 53': runs of single numbered ports become ranges."""
    singles: list[tuple[Protocol, int]] = []
    other: list[str] = []
    for e in entries:
        proto, port, end = e
        if proto is not None and isinstance(port, int) and end is None:
            singles.append((proto, port))
        else:
            other.append(_entry_text(e))
    return ", ".join(port_runs(sorted(set(singles), key=lambda x: (x[0].value, x[1]))) + other)


def aws_overflow_findings(decisions: Iterable[Decision]) -> list[Finding]:
    """CNI-10 for this flow: the entries the agent holds for the other end's address."""
    out: list[Finding] = []
    for d in decisions:
        for o in overflows(d):
            other = d.source if o.direction.value == "Ingress" else d.destination
            word = o.direction.value.lower()
            names = ", ".join(p.ref.key for p in o.policies)
            n = len(o.entries)
            out.append(
                Finding(
                    "aws-vpc-cni-port-limit",
                    Severity.WARNING,
                    f"the AWS VPC CNI policy agent keeps at most {ENTRY_LIMIT} port entries "
                    f"per peer address, and {names} give {other.label} {n} {word} entries, "
                    f"{collapse_ports(o.entries)}: {n - ENTRY_LIMIT} are dropped, and "
                    "which ones varies (the agent rebuilds the list in random order), so "
                    f"whether {d.protocol.value} {d.port} is enforced as allowed cannot be "
                    "told: the policies admit it, the agent may not",
                    tuple(p.ref for p in o.policies),
                    f"spec.{o.direction.rules_field}",
                    Fix(
                        f"merge consecutive ports into endPort ranges (e.g. `port: 8000, "
                        f"endPort: 8029` is one entry) so that {other.label} needs at most "
                        f"{ENTRY_LIMIT} entries, or drop ports nobody uses"
                    ),
                )
            )
    return out
