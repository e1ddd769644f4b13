"""When the data plane decides, not the policies: Multus secondary addresses (NP-98)
and the AWS VPC CNI agent's port-entry limit (CNI-10). Real CLI runs on the manifests
in tests/cases/manifests, goldens of the first screen, and the annotation reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import namespace, pod, policy, snapshot_of
from netpol_doctor.analysis.dataplane import collapse_ports
from netpol_doctor.diagnose import diagnose
from netpol_doctor.inputs.multus import read
from netpol_doctor.model import Protocol
from netpol_doctor.policy.aws_limits import ENTRY_LIMIT, may_overflow
from netpol_doctor.snapshot import load_snapshot
from test_cli import run
from test_golden import _check

MANIFESTS = Path(__file__).parent / "cases" / "manifests"
MULTUS = MANIFESTS / "multus-nccl.yaml"
AWS = MANIFESTS / "aws-port-limit.yaml"
#: what an operator sees before scrolling
SCREEN = 24

STATUS = "k8s.v1.cni.cncf.io/network-status"
NETWORKS = "k8s.v1.cni.cncf.io/networks"


def _screen(text: str) -> str:
    return "\n".join(text.splitlines()[:SCREEN]) + "\n"


def test_multus_nccl_question_on_the_command_line(update_golden: bool) -> None:
    args = ("worker-ns/worker-1", "ip/192.168.100.11", "--port", "29500", "--snapshot")
    r = run("diagnose", *args, str(MULTUS))
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()[:2]
    assert first.startswith("ALLOWED  worker-ns/worker-1 -> worker-ns/worker-0 net1")
    assert "not subject to NetworkPolicy" in second
    _check("diagnose-multus-nccl.txt", _screen(r.stdout), update_golden)
    data = json.loads(run("diagnose", *args, str(MULTUS), "--output", "json").stdout)
    assert (data["verdict"], data["policy_verdict"]) == ("allowed", "denied")
    assert data["overridden_by"] == "secondary-network"
    assert data["secondary_network"]["pod"] == "worker-ns/worker-0"
    assert data["secondary_network"]["interface"] == "net1"
    top = data["findings"][0]
    assert (top["id"], top["decides"]) == ("secondary-network", True)
    assert "RDMA" in top["message"] and "MTU" in top["message"]
    # What the policies say keeps its findings, but no policy edit is the cure.
    rest = [f for f in data["findings"][1:] if f["id"] == "egress-not-allowed"]
    assert rest and all(not f["decides"] and f["fix"] is None for f in rest)


def test_aws_port_past_the_limit_on_the_command_line(update_golden: bool) -> None:
    args = ("shop/trainer", "shop/api", "--port", "8029", "--snapshot", str(AWS))
    r = run("diagnose", *args)
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith("UNKNOWN  shop/trainer -> shop/api  TCP 8029")
    assert "TCP 8000-8029 (30 ports)" in r.stdout
    assert "ports[0-28] TCP 8000-8028 (29 ports)" in r.stdout
    assert "ports[3] " not in r.stdout  # the 30 near-identical lines are one
    _check("diagnose-aws-port-limit.txt", _screen(r.stdout), update_golden)
    data = json.loads(run("diagnose", *args, "--output", "json").stdout)
    assert (data["verdict"], data["policy_verdict"]) == ("unknown", "allowed")
    top = data["findings"][0]
    assert (top["id"], top["decides"]) == ("aws-vpc-cni-port-limit", True)
    # The web front end has one entry of its own: certain, and not decided by the limit.
    web = run("diagnose", "shop/web", "shop/api", "--port", "8080", "--snapshot", str(AWS))
    assert web.returncode == 0 and web.stdout.startswith("ALLOWED")
    # matrix says the same for the pair.
    m = run("matrix", "--port", "8029", "--snapshot", str(AWS), "--output", "json")
    assert m.returncode in (0, 1, 3), m.stderr
    assert '"shop/trainer"' in m.stdout


def test_malformed_annotations_are_input_problems(tmp_path: Path) -> None:
    bad = pod("ml/bad", "10.0.0.9", app="w")
    bad["metadata"]["annotations"] = {STATUS: '[{"name": "ml/rdma", "ips": ["999.1.1.1"]}, 7]'}
    worse = pod("ml/worse", "10.0.0.8", app="w")
    worse["metadata"]["annotations"] = {STATUS: "{not json", NETWORKS: "a@b@c, x/y/z"}
    snap = snapshot_of(tmp_path, [namespace("ml"), bad, worse, pod("ml/ok", "10.0.0.7", app="w")])
    problems = [(p.objects[0].name, p.field or "", p.message) for p in snap.problems]
    assert ("bad", f'metadata.annotations["{STATUS}"][0]') in [(a, b) for a, b, _ in problems]
    messages = " | ".join(m for _, _, m in problems)
    assert "'999.1.1.1' is not an IP address" in messages
    assert "is not a JSON object" in messages
    assert "is not valid JSON" in messages
    assert "is not [namespace/]name" in messages
    # Each problem names its file and line (the loader adds them), and nothing crashed.
    assert all(p.objects[0].name in ("bad", "worse") for p in snap.problems if p.field)
    d = diagnose(snap, "ml/bad", "ml/worse", 80)
    assert d.verdict.value == "allowed"


@pytest.mark.parametrize(
    ("annotations", "networks"),
    [
        # network-status is what Multus wired; it wins over the request
        (
            {
                STATUS: json.dumps(
                    [
                        {"name": "cbr0", "interface": "eth0", "ips": ["10.0.0.1"], "default": True},
                        {"name": "ml/rdma", "interface": "net1", "ips": ["192.168.1.1"]},
                    ]
                ),
                NETWORKS: "other",
            },
            [("cbr0", "eth0", ["10.0.0.1"], True), ("ml/rdma", "net1", ["192.168.1.1"], False)],
        ),
        # the request, text form: [namespace/]name[@interface]
        (
            {NETWORKS: "rdma@net1, infra/sriov"},
            [("ml/rdma", "net1", [], False), ("infra/sriov", None, [], False)],
        ),
        # the request, JSON form, with a static address carrying its prefix length
        (
            {NETWORKS: '[{"name": "rdma", "namespace": "infra", "ips": ["192.168.1.5/24"]}]'},
            [("infra/rdma", None, ["192.168.1.5"], False)],
        ),
        # the obsolete spelling of the status annotation
        (
            {"k8s.v1.cni.cncf.io/networks-status": '[{"name": "ml/a", "ips": ["fd00::1"]}]'},
            [("ml/a", None, ["fd00::1"], False)],
        ),
    ],
)
def test_reading_multus_annotations(
    annotations: dict[str, str], networks: list[tuple[str, str | None, list[str], bool]]
) -> None:
    found, problems = read(tuple(sorted(annotations.items())), "ml")
    assert not problems
    got = [(a.network, a.interface, [str(ip) for ip in a.ips], a.default) for a in found]
    assert got == networks


def test_port_runs_collapse() -> None:
    tcp, udp = Protocol.TCP, Protocol.UDP
    entries = [(tcp, n, None) for n in range(8000, 8030)] + [(udp, 53, None), (tcp, 9000, 9100)]
    assert collapse_ports(entries) == "TCP 8000-8029 (30 ports), UDP 53, TCP 9000-9100"
    assert collapse_ports([(tcp, 1, None), (tcp, 2, None), (tcp, 5, None)]) == "TCP 1, TCP 2, TCP 5"


def test_may_overflow_bounds_the_exact_path(tmp_path: Path) -> None:
    ports = [{"port": 1000 + i} for i in range(ENTRY_LIMIT)]
    objs = [namespace("a"), policy("a/p", {"podSelector": {}, "ingress": [{"ports": ports}]})]
    assert not may_overflow(snapshot_of(tmp_path, objs).policies)
    more = [*objs, policy("a/q", {"podSelector": {}, "ingress": [{"ports": [{"port": 1}]}]})]
    assert may_overflow(snapshot_of(tmp_path, more).policies)


def test_manifests_load_clean() -> None:
    for path in (MULTUS, AWS):
        snap = load_snapshot([path])
        assert not [p for p in snap.problems if p.severity.value != "info"], path
