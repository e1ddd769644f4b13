"""Pods grouped into the workloads a person names: Deployment, StatefulSet, DaemonSet,
Job, CronJob; a bare pod stays a pod, a hostNetwork pod folds into its node (NP-94:
policy sees it as the node's address, so it is the node that talks).

Ownership comes from each pod's controller ownerReference (`Pod.owner`), followed up
through ReplicaSet -> Deployment and Job -> CronJob when those objects are in the
input. When a ReplicaSet is not in the input, its name tells its Deployment: the
Deployment controller names it `<deployment>-<pod-template-hash>` and stamps that
hash on the pods as the `pod-template-hash` label
(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#pod-template-hash-label),
so a ReplicaSet whose name ends with `-<the pod's hash>` belongs to the Deployment
named by the prefix. A Job with no Job object in the input belongs to a CronJob only
when that CronJob is in the input and the Job's name is `<cronjob>-<digits>` (the
CronJob controller's naming: the scheduled time in minutes).

Imports `model` and `snapshot` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..model import Pod
from ..snapshot import Snapshot

__all__ = ["TEMPLATE_HASH_LABEL", "OwnerIndex", "WorkloadRef", "group_pods", "workload_of"]

TEMPLATE_HASH_LABEL = "pod-template-hash"

#: kinds a pod's workload can be, in the order tables list them within a namespace
KIND_ORDER = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Pod")


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """A workload: namespace None for a Node (hostNetwork pods folded into it)."""

    namespace: str | None
    kind: str
    name: str

    @property
    def key(self) -> str:
        """`ns/name[Kind]`, as netpol-analyzer's connlist names workloads; `name[Node]`."""
        if self.namespace is None:
            return f"{self.name}[{self.kind}]"
        return f"{self.namespace}/{self.name}[{self.kind}]"


@dataclass(frozen=True, slots=True)
class OwnerIndex:
    """(kind, namespace, name) of each workload object in the input -> its controller
    owner (kind, name), or None when it has none."""

    owners: dict[tuple[str, str, str], tuple[str, str] | None]

    @classmethod
    def of(cls, snapshot: Snapshot) -> OwnerIndex:
        return cls(
            {
                (w.ref.kind, w.ref.namespace or "default", w.ref.name): w.owner
                for w in snapshot.workloads
            }
        )

    def has(self, kind: str, namespace: str, name: str) -> bool:
        return (kind, namespace, name) in self.owners


def workload_of(pod: Pod, owners: OwnerIndex) -> WorkloadRef:
    ns = pod.namespace
    if pod.host_network and pod.node_name:
        return WorkloadRef(None, "Node", pod.node_name)
    if pod.template_of is not None:
        kind, name = pod.template_of.kind, pod.template_of.name
    elif pod.owner is not None:
        kind, name = pod.owner
    else:
        return WorkloadRef(ns, "Pod", pod.name)
    return _climb(kind, ns, name, pod, owners)


def _climb(kind: str, ns: str, name: str, pod: Pod, owners: OwnerIndex) -> WorkloadRef:
    if kind == "ReplicaSet":
        if owners.has(kind, ns, name):
            return _owned_by(kind, ns, name, "Deployment", owners)
        suffix = pod.label_map.get(TEMPLATE_HASH_LABEL)
        if suffix and name.endswith(f"-{suffix}") and len(name) > len(suffix) + 1:
            return WorkloadRef(ns, "Deployment", name[: -len(suffix) - 1])
        return WorkloadRef(ns, kind, name)
    if kind == "Job":
        if owners.has(kind, ns, name):
            return _owned_by(kind, ns, name, "CronJob", owners)
        prefix, _, stamp = name.rpartition("-")
        if prefix and stamp.isdigit() and owners.has("CronJob", ns, prefix):
            return WorkloadRef(ns, "CronJob", prefix)
    return WorkloadRef(ns, kind, name)


def group_pods(snapshot: Snapshot, pods: Sequence[Pod]) -> tuple[list[WorkloadRef], list[int]]:
    """The workloads of `pods` (sorted: namespace, kind order, name; nodes last) and,
    for each pod, the index of its workload in that list."""
    owners = OwnerIndex.of(snapshot)
    refs = [workload_of(p, owners) for p in pods]
    order = sorted(set(refs), key=sort_key)
    index = {w: k for k, w in enumerate(order)}
    return order, [index[w] for w in refs]


def sort_key(w: WorkloadRef) -> tuple[int, str, int, str]:
    kind = KIND_ORDER.index(w.kind) if w.kind in KIND_ORDER else len(KIND_ORDER)
    return (w.namespace is None, w.namespace or "", kind, w.name)


def _owned_by(kind: str, ns: str, name: str, parent: str, owners: OwnerIndex) -> WorkloadRef:
    """The `parent` (Deployment, CronJob) that controls this ReplicaSet or Job in the
    input, or the object itself when none does."""
    up = owners.owners[(kind, ns, name)]
    if up is not None and up[0] == parent:
        return WorkloadRef(ns, parent, up[1])
    return WorkloadRef(ns, kind, name)
