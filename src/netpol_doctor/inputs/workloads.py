"""Which workload a pod belongs to, from its owner references, and kubectl's TYPE names.

A pod's controller owner is usually a ReplicaSet (Deployment) or a Job (CronJob), and
a dump often holds the pods without those intermediate objects. The chain is then read
from the names, as the controllers write them:

- the Deployment controller names a ReplicaSet `<deployment>-<pod-template-hash>` and
  copies the hash into the pods' `pod-template-hash` label
  (kubernetes pkg/controller/deployment/sync.go, `getNewReplicaSet`); so a pod owned
  by ReplicaSet `api-7c9d8b6f5` labelled `pod-template-hash=7c9d8b6f5` belongs to
  Deployment `api`;
- the CronJob controller names a Job `<cronjob>-<scheduled time in minutes>`
  (pkg/controller/cronjob/utils.go, `getJobName`), so Job `backup-29012345` belongs
  to CronJob `backup` when that CronJob is in the input (a Job's own ownerReferences
  say so too when the Job object is present).

Imports `model`, `snapshot`, `selectors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..model import Pod, Workload
from ..selectors import Tri, match_selector
from ..snapshot import Snapshot

__all__ = [
    "KIND_ALIASES",
    "WorkloadRef",
    "canonical_kind",
    "owning_workload",
    "pods_of_workload",
]

#: kubectl's names for the kinds a question may name (`kubectl api-resources`).
KIND_ALIASES: dict[str, str] = {
    **dict.fromkeys(("pod", "pods", "po"), "Pod"),
    **dict.fromkeys(("deployment", "deployments", "deploy"), "Deployment"),
    **dict.fromkeys(("statefulset", "statefulsets", "sts"), "StatefulSet"),
    **dict.fromkeys(("daemonset", "daemonsets", "ds"), "DaemonSet"),
    **dict.fromkeys(("replicaset", "replicasets", "rs"), "ReplicaSet"),
    **dict.fromkeys(("job", "jobs"), "Job"),
    **dict.fromkeys(("cronjob", "cronjobs", "cj"), "CronJob"),
    **dict.fromkeys(("service", "services", "svc"), "Service"),
}

_JOB_SUFFIX = re.compile(r"^(?P<cronjob>.+)-\d+$")


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    kind: str  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def canonical_kind(word: str) -> str | None:
    """`deploy` -> "Deployment"; None for a word kubectl would not take."""
    return KIND_ALIASES.get(word.lower())


def _index(snapshot: Snapshot) -> dict[tuple[str, str, str], Workload]:
    key = ("inputs.workloads.index",)
    memo = snapshot.memo
    if key not in memo:
        memo[key] = {(w.ref.kind, w.ref.namespace or "", w.ref.name): w for w in snapshot.workloads}
    index: dict[tuple[str, str, str], Workload] = memo[key]
    return index


def owning_workload(snapshot: Snapshot, pod: Pod) -> WorkloadRef | None:
    """The top workload `pod` belongs to (Deployment over ReplicaSet, CronJob over Job);
    None for a pod with no controller owner. A template pod is its workload's."""
    ns = pod.namespace
    if pod.template_of is not None:
        return WorkloadRef(pod.template_of.kind, ns, pod.template_of.name)
    if pod.owner is None:
        return None
    kind, name = pod.owner
    index = _index(snapshot)
    if kind == "ReplicaSet":
        rs = index.get(("ReplicaSet", ns, name))
        if rs is not None and rs.owner is not None and rs.owner[0] == "Deployment":
            return WorkloadRef("Deployment", ns, rs.owner[1])
        if rs is None:
            digest = pod.label_map.get("pod-template-hash")
            if digest and name.endswith(f"-{digest}") and len(name) > len(digest) + 1:
                return WorkloadRef("Deployment", ns, name[: -len(digest) - 1])
        return WorkloadRef("ReplicaSet", ns, name)
    if kind == "Job":
        job = index.get(("Job", ns, name))
        if job is not None and job.owner is not None and job.owner[0] == "CronJob":
            return WorkloadRef("CronJob", ns, job.owner[1])
        m = _JOB_SUFFIX.match(name)
        if job is None and m and ("CronJob", ns, m["cronjob"]) in index:
            return WorkloadRef("CronJob", ns, m["cronjob"])
        return WorkloadRef("Job", ns, name)
    return WorkloadRef(kind, ns, name)


def pods_of_workload(snapshot: Snapshot, kind: str, namespace: str, name: str) -> list[Pod]:
    """The running pods of the workload (owner references first; the workload's own
    selector when no pod names an owner, as for pods read without ownerReferences);
    its template pod when none runs. Sorted by name."""
    want = WorkloadRef(kind, namespace, name)
    pods = snapshot.pods_by_namespace.get(namespace, [])
    owned = [p for p in pods if not p.is_template and owning_workload(snapshot, p) == want]
    if not owned:
        w = _index(snapshot).get((kind, namespace, name))
        if w is not None and w.selector is not None:
            owned = [
                p
                for p in pods
                if not p.is_template and match_selector(w.selector, p.label_map).result is Tri.YES
            ]
    live = [p for p in owned if not p.finished]
    if live:
        return sorted(live, key=lambda p: p.name)
    return [p for p in pods if p.is_template and owning_workload(snapshot, p) == want]
