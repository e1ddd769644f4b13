"""Live reads against a real HTTPS server on 127.0.0.1 speaking the Kubernetes API
(tests/fakeapi.py), through the official `kubernetes` client and a generated
kubeconfig; the CLI runs as a subprocess against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fakeapi import FakeApiServer, load_manifests
from netpol_doctor.diagnose import diagnose
from netpol_doctor.live import ClusterError, Scope, collect, save, strip_sensitive, to_snapshot
from netpol_doctor.snapshot import load_snapshot
from test_cli import EXAMPLES, run

QUESTIONS = [
    ("monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090, "TCP"),
    ("shop/frontend-6b8f9c7d4-x2vqp", "svc/shop/api", 80, "TCP"),
    ("payments/payments-api-5f6d7c8b9-r7vzl", "kube-system/coredns-674b8bbfcf-7xk2p", 53, "TCP"),
    ("payments/payments-api-5f6d7c8b9-tq8wn", "shop/db-0", 5432, "TCP"),
    ("shop/api-7c9d8b6f5-x4kzp", "apiserver", None, "TCP"),
]


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with FakeApiServer(load_manifests(EXAMPLES)) as srv:
        yield srv


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    server.write_kubeconfig(path)
    return str(path)


def _cli(kubeconfig: str, *args: str):  # type: ignore[no-untyped-def]
    return run(*args, "--kubeconfig", kubeconfig)


def test_live_and_offline_verdicts_agree(server: FakeApiServer, kubeconfig: str) -> None:
    offline = load_snapshot([EXAMPLES])
    live = to_snapshot(collect(Scope(None), kubeconfig))
    for src, dst, port, _ in QUESTIONS:
        a = diagnose(offline, src, dst, port)
        b = diagnose(live, src, dst, port)
        assert a.verdict == b.verdict, (src, dst)
        assert [f.id for f in a.findings] == [f.id for f in b.findings], (src, dst)


def test_only_get_requests_for_every_command(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    commands = [
        ("diagnose", "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", "--port", "9090"),
        ("diagnose", "shop/api-7c9d8b6f5-x4kzp", "dns"),
        ("pod", "shop/api-7c9d8b6f5-x4kzp"),
        ("matrix", "--port", "8080", "-n", "shop"),
        ("check",),
        ("snapshot", "save", str(tmp_path / "snap")),
    ]
    for args in commands:
        r = _cli(kubeconfig, *args)
        assert r.returncode in (0, 1, 3), (args, r.stderr)
        assert "Traceback" not in r.stderr
    methods = {req.method for req in server.requests}
    assert methods == {"GET"}
    assert len(server.requests) > 20


def test_diagnose_reads_only_the_namespaces_it_needs(
    server: FakeApiServer, kubeconfig: str
) -> None:
    r = _cli(
        kubeconfig,
        "diagnose",
        "monitoring/prometheus-0",
        "shop/api-7c9d8b6f5-x4kzp",
        "--port",
        "9090",
        "-o",
        "json",
    )
    assert json.loads(r.stdout)["verdict"] == "denied"
    paths = [req.path for req in server.requests]
    assert not any("/namespaces/payments/" in p for p in paths), paths
    assert not any(p.endswith("/pods") and "/namespaces/" not in p for p in paths)


def test_pagination_is_followed(kubeconfig: str) -> None:
    with FakeApiServer(load_manifests(EXAMPLES), max_page=3) as small:
        cfg = Path(kubeconfig).with_name("small")
        small.write_kubeconfig(cfg)
        got = collect(Scope(None), str(cfg))
    pods = [o for o in got.objects if o["kind"] == "Pod"]
    assert len(pods) == 22
    assert any("continue" in req.query for req in small.requests)


def test_forbidden_list_becomes_unknown_and_survives_save(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    server.forbidden.add(("networkpolicies", "shop"))
    server.forbidden.add(("networkpolicies", None))
    collection = collect(Scope(frozenset({"shop", "monitoring"})), kubeconfig)
    assert ("networkpolicies", "shop") in collection.gaps
    live = to_snapshot(collection)
    d = diagnose(live, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
    assert d.verdict.value == "unknown"
    assert "reads-forbidden" in [f.id for f in d.findings]
    assert any(p.id == "reads-forbidden" and "shop" in p.message for p in live.problems)
    save(collection, str(tmp_path / "snap"))
    offline = load_snapshot([tmp_path / "snap"])
    d2 = diagnose(offline, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
    assert d2.verdict.value == "unknown"
    r = run(
        "diagnose",
        "monitoring/prometheus-0",
        "shop/api-7c9d8b6f5-x4kzp",
        "--port",
        "9090",
        "--snapshot",
        str(tmp_path / "snap"),
    )
    assert r.returncode == 3
    assert "could not read networkpolicies in namespace shop" in r.stderr


def test_missing_api_group_is_normal(server: FakeApiServer, kubeconfig: str) -> None:
    collection = collect(Scope(None), kubeconfig)
    assert not collection.gaps
    assert not any(o["kind"].startswith("Cilium") for o in collection.objects)


def test_extended_kinds_are_discovered_and_read(kubeconfig: str, tmp_path: Path) -> None:
    cnp = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "l7", "namespace": "shop"},
        "spec": {"endpointSelector": {}},
    }
    with FakeApiServer([*load_manifests(EXAMPLES), cnp]) as srv:
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
        snap = to_snapshot(collect(Scope(None), str(cfg)))
    assert [x.ref.name for x in snap.extended] == ["l7"]
    d = diagnose(snap, "shop/frontend-6b8f9c7d4-x2vqp", "shop/api-7c9d8b6f5-x4kzp", 8080)
    # the example cluster runs Calico, which does not enforce Cilium's kinds
    assert d.verdict.value == "allowed"
    assert "policy-not-enforced" in [f.id for f in d.findings]


@pytest.mark.parametrize("fault", ["rate_limit_once", "server_error_once", "expire_continue"])
def test_transient_faults_are_retried(fault: str, tmp_path: Path) -> None:
    with FakeApiServer(load_manifests(EXAMPLES), max_page=5) as srv:
        getattr(srv, fault).add("pods")
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
        got = collect(Scope(None), str(cfg))
    assert not got.gaps
    assert len([o for o in got.objects if o["kind"] == "Pod"]) == 22


def test_bad_credentials_one_sentence_exit_2(server: FakeApiServer, tmp_path: Path) -> None:
    cfg = tmp_path / "bad"
    server.write_kubeconfig(cfg, token="expired")
    r = run("diagnose", "a/b", "c/d", "--port", "80", "--kubeconfig", str(cfg))
    assert r.returncode == 2
    assert "401" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unreachable_server_and_wrong_context(tmp_path: Path) -> None:
    with FakeApiServer([]) as srv:
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
    # the server is gone now
    r = run("diagnose", "a/b", "c/d", "--port", "80", "--kubeconfig", str(cfg))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cannot reach the API server" in r.stderr
    r2 = run(
        "diagnose", "a/b", "c/d", "--port", "80", "--kubeconfig", str(cfg), "--context", "nope"
    )
    assert r2.returncode == 2 and "Traceback" not in r2.stderr
    assert "nope" in r2.stderr
    with pytest.raises(ClusterError):
        collect(Scope(None), str(cfg), "nope")


def test_snapshot_save_round_trips_and_strips_secrets(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    out = tmp_path / "snap"
    r = _cli(kubeconfig, "snapshot", "save", str(out))
    assert r.returncode == 0, r.stderr
    text = "\n".join(p.read_text() for p in out.glob("*.yaml"))
    assert "last-applied-configuration" not in text
    assert "managedFields" not in text
    assert "kind: Secret" not in text
    offline = load_snapshot([out])
    original = load_snapshot([EXAMPLES])
    assert not offline.problems
    for src, dst, port, _ in QUESTIONS:
        assert (
            diagnose(offline, src, dst, port).verdict == diagnose(original, src, dst, port).verdict
        )


def test_strip_sensitive_removes_env_values() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "managedFields": [{}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "x"},
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "env": [
                        {"name": "PASSWORD", "value": "hunter2"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    ],
                    "envFrom": [{"secretRef": {"name": "s"}}],
                }
            ]
        },
    }
    out = strip_sensitive(pod)
    assert out is not None
    dumped = yaml.safe_dump(out)
    assert "hunter2" not in dumped and "secretKeyRef" not in dumped and "envFrom" not in dumped
    assert out["spec"]["containers"][0]["env"] == [{"name": "PASSWORD"}, {"name": "TOKEN"}]
    assert out["metadata"]["annotations"] == {"keep": "x"}
    assert strip_sensitive({"kind": "Secret", "metadata": {"name": "s"}}) is None
