"""`triage`: table-driven cases (tests/triage_cases/) through the real loader, and the
command end to end (alert payloads on stdin, --service, outputs, bad input)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import namespace, node, pod, service, snapshot_of, write
from netpol_doctor.analysis.triage import Need, triage_pod
from netpol_doctor.cni import CniInfo, detect_cni, profile_named
from netpol_doctor.engine import Verdict
from netpol_doctor.inputs.alerts import parse_alerts
from test_cases import _expand
from test_cli import run

CASES = sorted((Path(__file__).parent / "triage_cases").glob("*.yaml"))


def _api_pod(automount: bool = True) -> dict[str, Any]:
    env = [
        {"name": "DATABASE_URL", "value": "postgres://app:hunter2@db.shop.svc.cluster.local/app"},
        {"name": "LOG_LEVEL", "value": "info"},
    ]
    container = {
        "name": "api",
        "image": "example/api",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "env": env,
    }
    spec: dict[str, Any] = {"nodeName": "node-1", "containers": [container]}
    if not automount:
        spec["automountServiceAccountToken"] = False
    status = {"phase": "Running", "podIP": "10.0.0.10", "podIPs": [{"ip": "10.0.0.10"}]}
    meta = {"name": "api", "namespace": "shop", "labels": {"app": "api"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _web_pod() -> dict[str, Any]:
    web = pod("shop/web", "10.0.0.12", labels={"app": "web"})
    web["spec"]["containers"][0]["env"] = [{"name": "API_URL", "value": "http://api:80"}]
    return web


def base(automount: bool = True) -> list[dict[str, Any]]:
    return [
        namespace("default"),
        namespace("kube-system"),
        namespace("shop"),
        node("node-1", "172.18.0.2", "10.0.0.0/24"),
        node("cp", "172.18.0.3", "10.0.1.0/24"),  # the API server: not the pod's own node
        pod("kube-system/coredns", "10.0.0.2", labels={"k8s-app": "kube-dns"},
            ports=["dns:53/UDP", "dns-tcp:53/TCP"]),
        service("kube-system/kube-dns", {"k8s-app": "kube-dns"}, [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ]),
        service("default/kubernetes", None, [{"name": "https", "port": 443, "targetPort": 6443}]),
        {"apiVersion": "v1", "kind": "Endpoints",
         "metadata": {"name": "kubernetes", "namespace": "default"},
         "subsets": [{"addresses": [{"ip": "172.18.0.3"}],
                      "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]},
        _api_pod(automount),
        service("shop/api", {"app": "api"}, [{"port": 80, "targetPort": "http"}]),
        pod("shop/db", "10.0.0.11", labels={"app": "db"}, ports=["pg:5432/TCP"]),
        service("shop/db", {"app": "db"}, [{"port": 5432, "targetPort": 5432}]),
        _web_pod(),
    ]  # fmt: skip


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_triage_case(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    assert case.get("description") and case.get("rules"), path.name
    objects = base(case.get("automount", True)) + [_expand(o) for o in case["objects"]]
    snap = snapshot_of(tmp_path, objects)
    cni = CniInfo(profile_named(case["cni"]), forced=True) if case.get("cni") else detect_cni(snap)
    t = triage_pod(snap, "shop/api", cni)
    expect = case["expect"]
    summary = [(i.need.value, i.what, i.verdict.value) for i in t.items]
    assert t.verdict.value == expect["verdict"], summary
    needs = {i.need.value for i in t.items}
    assert set(expect.get("needs", [])) <= needs, summary
    assert not set(expect.get("absent", [])) & needs, summary
    first = t.first_failure
    if expect["verdict"] == "allowed":
        assert first is None, summary
        return
    assert first is not None and first.need.value == expect["first"], summary
    ids = [f.id for f in first.deciding]
    assert set(expect.get("findings", [])) <= set(ids), ids
    # the first lines name the deciding object
    assert first.deciding and first.deciding[0].objects, ids


def test_env_reading_keeps_no_secret(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, base())
    api = snap.pods_by_key["shop/api"]
    assert api.env_targets == (("DATABASE_URL", "db.shop.svc.cluster.local", "5432"),)
    assert "hunter2" not in repr(api)
    assert api.health_probes == (
        ("readiness", "httpGet", "http"),
        ("liveness", "tcpSocket", "8080"),
    )


def test_checklist_order_follows_the_runbook(tmp_path: Path) -> None:
    t = triage_pod(snapshot_of(tmp_path, base()), "shop/api", CniInfo(profile_named("calico")))
    assert [i.need for i in t.items] == [
        Need.PROBE, Need.PROBE, Need.DNS, Need.APISERVER, Need.DEPENDENCY, Need.CLIENT,
    ]  # fmt: skip
    assert t.verdict is Verdict.ALLOWED
    assert "readiness" in t.items[0].what


_PAYLOAD = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "KubePodNotReady", "namespace": "shop",
                                        "pod": "api", "severity": "warning"}},
        {"status": "resolved", "labels": {"alertname": "KubePodNotReady", "namespace": "shop",
                                          "pod": "web"}},
    ],
}  # fmt: skip


def _dns_blocked(tmp_path: Path) -> Path:
    case = yaml.safe_load((Path(__file__).parent / "triage_cases" / "dns-blocked.yaml").read_text())
    return write(tmp_path, base() + [_expand(o) for o in case["objects"]])


def test_alert_payload_on_stdin_text(tmp_path: Path) -> None:
    import subprocess

    from test_cli import _exe

    snap = _dns_blocked(tmp_path)
    r = subprocess.run(
        [*_exe(), "triage", "-", "--snapshot", str(snap)],
        input=json.dumps(_PAYLOAD), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "triage shop/api (KubePodNotReady)"
    assert lines[1].startswith("NetworkPolicy IS the cause: DNS")
    assert "shop/api-egress" in lines[2]
    assert "shop/web" not in lines[0]  # the resolved alert is skipped


def test_json_and_markdown(tmp_path: Path) -> None:
    snap = str(_dns_blocked(tmp_path))
    r = run("triage", "--pod", "shop/api", "--snapshot", snap, "-o", "json")
    data = json.loads(r.stdout)["triage"][0]
    assert data["policy_is_cause"] == "yes"
    assert data["first_failure"]["need"] == "dns"
    assert data["items"][0]["need"] == "dns"
    md = run("triage", "--pod", "shop/api", "--snapshot", snap, "-o", "markdown").stdout
    assert md.startswith("## netpol-doctor triage: `shop/api`")
    assert "| BLOCKED | dns |" in md


def test_service_triage(tmp_path: Path) -> None:
    snap = str(write(tmp_path, base()))
    r = run("triage", "--service", "shop/api", "--snapshot", snap, "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["triage"][0]
    assert data["subject"] == "svc/shop/api" and data["policy_is_cause"] == "no"
    assert {i["need"] for i in data["items"]} == {"probe", "client"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "payload.json: not JSON"),
        ('{"alerts": [{"labels": {"alertname": "X"}}]}', "no firing alert names a pod"),
        ('{"alerts": [1]}', "alerts[0] has no labels mapping"),
    ],
)
def test_bad_payload_is_one_sentence(tmp_path: Path, text: str, said: str) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(text)
    snap = str(write(tmp_path, base()))
    r = run("triage", str(payload), "--snapshot", snap)
    assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr


def test_parse_alerts_shapes() -> None:
    one = parse_alerts('{"namespace": "shop", "service": "api", "alertname": "S"}', "x")
    assert [(t.kind, t.key) for t in one] == [("service", "shop/api")]


@pytest.mark.parametrize(
    "containers",
    [
        "not a list",
        [1, None, "x"],
        [{"env": "FOO=bar", "readinessProbe": []}],
        [{"env": [{"name": 3, "value": "http://x"}, {"name": "A_URL", "value": 5}]}],
        [{"readinessProbe": {"httpGet": {"port": True}}, "livenessProbe": {"grpc": "x"}}],
        [{"env": [{"name": "DB_URL", "value": "postgres://[::1"}]}],  # a broken URL
    ],
)
def test_pod_needs_never_crash_on_odd_specs(containers: Any) -> None:
    from netpol_doctor.inputs.pod_needs import env_targets, health_probes

    assert env_targets(containers) == ()
    assert health_probes(containers) == ()


def test_env_address_forms() -> None:
    from netpol_doctor.inputs.pod_needs import env_targets

    env = [
        {"name": "API", "value": "http://$(API_SERVICE_HOST):$(API_SERVICE_PORT)/v1"},
        {"name": "CACHE_ADDR", "value": "redis:6379"},
        {"name": "PEERS", "value": "10.0.0.7:7000,10.0.0.8:7000"},
        {"name": "GREETING", "value": "hello"},  # not a host-ish name: not an address
        {"name": "HTTPS_URL", "value": "https://user:pw@pay.payments.svc/x?token=s3cret"},
    ]
    got = env_targets([{"env": env}])
    assert got == (
        ("API", "api", ""),
        ("CACHE_ADDR", "redis", "6379"),
        ("PEERS", "10.0.0.7", "7000"),
        ("PEERS", "10.0.0.8", "7000"),
        ("HTTPS_URL", "pay.payments.svc", "443"),
    )
    assert "s3cret" not in repr(got) and "pw" not in repr(got)


# --- evidence: who the pod talks to, from a flow log or a contract -------------------------

FLOWS = Path(__file__).parent / "data" / "flows"
WEB = "shop/web-5d8f7c6b9-x2vqp"


def test_flows_add_what_the_log_saw(tmp_path: Path) -> None:
    """The log saw web -> db:5432 dropped; web's env does not name db. With --flows the
    dependency is checked (and blocked by shop/db-ingress); without, it is not there."""
    cluster = str(FLOWS / "cluster.yaml")
    r = run("triage", "--pod", WEB, "--snapshot", cluster, "--flows", str(FLOWS / "hubble.jsonl"))
    assert r.returncode == 1, r.stderr
    first = r.stdout.splitlines()[1]
    assert first.startswith("NetworkPolicy IS the cause: shop/db port 5432/TCP"), first
    assert "seen in the flow log: 2 dropped" in first
    assert "NetworkPolicy shop/db-ingress" in r.stdout
    assert "1 line is not flow records (line 10:" in r.stderr  # the sample's broken line
    without = run("triage", "--pod", WEB, "--snapshot", cluster, "-o", "json")
    assert "shop/db" not in without.stdout


def _contract(tmp_path: Path) -> str:
    path = tmp_path / "contract.yaml"
    path.write_text(
        "flows:\n"
        "  - name: web uses db\n"
        "    from: {namespace: shop, pods: {app: web}}\n"
        "    to: {namespace: shop, pods: {app: db}}\n"
        "    port: 5432\n"
        "    expect: allowed\n"
        "  - name: nobody else reaches db\n"  # a denied flow is no need
        "    from: {namespace: monitoring}\n"
        "    to: {namespace: shop, pods: {app: db}}\n"
        "    port: 5432\n"
        "    expect: denied\n"
    )
    return str(path)


def test_contract_flows_are_needs_both_ways(tmp_path: Path) -> None:
    cluster = str(FLOWS / "cluster.yaml")
    contract = _contract(tmp_path)
    web = run("triage", "--pod", WEB, "--snapshot", cluster, "--contract", contract, "-o", "json")
    items = json.loads(web.stdout)
    text = json.dumps(items)
    assert "shop/db port 5432/TCP (contract flow web uses db" in text, text
    assert web.returncode == 1
    db = run("triage", "--pod", "shop/db-0", "--snapshot", cluster, "--contract", contract)
    assert "client shop/web port 5432/TCP (contract flow web uses db" in db.stdout, db.stdout
    assert "monitoring" not in db.stdout  # expect: denied is not a need
    assert db.returncode == 1
