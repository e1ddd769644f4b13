"""Pods -> workloads (analysis.workloads): owner references followed up through
ReplicaSets and Jobs, the pod-template-hash rule when the ReplicaSet is absent, bare
pods, hostNetwork pods folded into their node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builders import namespace, pod, snapshot_of
from netpol_doctor.analysis.workloads import group_pods

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cluster"


def _owned(key: str, kind: str, owner: str, **labels: str) -> dict[str, Any]:
    p = pod(key, "10.1.0.9", labels=labels)
    p["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": kind, "name": owner, "controller": True, "uid": "u"}
    ]
    return p


def _rs(name: str, deployment: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if deployment:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment,
                "controller": True,
                "uid": "d",
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"x": name}},
            "template": {
                "metadata": {"labels": {"x": name}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }


def _keys(objs: list[dict[str, Any]], tmp: Path) -> dict[str, str]:
    snap = snapshot_of(tmp, objs)
    pods = [p for p in snap.pods if not p.is_template]
    refs, index = group_pods(snap, pods)
    return {p.key: refs[k].key for p, k in zip(pods, index, strict=True)}


def test_replicaset_absent_uses_pod_template_hash(tmp_path: Path) -> None:
    objs = [
        namespace("shop"),
        _owned(
            "shop/api-7c9d8b6f5-x4kzp",
            "ReplicaSet",
            "api-7c9d8b6f5",
            **{"pod-template-hash": "7c9d8b6f5"},
        ),
        # the hash does not end the name: not a Deployment's ReplicaSet
        _owned("shop/odd-1", "ReplicaSet", "odd-rs", **{"pod-template-hash": "abc"}),
        _owned("shop/nohash-1", "ReplicaSet", "nohash-5d4f"),
    ]
    got = _keys(objs, tmp_path)
    assert got["shop/api-7c9d8b6f5-x4kzp"] == "shop/api[Deployment]"
    assert got["shop/odd-1"] == "shop/odd-rs[ReplicaSet]"
    assert got["shop/nohash-1"] == "shop/nohash-5d4f[ReplicaSet]"


def test_replicaset_present_names_its_deployment(tmp_path: Path) -> None:
    objs = [
        namespace("shop"),
        _rs("web-abc", "frontend"),  # named unlike its Deployment: the object decides
        _rs("lonely-1", None),
        _owned("shop/web-abc-1", "ReplicaSet", "web-abc", **{"pod-template-hash": "abc"}),
        _owned("shop/lonely-1-z", "ReplicaSet", "lonely-1", **{"pod-template-hash": "1"}),
    ]
    got = _keys(objs, tmp_path)
    assert got["shop/web-abc-1"] == "shop/frontend[Deployment]"
    assert got["shop/lonely-1-z"] == "shop/lonely-1[ReplicaSet]"


def test_kinds_bare_pods_and_host_network(tmp_path: Path) -> None:
    host = pod("kube-system/kube-proxy-a", "172.18.0.2", host_network=True, node="n1")
    objs = [
        namespace("shop"),
        namespace("kube-system"),
        _owned("shop/db-0", "StatefulSet", "db"),
        _owned("shop/agent-x", "DaemonSet", "agent"),
        _owned("shop/export-28000000-q", "Job", "export-28000000"),
        pod("shop/debug", "10.1.0.7"),
        host,
    ]
    got = _keys(objs, tmp_path)
    assert got["shop/db-0"] == "shop/db[StatefulSet]"
    assert got["shop/agent-x"] == "shop/agent[DaemonSet]"
    # no CronJob object in the input: the Job stays a Job
    assert got["shop/export-28000000-q"] == "shop/export-28000000[Job]"
    assert got["shop/debug"] == "shop/debug[Pod]"
    assert got["kube-system/kube-proxy-a"] == "n1[Node]"


def test_example_cluster_groups() -> None:
    from netpol_doctor.snapshot import load_snapshot

    snap = load_snapshot([EXAMPLES])
    pods = [p for p in snap.pods if not p.finished]
    refs, _ = group_pods(snap, pods)
    keys = {r.key for r in refs}
    assert {
        "shop/api[Deployment]",
        "monitoring/prometheus[StatefulSet]",
        "batch/ledger-export[CronJob]",
        "kind-worker[Node]",
    } <= keys
