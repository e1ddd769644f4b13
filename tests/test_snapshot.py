"""Loading: kubectl List dumps, typed *List, JSON arrays, template pods, namespaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from builders import namespace, pod, snapshot_of, write
from netpol_doctor import snapshot as snapshot_mod
from netpol_doctor.diagnose import diagnose
from netpol_doctor.snapshot import load_snapshot

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "api"}},
        "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "image": "api:1",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [{"name": "PASSWORD", "value": "hunter2"}],
                    }
                ]
            },
        },
    },
}


def test_fast_yaml_paths_are_used() -> None:
    """yaml-rs for plain documents, libyaml's parser for the rest (docs/yaml.md)."""
    from netpol_doctor import yamlload

    assert snapshot_mod.load_stream is yamlload.load_stream
    assert yamlload._Parser is yaml.cyaml.CParser


def test_kubectl_list_and_typed_list(tmp_path: Path) -> None:
    lst = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [namespace("shop"), pod("shop/a", "10.0.0.1")],
    }
    typed = {
        "apiVersion": "v1",
        "kind": "PodList",
        "items": [{k: v for k, v in pod("shop/b", "10.0.0.2").items() if k != "kind"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(lst))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(typed))
    (tmp_path / "c.json").write_text(json.dumps([pod("shop/c", "10.0.0.3")]))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text(yaml.safe_dump(pod("shop/h", "10.0.0.9")))
    (tmp_path / "notes.txt").write_text("not a manifest")
    snap = load_snapshot([tmp_path])
    assert sorted(p.name for p in snap.pods) == ["a", "b", "c"]
    assert not snap.problems


def test_template_pod_when_no_live_pod(tmp_path: Path) -> None:
    snap = load_snapshot([write(tmp_path, [namespace("shop"), DEPLOY])])
    (tmpl,) = snap.pods
    assert tmpl.is_template and tmpl.template_of is not None
    assert tmpl.template_of.kind == "Deployment"
    assert tmpl.display == "shop/api (template of Deployment shop/api)"
    assert tmpl.ports[0].name == "http"
    diag = diagnose(snap, "shop/api", "shop/api", 8080)
    assert "template-pod" in [f.id for f in diag.findings]


def test_no_template_pod_when_live_pods_exist(tmp_path: Path) -> None:
    live = pod("shop/api-7d-x", "10.0.0.1", app="api")
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "api-7d",
            "namespace": "shop",
            "ownerReferences": [{"kind": "Deployment", "name": "api", "controller": True}],
        },
        "spec": {"replicas": 1, **{k: v for k, v in DEPLOY["spec"].items() if k != "replicas"}},
    }
    snap = load_snapshot([write(tmp_path, [namespace("shop"), DEPLOY, rs, live])])
    assert [p.name for p in snap.pods] == ["api-7d-x"]
    # A workload name resolves to its live pods.
    diag = diagnose(snap, "shop/api", "shop/api-7d-x", 8080)
    assert diag.source.kind == "workload"


def test_secret_env_values_never_enter_the_model(tmp_path: Path) -> None:
    snap = load_snapshot([write(tmp_path, [namespace("shop"), DEPLOY])])
    assert "hunter2" not in repr(snap)


def test_last_applied_annotation_dropped(tmp_path: Path) -> None:
    p = pod("shop/a", "10.0.0.1")
    p["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"secret": "x"}',
        "k8s.v1.cni.cncf.io/networks": "sriov",
    }
    snap = load_snapshot([write(tmp_path, [p])])
    assert dict(snap.pods[0].annotations) == {"k8s.v1.cni.cncf.io/networks": "sriov"}


def test_missing_namespace_is_synthesised_and_reported(tmp_path: Path) -> None:
    snap = load_snapshot([write(tmp_path, [pod("ghost/a", "10.0.0.1")])])
    ns = snap.namespaces["ghost"]
    assert ns.synthesized and ns.label_map == {"kubernetes.io/metadata.name": "ghost"}
    assert [p.id for p in snap.problems] == ["namespace-missing"]


def test_hand_written_namespace_gets_the_name_label(tmp_path: Path) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    snap = load_snapshot([write(tmp_path, [ns])])
    assert snap.namespaces["shop"].label_map == {"kubernetes.io/metadata.name": "shop"}


def test_extended_and_unknown_kinds_are_counted(tmp_path: Path) -> None:
    objs = [
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "c", "namespace": "shop"},
        },
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "g"},
        },
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy",
            "metadata": {"name": "a"},
            "spec": {"priority": 1, "subject": {"namespaces": {}}},  # required by the CRD
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "shop"}},
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e", "namespace": "shop"},
            "reason": "NetworkPolicyDenied",
            "involvedObject": {"kind": "Pod", "name": "a", "namespace": "shop"},
        },
    ]
    snap = load_snapshot([write(tmp_path, objs)])
    assert len(snap.extended) == 3
    assert snap.unknown_kinds == {"ConfigMap": 1}
    assert snap.events[0].reason == "NetworkPolicyDenied"


def test_alternative_sources_are_the_first_pods_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """diagnose's search for a source that would be admitted takes the first usable
    pods by `ns/name` without sorting every pod; namespaces whose names are prefixes
    of others (`a`, `a-b`, `a.b`, `a0`) sort as their keys do."""
    from netpol_doctor import diagnose as diagnose_mod

    monkeypatch.setattr(diagnose_mod, "_ALTERNATIVES_SCANNED", 7)
    names = ["a", "a-b", "a.b", "a0", "ab", "b", "z"]
    objects = [namespace(ns) for ns in names]
    objects += [
        pod(f"{ns}/{name}", f"10.0.{i}.{j + 1}")
        for i, ns in enumerate(names)
        for j, name in enumerate(["web-2", "web-10", "db", "x"])
    ]
    snap = snapshot_of(tmp_path, objects)
    usable = lambda p: not p.name.startswith("x")  # noqa: E731
    for own in names:
        got = diagnose_mod.alternative_candidates(snap, own, usable)
        keys = sorted(p.key for p in snap.pods if usable(p))
        mine = [k for k in keys if k.startswith(f"{own}/")]
        rest = [k for k in keys if not k.startswith(f"{own}/")]
        assert [p.key for p in got] == (mine + rest)[:7], own
