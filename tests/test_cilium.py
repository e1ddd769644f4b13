"""Cilium policy (SEMANTICS.md §4): the documented examples with the verdicts the docs
state (tests/cilium_cases/, one file per docs page or trap), plus compile errors and the
explanation steps. Each flow asks `cilium.direction` for both sides, the source's egress and
the destination's ingress, with standard NetworkPolicy's own answer from `engine.evaluate`.
"""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import namespace, node, pod, policy, snapshot_of
from netpol_doctor import cilium
from netpol_doctor.cni import CniInfo, profile_named, semantics_for
from netpol_doctor.engine import Endpoint, EndpointKind, evaluate
from netpol_doctor.extended import Action, FamilyVerdict, FlowSide
from netpol_doctor.model import Direction, Protocol
from netpol_doctor.selectors import Tri
from netpol_doctor.snapshot import Snapshot
from netpol_doctor.targets import endpoint_for_ip, endpoint_for_pod

CASES = sorted((Path(__file__).parent / "cilium_cases").glob("*.yaml"))
SEMANTICS = semantics_for(CniInfo(profile_named("cilium")))


def _cilium(kind: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    ns, _, name = key.rpartition("/")
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, **body}


def _expand(item: dict[str, Any]) -> dict[str, Any]:
    ((kind, body),) = item.items()
    if kind == "namespace":
        return namespace(body["name"], **(body.get("labels") or {}))
    if kind == "pod":
        body = dict(body)
        return pod(body.pop("key"), body.pop("ip", None), labels=body.pop("labels", None), **body)
    if kind == "node":
        return node(body["name"], body["ip"])
    if kind == "policy":
        return policy(body["key"], body["spec"])
    if kind in ("cnp", "ccnp"):  # {key: ns/name or name, spec: ..., specs: ...}
        body = dict(body)
        return _cilium(cilium.CNP if kind == "cnp" else cilium.CCNP, body.pop("key"), body)
    if kind == "apiserver":  # the `kubernetes` Endpoints: {ips: [...], port: 6443}
        subsets = [{"addresses": [{"ip": ip} for ip in body["ips"]], "ports": [{"port": 6443}]}]
        meta = {"name": "kubernetes", "namespace": "default"}
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}
    assert kind == "manifest", kind
    return dict(body)


def _endpoint(snap: Snapshot, spec: str) -> Endpoint:
    if spec.startswith("ip/"):
        return endpoint_for_ip(snap, ip_address(spec[3:]))
    if spec.startswith("node/"):
        n = snap.nodes[spec[5:]]
        return Endpoint(EndpointKind.HOST, None, n.addresses, n.ref.name)
    return endpoint_for_pod(snap, snap.pods_by_key[spec])


def sides(
    snap: Snapshot, src: str, dst: str, port: int = 80, protocol: str = "TCP"
) -> tuple[FamilyVerdict, FamilyVerdict]:
    """(egress of src, ingress of dst) as the Cilium family answers them."""
    policies, _ = cilium.compile(snap.extended)
    a, b, proto = _endpoint(snap, src), _endpoint(snap, dst), Protocol(protocol)
    decision = evaluate(snap, a, b, proto, port, SEMANTICS)
    out = []
    for d, subject, other, np in (
        (Direction.EGRESS, a, b, decision.egress),
        (Direction.INGRESS, b, a, decision.ingress),
    ):
        side = FlowSide(snap, d, subject, other, proto, port, SEMANTICS, tuple(policies), np)
        out.append(cilium.direction(side))
    return out[0], out[1]


def word(v: FamilyVerdict) -> str:
    assert v.action in (Action.ALLOW, Action.DENY)
    if v.certainty is Tri.UNKNOWN:
        return "unknown"
    return "allow" if v.action is Action.ALLOW else "deny"


def verdict(egress: FamilyVerdict, ingress: FamilyVerdict) -> str:
    words = {word(egress), word(ingress)}
    return "denied" if "deny" in words else "unknown" if "unknown" in words else "allowed"


def _questions() -> list[Any]:
    out = []
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        for i, q in enumerate(case["questions"]):
            out.append(pytest.param(case, q, id=f"{path.stem}[{i}]"))
    return out


@pytest.mark.parametrize(("case", "question"), _questions())
def test_case(case: dict[str, Any], question: dict[str, Any], tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, [_expand(o) for o in case["objects"]])
    _, problems = cilium.compile(snap.extended)
    assert [p.message for p in problems] == question.get("problems", [])
    q = question
    egress, ingress = sides(snap, q["src"], q["dst"], q.get("port", 80), q.get("protocol", "TCP"))
    seen = (verdict(egress, ingress), word(egress), word(ingress))
    want = (q["verdict"], q.get("egress", seen[1]), q.get("ingress", seen[2]))
    assert seen == want, (q, [s.reason for s in egress.steps + ingress.steps])


def test_every_case_names_its_rules_and_source() -> None:
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        assert case.get("description") and case.get("rules"), path.name
        assert str(case.get("source", "")).startswith("https://"), path.name


# --- compile: what the agent rejects -------------------------------------------------------

REJECTED = yaml.safe_load((Path(__file__).parent / "cilium_cases/rejected/specs.yaml").read_text())


@pytest.mark.parametrize("case", REJECTED, ids=[c["why"] for c in REJECTED])
def test_rejected_policy_names_the_field_and_is_skipped(
    case: dict[str, Any], tmp_path: Path
) -> None:
    cnp = _cilium(cilium.CNP, "shop/p", {"spec": {"endpointSelector": {}, **case["spec"]}})
    snap = snapshot_of(tmp_path, [namespace("shop"), cnp])
    policies, compiled = cilium.compile(snap.extended)
    assert policies == []
    # Wrong types and values are refused on reading (the CRD schema); the rest by compile.
    problems = [p for p in snap.problems if p.id == "policy-invalid"] + compiled
    assert problems and {p.id for p in problems} == {"policy-invalid"}
    assert case["field"] in [p.field for p in problems], [(p.field, p.message) for p in problems]
    assert all(p.message.startswith(f"{p.field}: ") for p in compiled)
    assert problems[0].objects[0].key == "shop/p"


@pytest.mark.parametrize(
    "body",
    [
        {},  # neither spec nor specs
        {"spec": {"egress": [{}]}},  # no endpointSelector (CIL-5)
        {"spec": {"endpointSelector": {}, "nodeSelector": {}}},
        {"spec": {"nodeSelector": {}, "ingress": [{}]}},  # host policies: CCNP only
        {"specs": {"endpointSelector": {}}},
    ],
)
def test_rejected_shapes(body: dict[str, Any], tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, [namespace("shop"), _cilium(cilium.CNP, "shop/p", body)])
    policies, problems = cilium.compile(snap.extended)
    problems += [p for p in snap.problems if p.id == "policy-invalid"]
    assert policies == [] and problems


def test_other_kinds_are_ignored_and_valid_ones_compile(tmp_path: Path) -> None:
    calico = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": "c", "namespace": "shop"},
        "spec": {"selector": "all()"},
    }
    ok = {"endpointSelector": {"matchLabels": {"k8s:app": "a"}}, "ingress": [{}]}
    ccnp = _cilium(cilium.CCNP, "cw", {"specs": [ok, {**ok, "egress": [{}]}]})
    snap = snapshot_of(tmp_path, [namespace("shop"), calico, ccnp])
    policies, problems = cilium.compile(snap.extended)
    assert problems == []
    assert [(p.ref.key, p.namespace, [r.path for r in p.rules]) for p in policies] == [
        ("cw", None, ["specs[0]", "specs[1]"])
    ]


# --- steps and reasons -------------------------------------------------------------------


def _cluster(tmp_path: Path, *extra: dict[str, Any]) -> Snapshot:
    objects = [
        namespace("shop"),
        node("node-1", "172.18.0.2"),
        pod("shop/client", "10.244.0.5", app="client"),
        pod("shop/server", "10.244.0.6", app="server", ports=["http:8080/TCP"]),
    ]
    return snapshot_of(tmp_path, [*objects, *extra])


def test_steps_name_the_rule_that_denies(tmp_path: Path) -> None:
    specs = yaml.safe_load("""
      - endpointSelector: {matchLabels: {app: client}}
        egress: [{toEntities: [all]}]
      - endpointSelector: {matchLabels: {app: client}}
        egressDeny:
          - toEndpoints: [{matchLabels: {app: server}}]
            toPorts: [{ports: [{port: http, protocol: TCP}]}]
    """)
    snap = _cluster(tmp_path, _cilium(cilium.CNP, "shop/p", {"specs": specs}))
    egress, ingress = sides(snap, "shop/client", "shop/server", 8080)
    assert (word(egress), word(ingress)) == ("deny", "allow")
    step = next(s for s in egress.steps if s.rule == "specs[1].egressDeny[0]")
    assert (step.action, step.matched, step.ref.key) == (Action.DENY, Tri.YES, "shop/p")
    assert "toPorts[0] TCP/http matches" in step.reason
    allowed = next(s for s in egress.steps if s.rule == "specs[0].egress[0]")
    assert (allowed.action, allowed.matched) == (Action.ALLOW, Tri.YES)
    # the named port resolves on the destination pod: 8081 is not `http`
    egress, _ = sides(snap, "shop/client", "shop/server", 8081)
    assert word(egress) == "allow"


def test_l7_is_unknown_with_a_reason(tmp_path: Path) -> None:
    spec = yaml.safe_load("""
      endpointSelector: {matchLabels: {app: server}}
      ingress:
        - toPorts:
            - ports: [{port: "8080", protocol: TCP}]
              rules: {http: [{method: GET, path: /public}]}
    """)
    snap = _cluster(tmp_path, _cilium(cilium.CNP, "shop/l7", {"spec": spec}))
    _, ingress = sides(snap, "shop/client", "shop/server", 8080)
    assert (ingress.action, ingress.certainty) == (Action.ALLOW, Tri.UNKNOWN)
    assert ingress.unknown_reason and "HTTP rules decide each request" in ingress.unknown_reason
    _, ingress = sides(snap, "shop/client", "shop/server", 9090)
    assert word(ingress) == "deny"


def test_host_policies_leave_nodes_unknown(tmp_path: Path) -> None:
    host = {"nodeSelector": {}, "egress": [{"toEntities": ["cluster"]}]}
    snap = _cluster(tmp_path, _cilium(cilium.CCNP, "host-fw", {"spec": host}))
    egress, ingress = sides(snap, "node/node-1", "shop/server", 8080)
    assert (egress.action, egress.certainty) == (Action.ALLOW, Tri.UNKNOWN)
    assert egress.steps[0].rule == "spec" and word(ingress) == "allow"


def test_self_traffic_is_allowed(tmp_path: Path) -> None:
    deny_all = {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}
    snap = _cluster(tmp_path, _cilium(cilium.CNP, "shop/lock", {"spec": deny_all}))
    assert verdict(*sides(snap, "shop/server", "shop/server", 8080)) == "allowed"
    assert verdict(*sides(snap, "shop/client", "shop/server", 8080)) == "denied"
