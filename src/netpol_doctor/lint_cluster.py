"""Lint rules that need the cluster around the policies: address ranges (pod and
Service CIDRs), DNS reachability asked of the engine, namespaces and hostNetwork
pods, and the limits of the detected network plugin. Each is documented in
docs/lint/<id>.md. Imports `model`, `selectors`, `findings`, `engine`, `targets`,
`context`, `fixes`, `lint_rules`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from ipaddress import ip_address

from .analysis.words import plural
from .cni import AWS_PORT_LIMIT, aws_port_limit_findings
from .context import dns_check, dns_pods
from .engine import selecting_policies
from .findings import Finding, Fix, Severity
from .fixes import to_yaml
from .lint_rules import LintContext, admits_any, all_peers, pods_text, subnet, where
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    NetworkPolicy,
    ObjectRef,
    Peer,
    Pod,
    Protocol,
    Rule,
)
from .selectors import Tri, in_ip_block
from .targets import endpoint_for_pod

__all__ = [
    "AWS_PORT_LIMIT",
    "aws_vpc_cni_port_limit",
    "dns_egress_missing",
    "host_network_under_default_deny",
    "ipblock_overlaps_pod_cidr",
    "ipblock_overlaps_service_cidr",
    "namespace_without_default_deny",
]

#: CNI-10: the AWS VPC CNI policy agent handles this many port combinations per protocol.
#: A block this small that covers a Service ClusterIP is aimed at Services (NP-63).
_SERVICE_BLOCK_MAX = 1 << 16
_SHOWN_CIDRS = 3


# --- ipBlock ranges ------------------------------------------------------------


def _ip_peers(ctx: LintContext) -> Iterator[tuple[NetworkPolicy, Rule, Peer, IPBlock, str]]:
    for p, rule, peer, path in all_peers(ctx):
        if peer.ip_block is not None:
            yield p, rule, peer, peer.ip_block, path


def ipblock_overlaps_pod_cidr(ctx: LintContext) -> Iterator[Finding]:
    """An ipBlock that admits pod addresses: whether ipBlock matches pod IPs is up to the
    plugin (NP-51: Calico yes, Cilium no). Warning when aimed inside a pod CIDR; info
    when a broad range (0.0.0.0/0) also covers the pods."""
    for p, rule, peer, block, path in _ip_peers(ctx):
        hits = [c for c in ctx.pod_cidrs if admits_any(block, c)]
        if not hits:
            continue
        cidrs = ("pod CIDR " if len(hits) == 1 else "pod CIDRs ") + ", ".join(
            str(c) for c in hits[:_SHOWN_CIDRS]
        )
        if len(hits) > _SHOWN_CIDRS:
            cidrs += f" and {len(hits) - _SHOWN_CIDRS} more"
        plugin = f" (the plugin here: {ctx.cni.name})" if ctx.cni.name else ""
        if any(subnet(block.cidr, c) for c in hits):
            yield Finding(
                "ipblock-overlaps-pod-cidr",
                Severity.WARNING,
                f"{where(p, rule, peer)}: ipBlock {block} is inside the {cidrs}: "
                "pod IPs change with every restart, and whether an ipBlock matches pod IPs "
                f"depends on the network plugin{plugin} (Calico: yes; Cilium: no)",
                (p.ref,),
                f"{path}.ipBlock",
                Fix("select those pods with a podSelector (and namespaceSelector) instead"),
            )
            continue
        excepts = [str(e) for e in block.excepts] + [str(c) for c in hits]
        yield Finding(
            "ipblock-overlaps-pod-cidr",
            Severity.INFO,
            f"{where(p, rule, peer)}: ipBlock {block} also covers the {cidrs}: on "
            "plugins that match pod IPs by ipBlock (Calico) it admits every pod there too, "
            f"on others (Cilium) none{plugin}",
            (p.ref,),
            f"{path}.ipBlock",
            Fix(
                "if only addresses outside the cluster are meant, except the pod CIDR",
                to_yaml({"ipBlock": {"cidr": str(block.cidr), "except": excepts}}),
            ),
        )


def ipblock_overlaps_service_cidr(ctx: LintContext) -> Iterator[Finding]:
    """An ipBlock aimed at Service IPs: policy sees the pod address after DNAT (NP-63),
    so it never matches a ClusterIP. Needs --service-cidr, or a ClusterIP of a Service in
    the input inside a small block."""
    cluster_ips = []
    for svc in ctx.snapshot.services.values():
        for text in svc.cluster_ips:
            try:
                cluster_ips.append((ip_address(text), svc.ref))
            except ValueError:
                continue  # "None": a headless Service
    for p, rule, peer, block, path in _ip_peers(ctx):
        ranges = [c for c in ctx.service_cidrs if subnet(block.cidr, c)]
        if ranges:
            what = f"is inside the Service CIDR {', '.join(str(c) for c in ranges)}"
        elif ctx.service_cidrs or block.cidr.num_addresses > _SERVICE_BLOCK_MAX:
            continue
        else:
            hit = next(((ip, ref) for ip, ref in cluster_ips if in_ip_block(block, ip)), None)
            if hit is None:
                continue
            what = f"covers the ClusterIP {hit[0]} of Service {hit[1].key}"
        yield Finding(
            "ipblock-overlaps-service-cidr",
            Severity.WARNING,
            f"{where(p, rule, peer)}: ipBlock {block} {what}: Service addresses are "
            "translated to the backing pods' addresses before policy applies, so "
            "this ipBlock never matches Service traffic",
            (p.ref,),
            f"{path}.ipBlock",
            Fix(
                "select the backing pods with podSelector/namespaceSelector (for the API "
                "server: an ipBlock of its endpoint addresses and port, e.g. 6443)"
            ),
        )


# --- traffic: DNS ---------------------------------------------------------------------


def dns_egress_missing(ctx: LintContext) -> Iterator[Finding]:
    """Pods isolated for egress need UDP and TCP 53 to the DNS pods (NP-96), asked of the
    engine per group of identical pods; reported on the policy to extend."""
    snap = ctx.snapshot
    dns = dns_pods(snap)
    if not dns:
        return
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Pod]] = defaultdict(list)
    for pod in ctx.pods:
        if not pod.host_network:
            groups[(pod.namespace, pod.labels)].append(pod)
    found: dict[tuple[ObjectRef, tuple[Protocol, ...], tuple[Protocol, ...]], list[Pod]] = {}
    hosts: dict[ObjectRef, NetworkPolicy] = {}
    others: dict[tuple[ObjectRef, tuple[Protocol, ...], tuple[Protocol, ...]], set[ObjectRef]]
    others = defaultdict(set)
    for pods in groups.values():
        if not any(p.controls(Direction.EGRESS) for p in selecting_policies(snap, pods[0])):
            continue
        check = dns_check(snap, endpoint_for_pod(snap, pods[0]), ctx.semantics)
        both = (Protocol.UDP, Protocol.TCP)
        missing = tuple(x for x in both if check.egress_result(x) is Tri.NO)
        unknown = tuple(x for x in both if check.egress_result(x) is Tri.UNKNOWN)
        if not missing and not unknown:
            continue
        isolating = {p.ref: p for d in check.decisions for p in d.egress.isolated_by}
        # The policy to extend: one already admitting DNS on some protocol, else the broadest.
        admitting = [
            o.policy for d in check.decisions for o in d.egress.outcomes if o.result is Tri.YES
        ]
        host = min(
            admitting or isolating.values(),
            key=lambda p: (not p.pod_selector.is_empty, p.ref.name),
        )
        hosts[host.ref] = host
        key = (host.ref, missing, unknown)
        found.setdefault(key, []).extend(pods)
        others[key] |= set(isolating) - {host.ref}
    for key, pods in sorted(found.items(), key=lambda kv: (kv[0][0].key, len(kv[0][1]))):
        ref, missing, unknown = key
        yield _dns_finding(hosts[ref], pods, dns, missing, unknown, sorted(others[key], key=str))


def _dns_finding(
    host: NetworkPolicy,
    pods: list[Pod],
    dns: list[Pod],
    missing: tuple[Protocol, ...],
    unknown: tuple[Protocol, ...],
    others: list[ObjectRef],
) -> Finding:
    which = " and ".join(f"{x.value} 53" for x in missing or unknown)
    allowed = [x.value for x in (Protocol.UDP, Protocol.TCP) if x not in missing + unknown]
    has = f" ({' and '.join(allowed)} 53 is allowed)" if allowed else ""
    by = ", ".join([host.ref.key, *(r.key for r in others)])
    head = f"{pods_text(pods)} {'is' if len(pods) == 1 else 'are'} egress-isolated (by {by})"
    target = f"{which} to the cluster DNS pods {pods_text(dns)}"
    them = "it" if len(pods) == 1 else "them"
    if missing:
        effect = (
            "name lookups time out"
            if Protocol.UDP in missing
            else "lookups over TCP (large answers, truncated replies) fail"
        )
        msg = f"{head} and no policy selecting {them} admits {target}{has}: {effect}"
    else:
        msg = f"{head} and whether a policy admits {target} cannot be decided from the input{has}"
    rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: dns[0].namespace}},
                "podSelector": {"matchLabels": _dns_labels(dns[0])},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    fix = Fix(
        f"add a DNS rule (UDP and TCP 53 to the DNS pods) to NetworkPolicy {host.ref.key}",
        f"# in NetworkPolicy {host.ref.key}, append to spec.egress:\n" + to_yaml([rule]),
        f"every pod {host.ref.key} selects may then send UDP/TCP 53 to the DNS pods",
    )
    severity = Severity.ERROR if missing else Severity.WARNING
    return Finding("dns-egress-missing", severity, msg, (host.ref, *others), "spec.egress", fix)


def _dns_labels(pod: Pod) -> dict[str, str]:
    labels = pod.label_map
    for key in ("k8s-app", "app.kubernetes.io/name"):
        if key in labels:
            return {key: labels[key]}
    return {"k8s-app": "kube-dns"}


# --- namespaces and hostNetwork ---------------------------------------------------------


def _default_denies(ctx: LintContext, namespace: str) -> dict[Direction, NetworkPolicy]:
    """Policies selecting every pod of the namespace (`podSelector: {}`), per direction."""
    out: dict[Direction, NetworkPolicy] = {}
    for p in ctx.snapshot.policies_by_namespace.get(namespace, ()):
        for d in Direction:
            if p.pod_selector.is_empty and p.controls(d):
                out.setdefault(d, p)
    return out


def namespace_without_default_deny(ctx: LintContext) -> Iterator[Finding]:
    """A namespace with pods on the pod network but no `podSelector: {}` policy isolating
    every pod (ingress, egress): new workloads start open (off by default)."""
    for ns_name in sorted(ctx.pods_by_namespace):
        pods = [x for x in ctx.pods_by_namespace[ns_name] if not x.host_network]
        if not pods:
            continue
        denies = _default_denies(ctx, ns_name)
        lacking = [d.value for d in Direction if d not in denies]
        if not lacking:
            continue
        ns = ctx.snapshot.namespaces.get(ns_name)
        ref = ns.ref if ns is not None else ObjectRef("Namespace", None, ns_name)
        types = " and ".join(lacking)
        yield Finding(
            "namespace-without-default-deny",
            Severity.WARNING,
            f"namespace {ns_name} has {plural(len(pods), 'pod')} ({pods_text(pods)}) and no "
            f"default deny for {types}: a pod no policy selects is open in that direction",
            (ref, pods[0].ref),
            None,
            Fix(
                f"add a default-deny policy for {types} (then allow what is needed, DNS first)",
                to_yaml(
                    {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "NetworkPolicy",
                        "metadata": {"name": "default-deny", "namespace": ns_name},
                        "spec": {"podSelector": {}, "policyTypes": lacking},
                    }
                ),
                "everything in the namespace not admitted by a rule is then denied",
            ),
        )


def host_network_under_default_deny(ctx: LintContext) -> Iterator[Finding]:
    """hostNetwork pods selected by a policy (typically a namespace-wide default deny):
    NetworkPolicy does not apply to them (NP-94), so the policy does not isolate them."""
    for p in ctx.snapshot.policies:
        host = [x for x in ctx.selects(p) if x.host_network]
        if not host:
            continue
        kind = "a namespace-wide policy" if p.pod_selector.is_empty else "it"
        types = "/".join(sorted(t.value for t in p.policy_types))
        yield Finding(
            "host-network-under-default-deny",
            Severity.WARNING,
            f"NetworkPolicy {p.ref.key} ({types}) selects hostNetwork "
            + ("pod " if len(host) == 1 else "pods ")
            + f"{pods_text(host)}, but {kind} does not restrict them: hostNetwork pods are "
            "not isolated by NetworkPolicy and act as their node's address",
            (p.ref, host[0].template_of or host[0].ref),
            "spec.podSelector",
            Fix(
                "protect hostNetwork pods with host firewalling (or the plugin's host "
                "policies, e.g. Calico HostEndpoint, Cilium host policies)"
            ),
        )


# --- plugin limits ----------------------------------------------------------------------


def aws_vpc_cni_port_limit(ctx: LintContext) -> Iterator[Finding]:
    """CNI-10: with the AWS VPC CNI, at most 24 unique port combinations per protocol in
    one ingress or egress section of a policy."""
    if ctx.cni.name == "aws-vpc-cni":
        yield from aws_port_limit_findings(ctx.snapshot.policies)
