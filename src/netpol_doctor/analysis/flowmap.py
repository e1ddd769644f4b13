"""Flow-log ends -> what the input knows: pods, their workloads, Services (ClusterIP),
nodes and outside addresses, memoised per distinct name or address.
Imports `inputs.flowlogs`, `model`, `snapshot`; never judges a flow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from ipaddress import ip_address

from ..inputs.flowlogs import FlowPeer
from ..model import IPAddress, Pod
from ..snapshot import Snapshot

__all__ = ["Resolved", "Resolver", "workload_label"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """One end of a record mapped onto the input."""

    label: str  # what groups: ns/workload, svc/ns/name, node/NAME, ip/ADDR
    spec: str | None  # what `diagnose` is asked; None: cannot be asked (see why)
    namespace: str | None = None
    why: str | None = None
    service: bool = False


_POD_HASH = re.compile(r"-[a-z0-9]{5}$")
_RS_HASH = re.compile(r"-[a-z0-9]{6,10}$")
_ORDINAL = re.compile(r"-\d+$")


def workload_label(pod: Pod) -> str:
    """`ns/name` of the pod's controller: a ReplicaSet's Deployment (its name minus the
    pod-template-hash), a StatefulSet, DaemonSet or Job; the pod itself otherwise."""
    if pod.owner is None:
        return pod.key
    kind, name = pod.owner
    template_hash = pod.label_map.get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
        name = name[: -len(template_hash) - 1]
    return f"{pod.namespace}/{name}"


class Resolver:
    """Log names and addresses -> pods, Services, nodes or outside addresses."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._memo: dict[tuple[FlowPeer, bool], Resolved] = {}
        self._cluster_ips = {
            ip: svc for svc in snapshot.services.values() for ip in svc.cluster_ips if ip
        }
        self._by_workload: dict[str, str] | None = None
        self._workloads = {
            (w.ref.namespace, w.ref.name) for w in snapshot.workloads if w.selector is not None
        }

    def __call__(self, peer: FlowPeer, destination: bool) -> Resolved:
        key = (peer, destination)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._resolve(peer, destination)
        return found

    def _pod(self, pod: Pod, note: str | None = None) -> Resolved:
        return Resolved(workload_label(pod), pod.key, pod.namespace, note)

    def _resolve(self, peer: FlowPeer, destination: bool) -> Resolved:
        snap = self.snapshot
        if peer.pod and peer.namespace:
            pod = snap.pods_by_key.get(f"{peer.namespace}/{peer.pod}")
            if pod is not None:
                return self._pod(pod)
        ip = _address(peer.ip)
        if ip is not None:
            node = snap.node_by_ip.get(ip)
            if node is not None:
                return Resolved(f"node/{node.ref.name}", f"ip/{ip}")
            pod = snap.pods_by_ip.get(ip)
            # A pod named by the log but absent here has been replaced: its IP may
            # belong to another pod now, so the IP alone does not name it.
            if pod is not None and not (peer.pod and pod.name != peer.pod):
                return self._pod(pod)
            svc = self._cluster_ips.get(str(ip))
            if svc is not None and destination:
                return Resolved(f"svc/{svc.key}", f"svc/{svc.key}", svc.namespace, service=True)
        if peer.pod and peer.namespace:
            found = self._workload_of(peer.namespace, peer.pod)
            if found is not None:
                label, spec = found
                why = (
                    f"pod {peer.namespace}/{peer.pod} is not in the input: answered for "
                    f"its workload ({spec})"
                )
                return Resolved(label, spec, peer.namespace, why)
            return Resolved(
                f"{peer.namespace}/{peer.pod}",
                None,
                peer.namespace,
                f"pod {peer.namespace}/{peer.pod} is not in the input",
            )
        if peer.name_glob and peer.namespace:
            pods = sorted(
                (
                    p
                    for p in snap.pods_by_namespace.get(peer.namespace, ())
                    if fnmatchcase(p.name, peer.name_glob) and not p.finished
                ),
                key=lambda p: p.name,
            )
            if pods:
                return self._pod(pods[0], f"{peer.namespace}/{peer.name_glob}: {len(pods)} pod(s)")
            label = f"{peer.namespace}/{peer.name_glob}"
            return Resolved(label, None, peer.namespace, f"no pod matches {label} in the input")
        if ip is not None:
            return Resolved(f"ip/{ip}", f"ip/{ip}")
        if peer.outside:
            word = "public" if peer.outside == "pub" else "private"
            return Resolved(f"outside ({word})", None, None, "the log gives no address")
        return Resolved("unknown", None, peer.namespace, "the record gives no address or name")

    def _workload_of(self, namespace: str, pod: str) -> tuple[str, str] | None:
        """(label, what to ask) for a pod the input lacks (replaced since the snapshot):
        its controller, told from the name as the controllers build it (Deployment
        `name-<hash>-<5>`, StatefulSet `name-<n>`, DaemonSet `name-<5>`); asked about
        the workload object, or else a live pod of it."""
        for pattern in ((_POD_HASH, _RS_HASH), (_ORDINAL,), (_POD_HASH,)):
            name = pod
            for rx in pattern:
                name = rx.sub("", name)
            if name == pod:
                continue
            label = f"{namespace}/{name}"
            if (namespace, name) in self._workloads:
                return label, label
            sibling = self._siblings().get(label)
            if sibling is not None:
                return label, sibling
        return None

    def _siblings(self) -> dict[str, str]:
        if self._by_workload is None:
            self._by_workload = {}
            for p in sorted(self.snapshot.pods, key=lambda p: p.key):
                if not p.finished and not p.is_template:
                    self._by_workload.setdefault(workload_label(p), p.key)
        return self._by_workload


def _address(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        return ip_address(text)
    except ValueError:
        return None
