"""The direction lines tell what decided each direction, whichever family decided it
(admin tiers, Calico, Cilium, NetworkPolicy): never "ingress: allowed" under a `DENIED`
headline. With the plugin unknown, admin-tier policies make an answer unknown only when
they could change it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import namespace, pod, policy, snapshot_of
from netpol_doctor.cni import CniInfo, profile_named
from netpol_doctor.diagnose import diagnose
from netpol_doctor.engine import Verdict
from netpol_doctor.errors import NetpolDoctorError
from netpol_doctor.model import Protocol
from netpol_doctor.render.structured import diagnosis_dict
from netpol_doctor.render.text import render_diagnosis
from test_cases import CASES, _expand
from test_cilium import CASES as CILIUM_CASES
from test_cilium import _expand as _cilium_expand

ANP = "policy.networking.k8s.io/v1alpha1"


def _cni(name: str | None) -> CniInfo | None:
    return CniInfo(profile_named(name), forced=True) if name else None


def _anp(name: str, priority: int, subject: dict[str, Any], **rules: Any) -> dict[str, Any]:
    spec = {"priority": priority, "subject": subject, **rules}
    return {
        "apiVersion": ANP,
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def _ns(name: str) -> dict[str, Any]:
    return {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _lines(text: str) -> dict[str, str]:
    """The direction line under each "Egress from" / "Ingress to" heading."""
    lines = text.split("\n")
    out = {}
    for i, line in enumerate(lines):
        for word in ("Egress", "Ingress"):
            if line.startswith(f"{word} ") and i + 1 < len(lines):
                out.setdefault(word.lower(), lines[i + 1].strip())
    return out


def _check_consistent(diag: Any, where: object) -> None:
    """Each pair's verdict is what its two direction lines say (text and JSON)."""
    doc = diagnosis_dict(diag, [])
    for pair in doc["pairs"]:
        if pair["egress"] is None:
            continue
        sides = [pair["egress"], pair["ingress"]]
        for side in sides:
            v, summary = side["verdict"], side["summary"]
            assert ("DENIED" in summary) == (v == "denied"), (where, summary, v)
            if v != "allowed":
                assert ": allowed" not in summary, (where, summary, v)
        verdicts = {s["verdict"] for s in sides}
        combined = (
            "denied" if "denied" in verdicts else "unknown" if "unknown" in verdicts else "allowed"
        )
        if pair["verdict"] == "unknown" and combined == "allowed":
            continue  # a family not evaluated may still deny (extended-policies-present)
        assert combined == pair["verdict"], (where, pair["verdict"], sides)
    main = [s for s in (doc["egress"], doc["ingress"]) if s is not None]
    text = _lines(render_diagnosis(diag))
    for side in main:
        word = "egress" if side is doc["egress"] else "ingress"
        assert text.get(word) == side["summary"], (where, text, side["summary"])


def _case_questions() -> list[Any]:
    out = []
    for path in [*CASES, *CILIUM_CASES]:
        out.append(pytest.param(path, id=f"{path.parent.name}/{path.stem}"))
    return out


@pytest.mark.parametrize("path", _case_questions())
def test_direction_lines_match_the_verdict_on_every_case(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    expand = _cilium_expand if path in CILIUM_CASES else _expand
    snap = snapshot_of(tmp_path, [expand(o) for o in case["objects"]])
    default = "cilium" if path in CILIUM_CASES else None
    plugins = {case.get("cni", default), None, "calico", "cilium", "antrea"}
    for plugin in plugins:
        for q in case["questions"]:
            try:
                diag = diagnose(
                    snap,
                    q["src"],
                    q["dst"],
                    q.get("port"),
                    Protocol(q.get("protocol", "TCP")),
                    cni=_cni(plugin),
                )
            except NetpolDoctorError:
                continue
            _check_consistent(diag, (path.name, plugin, q))


def _two_namespaces(extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        namespace("a"),
        namespace("b"),
        pod("a/x", "10.0.0.1", labels={"app": "x"}),
        pod("b/y", "10.0.1.1", labels={"app": "y"}),
        *extra,
    ]


def test_admin_deny_over_a_networkpolicy_allow_sets_the_ingress_line(tmp_path: Path) -> None:
    snap = snapshot_of(
        tmp_path,
        _two_namespaces(
            [
                policy(
                    "b/allow-x",
                    {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
                ),
                _anp(
                    "deny-a",
                    5,
                    _ns("b"),
                    ingress=[{"name": "a", "action": "Deny", "from": [_ns("a")]}],
                ),
            ]
        ),
    )
    diag = diagnose(snap, "a/x", "b/y", 80, cni=_cni("kube-network-policies"))
    assert diag.verdict is Verdict.DENIED
    text = render_diagnosis(diag)
    line = _lines(text)["ingress"]
    assert line.startswith("ingress: DENIED by AdminNetworkPolicy deny-a"), text
    assert "NetworkPolicy alone" in line, line
    doc = diagnosis_dict(diag, [])
    assert doc["ingress"]["verdict"] == "denied"
    assert doc["ingress"]["network_policy_verdict"] == "allowed"
    assert doc["ingress"]["decided_by"] == "AdminNetworkPolicy deny-a"
    _check_consistent(diag, "anp")


def test_calico_global_deny_sets_the_ingress_line(tmp_path: Path) -> None:
    gnp = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "deny-a"},
        "spec": {
            "order": 10,
            "selector": "all()",
            "types": ["Ingress"],
            "ingress": [
                {"action": "Deny", "source": {"namespaceSelector": "projectcalico.org/name == 'a'"}}
            ],
        },
    }
    snap = snapshot_of(tmp_path, _two_namespaces([gnp]))
    diag = diagnose(snap, "a/x", "b/y", 80, cni=_cni("calico"))
    assert diag.verdict is Verdict.DENIED
    line = _lines(render_diagnosis(diag))["ingress"]
    assert line.startswith("ingress: DENIED by GlobalNetworkPolicy deny-a"), line
    _check_consistent(diag, "gnp")


def test_cilium_deny_and_default_deny_set_the_ingress_line(tmp_path: Path) -> None:
    deny = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "deny-a", "namespace": "b"},
        "spec": {
            "endpointSelector": {},
            "ingressDeny": [
                {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "a"}}]}
            ],
            "ingress": [{"fromEntities": ["all"]}],
        },
    }
    only_other = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "only-z", "namespace": "a"},
        "spec": {
            "endpointSelector": {},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "z"}}]}],
        },
    }
    snap = snapshot_of(tmp_path, _two_namespaces([deny, only_other]))
    diag = diagnose(snap, "a/x", "b/y", 80, cni=_cni("cilium"))
    assert diag.verdict is Verdict.DENIED
    line = _lines(render_diagnosis(diag))["ingress"]
    assert line.startswith("ingress: DENIED by CiliumNetworkPolicy b/deny-a"), line
    _check_consistent(diag, "cnp deny")
    # b/y -> a/x: only-z isolates a/x and admits only app=z
    diag = diagnose(snap, "b/y", "a/x", 80, cni=_cni("cilium"))
    assert diag.verdict is Verdict.DENIED
    line = _lines(render_diagnosis(diag))["ingress"]
    assert line.startswith("ingress: DENIED by CiliumNetworkPolicy a/only-z"), line
    _check_consistent(diag, "cnp default deny")


def _allow_over_np_deny(tmp_path: Path) -> Any:
    return snapshot_of(
        tmp_path,
        _two_namespaces(
            [
                policy("a/deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}),
                _anp(
                    "allow-b",
                    5,
                    _ns("a"),
                    egress=[{"name": "b", "action": "Allow", "to": [_ns("b")]}],
                ),
            ]
        ),
    )


def test_unknown_plugin_admin_allow_over_a_deny_is_unknown(tmp_path: Path) -> None:
    snap = _allow_over_np_deny(tmp_path)
    diag = diagnose(snap, "a/x", "b/y", 80)
    assert diag.verdict is Verdict.UNKNOWN, [f.id for f in diag.findings]
    finding = next(f for f in diag.findings if f.id == "extended-policies-present")
    assert "AdminNetworkPolicy allow-b" in finding.message
    assert "implements" in finding.message
    # a plugin that implements the admin tiers: allowed, and the admin rule leads
    diag = diagnose(snap, "a/x", "b/y", 80, cni=_cni("antrea"))
    assert diag.verdict is Verdict.ALLOWED
    ids = [f.id for f in diag.findings]
    assert ids[0] == "admin-policy-decided", ids
    assert "egress-not-allowed" not in ids, ids
    assert all(f.fix is None for f in diag.findings if f.severity.value == "error")
    line = _lines(render_diagnosis(diag))["egress"]
    assert line.startswith("egress: allowed by AdminNetworkPolicy allow-b"), line
    # a plugin that does not: the NetworkPolicy deny stands
    assert diagnose(snap, "a/x", "b/y", 80, cni=_cni("cilium")).verdict is Verdict.DENIED


def test_unknown_plugin_admin_policy_that_cannot_act_changes_nothing(tmp_path: Path) -> None:
    snap = snapshot_of(
        tmp_path,
        [
            *_two_namespaces([]),
            namespace("c"),
            pod("c/z", "10.0.2.1", labels={"app": "z"}),
            # subject: namespace c only; an egress rule on port 443 only
            _anp(
                "c-only",
                5,
                _ns("c"),
                ingress=[{"name": "all", "action": "Deny", "from": [{"namespaces": {}}]}],
            ),
            _anp(
                "egress-443",
                6,
                _ns("a"),
                egress=[
                    {
                        "name": "tls",
                        "action": "Deny",
                        "to": [{"namespaces": {}}],
                        "ports": [{"portNumber": {"port": 443, "protocol": "TCP"}}],
                    }
                ],
            ),
        ],
    )
    # neither end is a subject for the direction it acts on, or the port does not overlap
    assert diagnose(snap, "a/x", "b/y", 80).verdict is Verdict.ALLOWED
    assert diagnose(snap, "b/y", "a/x", 80).verdict is Verdict.ALLOWED
    # ... but the flows it can act on stay unknown
    assert diagnose(snap, "a/x", "b/y", 443).verdict is Verdict.UNKNOWN
    assert diagnose(snap, "a/x", "c/z", 80).verdict is Verdict.UNKNOWN


BAD = """\
apiVersion: v1
kind: Pod
metadata: {name: x, namespace: a, labels: {app: x}}
spec: {nodeName: n, containers: [{name: m, image: b}]}
status: {phase: Running, podIP: 10.0.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: a}
spec: {podSelector: {}, ingress: [{ports: [{port: 0}]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: bad-anp}
spec:
  priority: 5
  subject: {namespaces: {}}
  ingress: [{name: r, action: Bogus, from: [{namespaces: {}}]}]
"""


@pytest.mark.parametrize(
    "args",
    [("--port", "80", "-o", "json"), ("--port", "80", "-o", "csv"), ("--all-ports", "-o", "json")],
)
def test_matrix_json_and_csv_report_input_problems(args: tuple[str, ...], tmp_path: Path) -> None:
    import json

    from test_cli import run

    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    r = run("matrix", *args, "--snapshot", str(path), "--cni", "calico")
    assert "Traceback" not in r.stderr
    for name in ("NetworkPolicy a/bad", "AdminNetworkPolicy bad-anp"):
        assert name in r.stderr and "policy-invalid" in r.stderr, r.stderr
    if "json" in args:
        problems = json.loads(r.stdout)["problems"]
        names = {o["name"] for p in problems if p["id"] == "policy-invalid" for o in p["objects"]}
        assert names == {"bad", "bad-anp"}


def test_unknown_plugin_admin_reading_sets_the_direction_line(tmp_path: Path) -> None:
    diag = diagnose(_allow_over_np_deny(tmp_path), "a/x", "b/y", 80)
    _check_consistent(diag, "unknown plugin")
    line = _lines(render_diagnosis(diag))["egress"]
    assert line.startswith("egress: cannot be decided: AdminNetworkPolicy allow-b"), line
    blocked = next(f for f in diag.findings if f.id == "egress-not-allowed")
    assert blocked.fix is None and blocked.severity.value == "warning", blocked
