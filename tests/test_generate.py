"""bench/generate.py: the synthetic cluster `make bench` measures is deterministic,
has the sizes asked for, and is valid input (nothing the API server would reject);
and bench/peer.py reads NCA's answers right."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from netpol_doctor.snapshot import Snapshot, load_snapshot

BENCH = Path(__file__).resolve().parent.parent / "bench"
PODS, POLICIES, SEED = 300, 75, 7


def _module(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # peer.py imports generate
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


gen = _module("generate")
peer = _module("peer")


def _generate(out: Path, *extra: str) -> int:
    """bench/generate.py's command line, in-process."""
    sizes = ["--pods", str(PODS), "--policies", str(POLICIES), "--seed", str(SEED)]
    return int(gen.main([*sizes, "--out", str(out), *extra]))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cluster")
    assert _generate(out) == 0
    return out


@pytest.fixture(scope="module")
def snapshot(written: Path) -> Snapshot:
    return load_snapshot([written / "cluster"])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def test_same_seed_same_bytes(written: Path, tmp_path: Path) -> None:
    gen.write_cluster(gen.generate_cluster(PODS, POLICIES, SEED), tmp_path)
    assert _files(tmp_path) == _files(written)
    assert gen.generate(PODS, POLICIES, SEED) == gen.generate(PODS, POLICIES, SEED)


def test_other_seed_other_cluster() -> None:
    assert gen.generate(PODS, POLICIES, SEED) != gen.generate(PODS, POLICIES, SEED + 1)


def test_files_are_kubectl_lists(written: Path) -> None:
    names = sorted(p.name for p in (written / "cluster").iterdir())
    assert names == [
        "daemonsets.json",
        "endpoints.json",
        "namespaces.json",
        "networkpolicies.json",
        "nodes.json",
        "pods.json",
        "services.json",
    ]
    for path in (written / "cluster").iterdir():
        doc = json.loads(path.read_text())
        assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
        assert all(item.get("kind") and item.get("apiVersion") for item in doc["items"])
        assert path.read_text() == json.dumps(doc, indent=4, sort_keys=True) + "\n"


@pytest.mark.parametrize("pods", [300, 1000, 2000])
def test_sizes(pods: int) -> None:
    objects = gen.generate(pods, pods // 4, SEED)
    kinds = Counter(o["kind"] for o in objects)
    assert kinds["Pod"] == pods
    assert kinds["NetworkPolicy"] == pods // 4
    app_namespaces = kinds["Namespace"] - 4  # default, kube-node-lease, kube-public, kube-system
    assert app_namespaces == max(5, round(pods / 100))
    assert kinds["Node"] == max(3, -(-pods // 110))
    replicas = Counter(
        (o["metadata"]["namespace"], o["metadata"]["labels"].get("app"))
        for o in objects
        if o["kind"] == "Pod" and o["metadata"]["namespace"] != "kube-system"
    )
    assert min(replicas.values()) >= 2 and max(replicas.values()) <= 20


def test_snapshot_counts_and_no_input_problems(snapshot: Snapshot) -> None:
    assert len(snapshot.pods) == PODS  # every pod is live: no template pods added
    assert len(snapshot.policies) == POLICIES
    assert not snapshot.rejected_policies
    bad = [f for f in snapshot.problems if f.id == "policy-invalid" or f.id.startswith("input-")]
    assert not bad, [f.message for f in bad]
    assert not [f for f in snapshot.problems if f.id == "namespace-missing"]


def test_pod_network_is_consistent(snapshot: Snapshot) -> None:
    ips = [ip for p in snapshot.pods if not p.host_network for ip in p.ips]
    assert len(ips) == len(set(ips))  # unique pod IPs...
    for p in snapshot.pods:  # ...inside the pod's node's podCIDR, or the node IP itself
        node = snapshot.nodes[p.node_name or ""]
        if p.host_network:
            assert p.ips == node.addresses[:1]
        else:
            assert all(any(ip in cidr for cidr in node.pod_cidrs) for ip in p.ips)


def test_policy_mix(written: Path) -> None:
    items: list[dict[str, Any]] = json.loads(
        (written / "cluster" / "networkpolicies.json").read_text()
    )["items"]
    text = json.dumps(items)
    for needle in ('"endPort"', '"NotIn"', '"Exists"', '"In"', '"except"', '"UDP"', '"http"'):
        assert needle in text, needle
    assert any("policyTypes" not in p["spec"] for p in items)
    assert any(p["spec"].get("policyTypes") == ["Ingress", "Egress"] for p in items)
    assert any(
        peer_.get("namespaceSelector") and peer_.get("podSelector")
        for p in items
        for rule in p["spec"].get("ingress", [])
        for peer_ in rule.get("from", [])
    )


def test_calico_and_cluster_dns_present(snapshot: Snapshot) -> None:
    from netpol_doctor.cni import detect_cni

    assert detect_cni(snapshot).name == "calico"
    assert "kube-system/kube-dns" in snapshot.services
    assert "default/kubernetes" in snapshot.services
    assert any(p.label_map.get("k8s-app") == "kube-dns" for p in snapshot.pods)


def test_yaml_format_reads_the_same(tmp_path: Path, snapshot: Snapshot) -> None:
    assert _generate(tmp_path, "--format", "yaml") == 0
    snap = load_snapshot([tmp_path / "cluster"])
    assert sorted(p.key for p in snap.pods) == sorted(p.key for p in snapshot.pods)
    assert len(snap.policies) == POLICIES


def test_diagnose_answers_a_sampled_question(written: Path, snapshot: Snapshot) -> None:
    questions = json.loads((written / "questions.json").read_text())
    assert 15 <= len(questions) <= 25
    pods = {p.key for p in snapshot.pods}
    for q in questions:
        assert q["src"] in pods
        assert q["dst"] in pods or q["dst"].startswith(("svc/", "ip/"))
    exe = shutil.which("netpol-doctor", path=str(Path(sys.executable).parent))
    assert exe, "netpol-doctor is not installed in this environment"
    for q in (questions[0], questions[-1]):
        cmd = [exe, "diagnose", q["src"], q["dst"], "--port", str(q["port"])]
        cmd += ["--protocol", q["protocol"], "--snapshot", str(written / "cluster")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode in (0, 1, 3), r.stderr


# --- bench/peer.py: reading NCA's txt_no_fw_rules output ------------------------------


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        ("All connections", True),
        ("No connections", False),
        ("{protocols:TCP,dst_ports:8080}", True),
        ("{protocols:TCP,dst_ports:8080,9000}", True),
        ("{protocols:TCP,dst_ports:8000-8099}", True),
        ("{protocols:TCP,dst_ports:9090}", False),
        ("{protocols:UDP,dst_ports:8080}", False),
        ("{protocols:TCP, UDP,dst_ports:53}", False),
        ("{protocols:TCP, UDP,dst_ports:53,8080}", True),
        ("{protocols:UDP},{protocols:TCP,dst_ports:8080}", True),
        ("{protocols:TCP}", True),
        ("{dst_ports:8080}", True),
        ("All but {protocols:TCP,dst_ports:8080}", False),
        ("All but {protocols:UDP}", True),
        ("{protocols:all but UDP,dst_ports:1-9000}", True),
    ],
)
def test_nca_connection_text(conn: str, expected: bool) -> None:
    assert peer.conn_allows(conn, "TCP", 8080) is expected


def test_nca_representatives_and_answers() -> None:
    def pod(name: str, owner: str, **labels: str) -> dict[str, Any]:
        meta = {
            "name": name,
            "namespace": "ns",
            "labels": labels,
            "ownerReferences": [{"kind": "ReplicaSet", "name": owner}],
        }
        return {"kind": "Pod", "metadata": meta}

    pods = [pod(f"a-{i}", "a-1", app="a") for i in range(4)] + [pod("b-0", "b-1", app="b")]
    reps = peer.nca_representatives(pods)
    assert reps["ns/a-3"] == ("ns/a-0", "ns/a-1")
    assert reps["ns/b-0"] == ("ns/b-0",)
    text = "ns/a-0 => ns/a-1 : All connections\nns/a-1 => ns/b-0 : {protocols:UDP}\n"
    connected = peer.parse_nca(text)
    assert peer.nca_answer(connected, reps, "ns/a-2", "ns/a-3") is True  # rep 1 -> rep 2
    assert peer.nca_answer(connected, reps, "ns/a-2", "ns/b-0") is False  # rep 1 -> b: absent


# --- the diverse shape and the stream format ---------------------------------------------

shapes = _module("shapes")
D_PODS, D_NS = 600, 8


@pytest.fixture(scope="module")
def diverse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diverse")
    args = ["--shape", "diverse", "--pods", str(D_PODS), "--namespaces", str(D_NS)]
    args += ["--policies-per-namespace", "12", "--label-diversity", "2", "--seed", str(SEED)]
    assert gen.main([*args, "--out", str(out)]) == 0
    return out


def test_diverse_is_deterministic_and_sized(diverse: Path, tmp_path: Path) -> None:
    again = gen.make_cluster("diverse", D_PODS, 12 * D_NS, SEED, D_NS, 2)
    gen.write_cluster(again, tmp_path)
    assert _files(tmp_path) == _files(diverse)
    assert shapes.generate_diverse(D_PODS, 96, SEED + 1, D_NS, 2).files != again.files
    kinds = Counter(o["kind"] for o in again.objects)
    assert kinds["Pod"] == D_PODS
    assert kinds["NetworkPolicy"] == 12 * D_NS
    assert kinds["Namespace"] == D_NS + 4
    per_ns = Counter(
        o["metadata"]["namespace"] for o in again.objects if o["kind"] == "NetworkPolicy"
    )
    assert set(per_ns.values()) == {12}


def test_diverse_labels_and_selectors(diverse: Path) -> None:
    snap = load_snapshot([diverse / "cluster"])
    assert len(snap.pods) == D_PODS and len(snap.policies) == 12 * D_NS
    assert not snap.rejected_policies
    bad = [f for f in snap.problems if f.id == "policy-invalid" or f.id.startswith("input-")]
    assert not bad, [f.message for f in bad]
    app_pods = [p for p in snap.pods if p.namespace != "kube-system"]
    base = {"app", "tier", "track", "version", "pod-template-hash"}
    assert all(len(p.label_map) == len(base) + 2 and base <= set(p.label_map) for p in app_pods)
    versions = {p.label_map["version"] for p in app_pods}
    assert len(versions) > len(app_pods) // 20  # diverse, and read by no policy
    pod_keys: set[str] = set()
    ns_keys: set[str] = set()
    for pol in snap.policies:
        pod_keys |= {r.key for r in pol.pod_selector.requirements}
        for rule in (*pol.ingress, *pol.egress):
            for peer_ in rule.peers or ():
                if peer_.pod_selector is not None:
                    pod_keys |= {r.key for r in peer_.pod_selector.requirements}
                if peer_.namespace_selector is not None:
                    ns_keys |= {r.key for r in peer_.namespace_selector.requirements}
    assert pod_keys == {"app", "tier", "track", "k8s-app"}  # k8s-app: the DNS egress
    assert ns_keys == {"team", "env", "kubernetes.io/metadata.name"}


def test_stream_format_reads_the_same(tmp_path: Path, snapshot: Snapshot) -> None:
    assert _generate(tmp_path, "--format", "stream") == 0
    files = sorted(p.name for p in (tmp_path / "cluster").iterdir())
    assert files == ["manifests.yaml"]
    text = (tmp_path / "cluster" / "manifests.yaml").read_text()
    assert text.startswith("---\n# Source: ")
    assert text.count("\n---\n") + 1 == sum(
        len(v) for v in gen.generate_cluster(PODS, POLICIES, SEED).files.values()
    )
    snap = load_snapshot([tmp_path / "cluster"])
    assert [p.key for p in snap.pods] == [p.key for p in snapshot.pods]
    names = sorted((p.namespace, p.ref.name) for p in snap.policies)
    assert names == sorted((p.namespace, p.ref.name) for p in snapshot.policies)


def test_generate_cli_rejects_mixed_options(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        gen.main(["--pods", "300", "--out", str(tmp_path)])  # --policies missing
    assert (
        gen.main(["--pods", "300", "--policies", "10", "--namespaces", "5", "--out", str(tmp_path)])
        == 2
    )
