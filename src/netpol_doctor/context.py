"""Everything around the verdict that an expert checks next (SEMANTICS §1.9, §6;
the seeds' flow): DNS and API-server egress, policyTypes traps, the network plugin
and its health, NodePort SNAT, hostNetwork, secondary networks, service meshes,
AWS VPC CNI limits, policy-denied events.

Each check is a function `(Snapshot, ..., Decision) -> list[Finding]`. Imports
`model`, `selectors`, `snapshot`, `engine`, `targets`, `cni`, `findings`, `fixes`,
`shell`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .analysis.verdicts import aggregate
from .cni import CniInfo
from .cni import aws_port_limit_findings as cni_aws_port_limit
from .engine import Decision, Endpoint, EndpointKind, Semantics, Verdict
from .findings import Finding, Fix, Severity
from .fixes import add_policy_type, edit_preview, to_yaml
from .inputs import multus
from .layers import evaluate_flow
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    NetworkPolicy,
    ObjectRef,
    Pod,
    Protocol,
    Service,
)
from .selectors import Tri
from .shell import command, comment
from .snapshot import Snapshot
from .targets import Target, endpoint_for_ip, endpoint_for_pod

__all__ = [
    "DnsCheck",
    "apiserver_check",
    "cni_findings",
    "dns_check",
    "dns_pods",
    "event_findings",
    "mesh_and_multus_findings",
    "nodeport_snat_findings",
    "policy_types_findings",
]

_DNS_SERVICES = (
    ("kube-system", "kube-dns"),
    ("kube-system", "coredns"),
    ("kube-system", "rke2-coredns-rke2-coredns"),
)
_DNS_LABELS = (
    ("k8s-app", "kube-dns"),
    ("k8s-app", "coredns"),
    ("app.kubernetes.io/name", "coredns"),
)
_RESTARTS_UNHEALTHY = 5


# --- DNS and API server -------------------------------------------------------------


def dns_service(snapshot: Snapshot) -> Service | None:
    for ns, name in _DNS_SERVICES:
        svc = snapshot.services.get(f"{ns}/{name}")
        if svc is not None:
            return svc
    return None


def dns_pods(snapshot: Snapshot) -> list[Pod]:
    """The cluster DNS pods: the kube-dns/CoreDNS Service's, else by the usual labels."""
    found = snapshot.memo.get(dns_pods)
    if found is None:
        found = snapshot.memo[dns_pods] = _find_dns_pods(snapshot)
    return list(found)


def _find_dns_pods(snapshot: Snapshot) -> list[Pod]:
    svc = dns_service(snapshot)
    if svc is not None and svc.selector:
        sel = dict(svc.selector)
        pods = [
            p
            for p in snapshot.pods_by_namespace.get(svc.namespace, [])
            if all(p.label_map.get(k) == v for k, v in sel.items()) and not p.finished
        ]
        if pods:
            return sorted(pods, key=lambda p: p.key)
    return sorted(
        (
            p
            for p in snapshot.pods
            if any(p.label_map.get(k) == v for k, v in _DNS_LABELS) and not p.finished
        ),
        key=lambda p: p.key,
    )


@dataclass(frozen=True, slots=True)
class DnsCheck:
    """DNS from one source: each DNS pod on UDP 53 and TCP 53 (post-DNAT ports)."""

    decisions: tuple[Decision, ...]
    dns_pods: tuple[Pod, ...]

    def verdict(self, protocol: Protocol) -> Verdict | None:
        vs = [d.verdict for d in self.decisions if d.protocol is protocol]
        return aggregate(vs) if vs else None

    def egress_result(self, protocol: Protocol) -> Tri:
        results = [d.egress.result for d in self.decisions if d.protocol is protocol]
        if Tri.NO in results:
            return Tri.NO
        return Tri.UNKNOWN if Tri.UNKNOWN in results else Tri.YES


def _dns_port(snapshot: Snapshot, pod: Pod, protocol: Protocol) -> int:
    svc = dns_service(snapshot)
    for sp in svc.ports if svc else ():
        if sp.protocol is protocol and sp.port == 53:
            if isinstance(sp.target_port, int):
                return sp.target_port
            for cp in pod.ports:
                if cp.name == sp.target_port and cp.protocol is protocol:
                    return cp.port
    return 53


def dns_check(snapshot: Snapshot, source: Endpoint, sem: Semantics) -> DnsCheck:
    pods = dns_pods(snapshot)
    decisions = tuple(
        evaluate_flow(
            snapshot,
            source,
            endpoint_for_pod(snapshot, p),
            proto,
            _dns_port(snapshot, p, proto),
            sem,
        )
        for p in pods
        for proto in (Protocol.UDP, Protocol.TCP)
    )
    return DnsCheck(decisions, tuple(pods))


def dns_findings(snapshot: Snapshot, source: Endpoint, check: DnsCheck) -> list[Finding]:
    """dns-egress-missing: an egress-isolated source that cannot reach the DNS pods."""
    pod = source.pod
    if pod is None or source.kind is not EndpointKind.POD or not check.decisions:
        return []
    if not any(d.egress.isolated for d in check.decisions):
        return []
    missing = [p for p in (Protocol.UDP, Protocol.TCP) if check.egress_result(p) is Tri.NO]
    unknown = [p for p in (Protocol.UDP, Protocol.TCP) if check.egress_result(p) is Tri.UNKNOWN]
    if not missing and not unknown:
        return []
    dns = check.dns_pods[0]
    which = " and ".join(f"{p.value} 53" for p in missing) or " and ".join(
        f"{p.value} 53" for p in unknown
    )
    allowed = [p.value for p in (Protocol.UDP, Protocol.TCP) if check.egress_result(p) is Tri.YES]
    has = f" ({' and '.join(allowed)} 53 is allowed)" if allowed else ""
    policies = sorted({p.ref.key for d in check.decisions for p in d.egress.isolated_by})
    verb = "is not allowed" if missing else "cannot be decided"
    msg = (
        f"{pod.key} is egress-isolated (by {', '.join(policies)}) and DNS to the cluster DNS "
        f"pods ({dns.namespace}, e.g. {dns.name}) on {which} {verb}{has}: name lookups "
        f"{'time out' if Protocol.UDP in missing else 'over TCP (large answers, retries) fail'}"
    )
    rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: dns.namespace}},
                "podSelector": {"matchLabels": _dns_selector(dns)},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    # Add the rule to a policy that already isolates the pod for egress: a new policy
    # would itself egress-isolate every pod it selects that was not isolated before.
    isolating = [p for d in check.decisions for p in d.egress.isolated_by]
    host = min(isolating, key=lambda p: (not p.pod_selector.is_empty, p.ref.name))
    fix = Fix(
        f"add a DNS rule (UDP and TCP 53 to the DNS pods) to NetworkPolicy {host.ref.key}",
        f"# in NetworkPolicy {comment(host.ref.key)}, append to spec.egress:\n"
        + to_yaml([rule])
        + f"\n{edit_preview(host)}",
        f"every pod {host.ref.key} selects may then send UDP/TCP 53 to the DNS pods; "
        "nothing else changes",
    )
    refs = tuple(ObjectRef("NetworkPolicy", pod.namespace, n.split("/")[1]) for n in policies)
    return [
        Finding(
            "dns-egress-missing",
            Severity.ERROR if missing else Severity.WARNING,
            msg,
            (pod.ref, *refs),
            None,
            fix,
        )
    ]


def _dns_selector(pod: Pod) -> dict[str, str]:
    labels = pod.label_map
    for k, v in _DNS_LABELS:
        if labels.get(k) == v:
            return {k: v}
    return {"k8s-app": "kube-dns"}


def apiserver_endpoints(snapshot: Snapshot) -> list[tuple[Endpoint, int]]:
    """The `kubernetes` Service's endpoint addresses and target port (post-DNAT)."""
    svc = snapshot.services.get("default/kubernetes")
    port = 443
    if svc is not None:
        https = next((p for p in svc.ports if p.port == 443 or p.name == "https"), None)
        if https is not None and isinstance(https.target_port, int):
            port = https.target_port
    out: list[tuple[Endpoint, int]] = []
    seen = set()
    for eps in snapshot.endpoints:
        if eps.namespace == "default" and eps.service == "kubernetes":
            ep_port = next((p for _, p, proto in eps.ports if proto is Protocol.TCP), port)
            for ip in eps.addresses:
                if ip not in seen:
                    seen.add(ip)
                    out.append((endpoint_for_ip(snapshot, ip), ep_port))
    return out


def apiserver_check(
    snapshot: Snapshot, source: Endpoint, sem: Semantics, asked: bool
) -> list[Finding]:
    """apiserver-egress-missing: egress-isolated, uses the API (token or asked), blocked."""
    pod = source.pod
    if pod is None or source.kind is not EndpointKind.POD:
        return []
    if not (asked or pod.automount_token):
        return []
    targets = apiserver_endpoints(snapshot)
    if not targets:
        return []
    decisions = [
        evaluate_flow(snapshot, source, ep, Protocol.TCP, port, sem) for ep, port in targets
    ]
    if not any(d.egress.isolated for d in decisions):
        return []
    blocked = [d for d in decisions if d.egress.result is not Tri.YES]
    if not blocked:
        return []
    addrs = ", ".join(f"{','.join(str(i) for i in d.destination.ips)}:{d.port}" for d in blocked)
    sa = pod.service_account or "default"
    why = (
        "it was asked to reach the API server"
        if asked
        else f"it mounts a service-account token (serviceAccountName {sa})"
    )
    severity = Severity.ERROR if asked else (Severity.WARNING if sa != "default" else Severity.INFO)
    msg = (
        f"{pod.key} is egress-isolated and {why}, but no egress rule admits the API server "
        + ("endpoint " if len(blocked) == 1 else "endpoints ")
        + f"{addrs} (the `kubernetes` Service's endpoints after DNAT; the API "
        "server is not a pod, so only an ipBlock can admit it)"
    )
    addresses = sorted({ip for d in blocked for ip in d.destination.ips}, key=str)
    rule = {
        "to": [{"ipBlock": {"cidr": f"{ip}/{ip.max_prefixlen}"}} for ip in addresses],
        "ports": [{"protocol": "TCP", "port": p} for p in sorted({d.port for d in blocked})],
    }
    host = min(
        (p for d in decisions for p in d.egress.isolated_by),
        key=lambda p: (not p.pod_selector.is_empty, p.ref.name),
    )
    fix = Fix(
        f"add an egress rule for the API server endpoints to NetworkPolicy {host.ref.key}",
        f"# in NetworkPolicy {comment(host.ref.key)}, append to spec.egress:\n"
        + to_yaml([rule])
        + f"\n{edit_preview(host)}",
        f"every pod {host.ref.key} selects may then reach the API server on that port",
    )
    return [Finding("apiserver-egress-missing", severity, msg, (pod.ref,), None, fix)]


# --- policyTypes --------------------------------------------------------------------


def _policies_of(decisions: Iterable[Decision]) -> list[tuple[Pod, NetworkPolicy]]:
    """Each policy selecting an end of the question once, with the first pod it selects."""
    seen: set[str] = set()
    out = []
    for d in decisions:
        for side in (d.egress, d.ingress):
            pod = side.subject.pod
            if pod is None or (side.exemption is not None and side.exemption.value != "self"):
                continue
            for p in side.selecting:
                if p.ref.key not in seen:
                    seen.add(p.ref.key)
                    out.append((pod, p))
    return out


def policy_types_findings(decisions: list[Decision]) -> list[Finding]:
    out: list[Finding] = []
    for pod, p in _policies_of(decisions):
        types = sorted(t.value for t in p.policy_types)
        for direction in Direction:
            if p.rules(direction) and not p.controls(direction):
                word = direction.value.lower()
                msg = (
                    f"NetworkPolicy {p.ref.key} (selects {pod.key}) has {word} rules, but its "
                    f"policyTypes is [{', '.join(types)}]: those rules do nothing and {word} "
                    "is not restricted by it"
                )
                fix = add_policy_type(p, direction)
                out.append(
                    Finding(
                        f"policy-types-{word}-ignored",
                        Severity.WARNING,
                        msg,
                        (p.ref,),
                        "spec.policyTypes",
                        fix,
                    )
                )
        if not p.explicit_types:
            trap = Direction.EGRESS in p.policy_types and not p.ingress
            why = (
                "Ingress always, and Egress because the egress list is non-empty"
                if Direction.EGRESS in p.policy_types
                else "Ingress always; Egress only when there are egress rules, and there are none"
            )
            msg = (
                f"NetworkPolicy {p.ref.key} (selects {pod.key}) does not declare policyTypes, "
                f"so it controls [{', '.join(types)}] ({why})"
            )
            if trap:
                msg += (
                    ". It has no ingress rules, so it also denies ALL ingress to the pods it "
                    "selects — the usual surprise of an 'egress-only' policy"
                )
            fix = Fix(
                "declare policyTypes explicitly"
                + (" ([Egress] if only egress was meant)" if trap else ""),
                to_yaml({"spec": {"policyTypes": ["Egress"] if trap else types}}),
                None,
            )
            out.append(
                Finding(
                    "policy-types-implicit",
                    Severity.WARNING if trap else Severity.INFO,
                    msg,
                    (p.ref,),
                    "spec.policyTypes",
                    fix,
                )
            )
    return out


# --- network plugin -----------------------------------------------------------------


def cni_findings(snapshot: Snapshot, cni: CniInfo, nodes: set[str]) -> list[Finding]:
    out: list[Finding] = []
    profile = cni.profile
    if profile is None:
        out.append(
            Finding(
                "cni-unknown",
                Severity.WARNING,
                "no known network-policy agent (calico-node, cilium, antrea-agent, weave-net, "
                "kube-router, canal, aws-node, azure-npm, anetd, kube-network-policies) is in the "
                "input, so it is unknown whether NetworkPolicy is enforced at all (k3s and some "
                "managed clusters enforce it without a visible agent); pass --cni NAME if known",
            )
        )
        return out
    if profile.enforces is Tri.NO:
        out.append(
            Finding(
                "cni-no-enforcement",
                Severity.ERROR,
                f"the network plugin is {profile.name}, which does not enforce NetworkPolicy: "
                "policies are accepted by the API server but never applied, so the traffic "
                "flows whatever they say and policy is not the cause of a blocked connection: "
                "look elsewhere (the application, its Service and endpoints, DNS, a firewall "
                "outside the cluster)",
                cni.evidence,
                fix=Fix(
                    "nothing to change in the policies; to have them enforced, run a policy "
                    f"engine beside {profile.name} (Calico in policy-only mode, as Canal does, "
                    "or replace the plugin with one that enforces NetworkPolicy)"
                ),
            )
        )
    elif profile.enforces is Tri.UNKNOWN:
        out.append(
            Finding(
                "cni-unknown",
                Severity.WARNING,
                f"the network plugin is {profile.name}; whether its policy agent is enabled "
                "cannot be told from the input (AWS VPC CNI: aws-node's aws-eks-nodeagent "
                "container needs --enable-network-policy=true)",
                cni.evidence,
            )
        )
    out += _cni_health(snapshot, cni, nodes)
    return out


def _cni_health(snapshot: Snapshot, cni: CniInfo, nodes: set[str]) -> list[Finding]:
    assert cni.profile is not None
    agents = cni.profile.agents
    out: list[Finding] = []
    for w in snapshot.workloads:
        is_agent = w.ref.kind == "DaemonSet" and w.ref.name.startswith(agents)
        if is_agent and w.desired is not None and w.ready is not None and w.ready < w.desired:
            out.append(
                Finding(
                    "cni-unhealthy",
                    Severity.WARNING,
                    f"DaemonSet {w.ref.key}: {w.ready} of {w.desired} agent pods are ready; "
                    "nodes without a ready agent may enforce stale policy or none",
                    (w.ref,),
                )
            )
    for p in snapshot.pods:
        owner = p.owner  # the name tests first: they rule out nearly every pod, cheaply
        if not ((owner and owner[1].startswith(agents)) or p.ref.name.startswith(agents)):
            continue
        if p.is_template:
            continue
        problems = []
        if "CrashLoopBackOff" in p.waiting_reasons:
            problems.append("is in CrashLoopBackOff")
        if p.ready is False:
            problems.append("is not ready")
        if p.restarts >= _RESTARTS_UNHEALTHY:
            problems.append(f"has restarted {p.restarts} times")
        if problems:
            here = " (on a node of this question)" if p.node_name in nodes else ""
            out.append(
                Finding(
                    "cni-unhealthy",
                    Severity.WARNING,
                    f"{cni.profile.name} agent {p.key} on node {p.node_name}{here} "
                    f"{', '.join(problems)}: policy on that node may be stale or absent "
                    f"({command('kubectl', 'logs', '-n', p.namespace, p.name, '--previous')})",
                    (p.ref,),
                )
            )
    return out


# --- the path: NodePort SNAT, hostNetwork, secondary networks, meshes ----------------


def nodeport_snat_findings(
    snapshot: Snapshot,
    source: Target,
    destination: Target,
    decisions: list[Decision],
    sem: Semantics,
) -> list[Finding]:
    """NP-95: through a NodePort/LoadBalancer Service with externalTrafficPolicy
    Cluster, the pod sees a node IP, which pod/namespace selectors cannot match."""
    services: list[Service] = []
    if destination.service is not None:
        services.append(destination.service)
    elif source.kind in ("ip", "node"):
        for d in decisions:
            if d.destination.pod is not None:
                services += _services_of(snapshot, d.destination.pod)
    out: list[Finding] = []
    for svc in {s.key: s for s in services}.values():
        if (
            svc.type not in ("NodePort", "LoadBalancer")
            or (svc.external_traffic_policy or "Cluster") != "Cluster"
        ):
            continue
        blocked = []
        for d in decisions:
            pod = d.destination.pod
            if pod is None or not d.ingress.isolated:
                continue
            other_nodes = [n for n in snapshot.nodes.values() if n.ref.name != pod.node_name]
            for n in other_nodes[:1]:
                node_ep = Endpoint(EndpointKind.HOST, None, n.addresses, n.ref.name)
                nd = evaluate_flow(snapshot, node_ep, d.destination, d.protocol, d.port, sem)
                if nd.ingress.result is not Tri.YES:
                    blocked.append((pod, n.ref.name))
        if not any(d.ingress.isolated for d in decisions):
            continue
        detail = (
            f"; from node {blocked[0][1]} it is not admitted by {blocked[0][0].key}'s ingress rules"
            if blocked
            else ""
        )
        msg = (
            f"Service {svc.key} is {svc.type} with externalTrafficPolicy Cluster: clients "
            "coming through a node port or load balancer are SNATed to a node IP, so ingress "
            f"rules selecting pods or namespaces cannot match them{detail}"
        )
        fix = Fix(
            "preserve the client IP (traffic then goes only to pods on the receiving node), "
            "or admit the node CIDR with an ipBlock",
            command(
                "kubectl",
                "patch",
                "service",
                "-n",
                svc.namespace,
                svc.name,
                "--type",
                "merge",
                "-p",
                '{"spec":{"externalTrafficPolicy":"Local"}}',
                "--dry-run=server",
                "-o",
                "yaml",
            ),
            "Local drops traffic on nodes without a ready pod of this Service "
            "(load balancers steer by health check)",
        )
        out.append(
            Finding(
                "nodeport-snat",
                Severity.WARNING if blocked else Severity.INFO,
                msg,
                (svc.ref,),
                "spec.externalTrafficPolicy",
                fix,
            )
        )
    return out


def _services_of(snapshot: Snapshot, pod: Pod) -> list[Service]:
    out = []
    for svc in snapshot.services.values():
        labels = pod.label_map
        same_ns = svc.namespace == pod.namespace
        if same_ns and svc.selector and all(labels.get(k) == v for k, v in svc.selector):
            out.append(svc)
    return out


_MESH_CONTAINERS = ("istio-proxy", "linkerd-proxy")
_MESH_ANNOTATIONS = (
    "sidecar.istio.io/status",
    "linkerd.io/proxy-version",
    "ambient.istio.io/redirection",
)
_MESH_NS_LABELS = ("istio-injection", "istio.io/rev", "istio.io/dataplane-mode")


def mesh_and_multus_findings(snapshot: Snapshot, pods: Iterable[Pod]) -> list[Finding]:
    out: list[Finding] = []
    for pod in pods:
        annotations = dict(pod.annotations)
        ns_labels = snapshot.namespace(pod.namespace).label_map
        mesh = [c for c in pod.container_names if c in _MESH_CONTAINERS]
        mesh += [a for a in _MESH_ANNOTATIONS if a in annotations]
        mesh += [
            f"namespace label {k}"
            for k in _MESH_NS_LABELS
            if k in ns_labels and ns_labels[k] not in ("disabled", "false")
        ]
        if mesh:
            out.append(
                Finding(
                    "service-mesh-present",
                    Severity.INFO,
                    f"{pod.key} is in a service mesh ({', '.join(mesh)}): mesh authorization "
                    "(Istio AuthorizationPolicy, Linkerd Server/AuthorizationPolicy) can also "
                    "reject this traffic at L7, and an egress-isolated sidecar also needs "
                    "egress to its control plane (istiod; linkerd's destination and identity)",
                    (pod.ref,),
                )
            )
        nets = ", ".join(a.network for a in multus.secondary_attachments(pod))
        if nets:
            out.append(
                Finding(
                    "secondary-network",
                    Severity.INFO,
                    f"{pod.key} has Multus secondary networks ({nets}): NetworkPolicy covers only "
                    "the primary interface; traffic on the secondary interfaces (RDMA, SR-IOV) "
                    "bypasses it, while DNS, the API server and Services still use the primary one",
                    (pod.ref,),
                )
            )
    return out


def host_network_findings(decisions: list[Decision]) -> list[Finding]:
    out: list[Finding] = []
    for d in decisions:
        for ep, role in ((d.source, "source"), (d.destination, "destination")):
            pod = ep.pod
            if pod is None or not pod.host_network:
                continue
            if role == "source":
                meaning = (
                    "its traffic leaves as its node's IP: no podSelector or namespaceSelector on "
                    "the destination can admit it (only an ipBlock covering the node IP, and "
                    "traffic from the destination's own node is always allowed)"
                )
            else:
                meaning = (
                    "no ingress policy can protect or restrict it (a default deny does not "
                    "cover it); the source's egress rules must admit its node IP by ipBlock"
                )
            out.append(
                Finding(
                    "host-network",
                    Severity.INFO,
                    f"{pod.key} (the {role}) uses hostNetwork, so NetworkPolicy does not "
                    f"select it: {meaning}",
                    (pod.ref,),
                )
            )
    return out


# --- AWS VPC CNI limits, events -------------------------------------------------------


def aws_port_limit_findings(cni: CniInfo, decisions: list[Decision]) -> list[Finding]:
    """CNI-10, for the policies that select an end of this question."""
    if cni.name != "aws-vpc-cni":
        return []
    return cni_aws_port_limit([p for _, p in _policies_of(decisions)])


_DENY_REASONS = ("NetworkPolicyDenied", "PolicyDenied", "PolicyVerdictDenied", "NetworkPolicyDrop")


def event_findings(snapshot: Snapshot, pods: Iterable[Pod]) -> list[Finding]:
    pods = list(pods)
    keys = {(p.namespace, p.name) for p in pods}
    tokens = {p.name for p in pods if not p.is_template} | {str(ip) for p in pods for ip in p.ips}
    # Whole tokens only: pod "d" is not in "denied", 10.0.0.1 is not in 10.0.0.12.
    mention = (
        re.compile(
            r"(?<![\w.-])(" + "|".join(re.escape(t) for t in sorted(tokens)) + r")(?![\w-]|\.\d)"
        )
        if tokens
        else None
    )
    out: list[Finding] = []
    for ev in snapshot.events:
        if ev.reason not in _DENY_REASONS and "policy" not in ev.reason.lower():
            continue
        inv = ev.involved
        about = inv is not None and (inv.namespace or ev.ref.namespace, inv.name) in keys
        mentions = mention is not None and mention.search(ev.message) is not None
        if about or mentions:
            out.append(
                Finding(
                    "policy-denied-event",
                    Severity.WARNING,
                    f"Event {ev.ref.key} ({ev.reason}, x{ev.count}): {ev.message}",
                    (ev.ref,),
                )
            )
    return out
