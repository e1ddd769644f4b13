"""Oracle: inputs/fast_objects.py reads the plain Pod and NetworkPolicy without
parse.py's reference path, and must never change a result. For every object below,
`parse_object(fast=True)` and `parse_object(fast=False)` give the same ParseResult:
the same object (field by field, types included: a restart count of True is not 1)
and the same findings, messages, paths and order.

The objects: every manifest in the repository's cases, test data and example cluster
(read by the tool's own YAML loader and by PyYAML, whose types differ), clusters from
bench/generate.py and bench/shapes.py, and thousands of mutations of real pods and
policies (wrong types, odd values, missing and extra fields). The fast path must also
actually be taken for the plain objects, or the speed-up silently disappears.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from netpol_doctor import yamlload
from netpol_doctor.inputs.fast_objects import fast_network_policy, fast_pod
from netpol_doctor.model import ContainerPort, ObjectRef, Protocol
from netpol_doctor.parse import (
    _PARSERS,
    EXTENDED_KINDS,
    Origin,
    ParseResult,
    _looks_like_network_policy,
    parse_object,
)
from test_cases import _expand

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CORPUS_DIRS = [
    ROOT / "tests" / "cases",
    ROOT / "tests" / "lint_cases",
    ROOT / "tests" / "cilium_cases",
    ROOT / "tests" / "triage_cases",
    ROOT / "tests" / "data",
    ROOT / "examples",
]


class _Str(str):
    pass


class _Int(int):
    pass


class _Dict(dict[str, Any]):
    pass


# --- comparing ------------------------------------------------------------------------


def _form(value: Any) -> Any:
    """A comparable picture of a parse result that sees what == does not: fields
    declared compare=False (a reference's file and line), and types (True == 1)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple((f.name, _form(getattr(value, f.name))) for f in dataclasses.fields(value))
        return (type(value).__name__, fields)
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_form(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value).__name__, tuple(sorted(repr(_form(v)) for v in value)))
    if isinstance(value, dict):
        return ("dict", tuple((repr(k), _form(v)) for k, v in value.items()))
    return (type(value).__name__, repr(value))


def _both(raw: Any, origin: Origin, namespace: str = "default") -> ParseResult:
    fast = parse_object(raw, origin, namespace)
    slow = parse_object(raw, origin, namespace, fast=False)
    assert fast == slow
    assert _form(fast) == _form(slow), raw
    return fast


def _objects(tree: Any) -> Iterator[dict[str, Any]]:
    """Every mapping with a `kind` in a loaded document (case files nest manifests)."""
    if isinstance(tree, dict):
        if "kind" in tree:
            yield tree
        for v in tree.values():
            yield from _objects(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _objects(v)


# --- (a) every manifest in the repository -----------------------------------------------


def _corpus_files() -> list[Path]:
    files = [
        p
        for d in CORPUS_DIRS
        for p in sorted(d.rglob("*"))
        if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
    ]
    assert len(files) > 100
    return files


@cache
def _loaded(path: Path) -> list[Any]:
    """The documents of a file as the tool's own loader reads them, then as PyYAML
    does (timestamps become datetimes), then a case file's builders' manifests."""
    text = path.read_text()
    docs = [doc.value for doc in yamlload.load_stream(text)]
    with contextlib.suppress(yaml.YAMLError):
        docs += yaml.safe_load_all(text)
    if path.parent.name == "cases" and path.parent.parent.name == "tests":
        case = yaml.safe_load(text)
        docs.append([_expand(o) for o in case.get("objects") or []])
    return docs


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_manifest(path: Path) -> None:
    for doc in _loaded(path):
        for i, raw in enumerate(_objects(doc)):
            _both(raw, Origin(str(path), 1, i + 1))
            _both(raw, Origin(None, None, None), "elsewhere")


# --- (b) generated clusters ------------------------------------------------------------


def _bench_module(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # shapes.py imports generate
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _generated() -> list[dict[str, Any]]:
    generate = _bench_module("generate")
    shapes = _bench_module("shapes")
    objects: list[dict[str, Any]] = []
    for seed in (1, 2):
        objects += generate.generate(300, 75, seed)
        objects += shapes.generate_diverse(300, 75, seed).objects
    # Through JSON and back: what a dump read from a file looks like (no shared lists).
    return [json.loads(json.dumps(o)) for o in objects]


GENERATED = _generated()
PODS = [o for o in GENERATED if o.get("kind") == "Pod"]
POLICIES = [o for o in GENERATED if o.get("kind") == "NetworkPolicy"]


def test_generated_clusters() -> None:
    kinds = {o["kind"] for o in GENERATED}
    assert {"Pod", "NetworkPolicy", "Namespace", "Service"} <= kinds
    for i, raw in enumerate(GENERATED):
        _both(raw, Origin("cluster/pods.yaml", None, 3 + i, i))


def test_the_fast_path_is_taken_for_plain_objects() -> None:
    """Every generated pod and policy is plain: none may fall back (a fallback is only
    slower, so nothing else would notice)."""
    assert len(PODS) > 500 and len(POLICIES) > 250
    for raw in PODS:
        ref = ObjectRef("Pod", raw["metadata"]["namespace"], raw["metadata"]["name"])
        assert fast_pod(raw, ref) is not None, raw["metadata"]["name"]
    for raw in POLICIES:
        ref = ObjectRef("NetworkPolicy", raw["metadata"]["namespace"], raw["metadata"]["name"])
        assert fast_network_policy(raw, ref) is not None, raw["metadata"]["name"]


def test_the_fast_path_keeps_every_field() -> None:
    """A pod with every field the fast path reads set (probes, env, statuses, init
    containers and a sidecar)."""
    raw = copy.deepcopy(PODS[0])
    raw["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Pod"}',
        "b": "2",
        "a": "1",
    }
    raw["spec"]["hostNetwork"] = True
    raw["spec"]["automountServiceAccountToken"] = False
    raw["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"port": "http"}}
    raw["spec"]["containers"][0]["env"] = [{"name": "DB_URL", "value": "postgres://db:5432/x"}]
    raw["spec"]["initContainers"] = [
        {"name": "migrate", "env": [{"name": "CACHE_HOST", "value": "redis.shop.svc"}]},
        {"name": "proxy", "restartPolicy": "Always", "ports": [{"containerPort": 15001}]},
    ]
    raw["status"]["containerStatuses"] = [
        {"ready": True, "restartCount": 2},
        {},
        {"ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
    ]
    raw["status"]["podIPs"] = [{"ip": "10.9.0.1"}, {"ip": "fd00::1"}, {"ip": "10.9.0.1"}]
    raw["status"]["podIP"] = "10.9.0.2"
    ref = ObjectRef("Pod", raw["metadata"]["namespace"], raw["metadata"]["name"])
    pod = fast_pod(raw, ref)
    assert pod is not None
    result = _both(raw, Origin("p.yaml", 1, 1))
    assert result.obj == pod
    assert pod.annotations == (("a", "1"), ("b", "2"))
    assert pod.host_network is True and pod.automount_token is False
    assert pod.health_probes == (("readiness", "httpGet", "http"),)
    assert pod.env_targets == (("DB_URL", "db", "5432"), ("CACHE_HOST", "redis.shop.svc", ""))
    assert pod.ports[-1] == ContainerPort(None, 15001, Protocol.TCP, "proxy")  # a sidecar's
    assert "proxy" not in pod.container_names
    assert (pod.ready, pod.restarts, pod.waiting_reasons) == (False, 5, ("CrashLoopBackOff",))
    assert [str(ip) for ip in pod.ips] == ["10.9.0.2", "10.9.0.1", "fd00::1"]


@pytest.mark.parametrize(
    ("port", "reported"), [(True, True), (80.0, True), ("80", True), (_Int(80), False)]
)
def test_container_ports_shared_only_when_written_alike(port: Any, reported: bool) -> None:
    """Pods share equal container ports; a value equal to a kept one (True == 1,
    80.0 == 80) is still reported, not read as the kept port."""
    plain = copy.deepcopy(PODS[0])
    ports = [{"containerPort": 80}, {"containerPort": 1}]
    plain["spec"]["containers"] = [{"name": "c", "ports": ports}]
    odd = copy.deepcopy(plain)
    odd["spec"]["containers"][0]["ports"] = [{"containerPort": port}]
    first, second = _both(plain, Origin()), _both(odd, Origin())
    assert first.obj is not None and not first.findings
    assert bool(second.findings) is reported  # an int subclass is an int to the reference


def test_only_network_policy_of_the_parsed_kinds_can_be_another_family() -> None:
    """parse_object looks at apiVersion only for NetworkPolicy and unparsed kinds."""
    for _, kind in EXTENDED_KINDS:
        assert kind not in _PARSERS or kind == "NetworkPolicy"
    for kind in _PARSERS:
        if kind != "NetworkPolicy":
            assert not _looks_like_network_policy("example.io", kind)
            raw = {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": {"name": "x"}}
            assert _both(raw, Origin()).kind == kind


# --- (c) mutations ----------------------------------------------------------------------


_ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 80, 65535, 65536, 10**40, 1.5, float("nan"),
    "", "x", "X Y", "-x", "x" * 64, "a" * 400, "a--b", "abcdefghijklmnop", "http", "80", "0080",
    "TCP", "UDP", "SCTP", "ICMP", "tcp", "In", "NotIn", "Exists", "DoesNotExist", "in",
    "Ingress", "Egress", "ingress", "Always", "Running",
    "10.0.0.1", "10.0.0.0/8", "10.1.0.0/16", "10.0.0.1/8", "010.0.0.0/8", "0.0.0.0/0",
    "::1", "2001:db8::/32", "2001:0db8::/32", "::ffff:10.0.0.0/104", "10.0.0.0/33",
    "not-an-ip", "1.2.3.4\x00", "\ud800",
    [], [None], ["x"], [1, 2, 3], ["Ingress", "Egress", "Ingress"], {}, {"a": 1}, {"a": "b"},
    {"matchLabels": {"a": "b"}}, {"ip": "10.0.0.9"}, {"port": 80}, {"cidr": "10.0.0.0/8"},
    _Str("TCP"), _Str("x"), _Int(80), _Dict(a="b"),
]  # fmt: skip


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a manifest, the root's own keys included."""
    out: list[tuple[Any, Any]] = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.append((tree, k))
            out += _slots(v)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.append((tree, i))
            out += _slots(v)
    return out


def _mutate_anywhere(raw: dict[str, Any], rng: random.Random) -> None:
    """One random change at a random place: a new value, a deletion, an extra entry."""
    container, key = rng.choice(_slots(raw))
    action = rng.random()
    if action < 0.6:
        container[key] = copy.deepcopy(rng.choice(_ODD_VALUES))
    elif action < 0.8:
        del container[key]
    elif isinstance(container, list):
        container.append(copy.deepcopy(rng.choice([container[key], *_ODD_VALUES])))
    else:
        extra = rng.choice(["extra", "ports", "from", "to", "ingress", "egress", "name", 7])
        container[extra] = copy.deepcopy(rng.choice(_ODD_VALUES))


def _at(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    """The mapping at `path`, made (or replaced by an empty one) where it is not one."""
    node = raw
    for key in path:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    return node


def _container(raw: dict[str, Any]) -> dict[str, Any]:
    containers = _at(raw, "spec").setdefault("containers", [{}])
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        _at(raw, "spec")["containers"] = containers = [{"name": "c"}]
    first: dict[str, Any] = containers[0]
    return first


_MULTUS_STATUS = json.dumps(
    [
        {"name": "cbr0", "interface": "eth0", "ips": ["10.0.0.5"], "default": True},
        {"name": "ns/macvlan", "interface": "net1", "ips": ["192.168.1.5", "bad"]},
    ]
)


def _pod_change(raw: dict[str, Any], rng: random.Random) -> None:
    """A change aimed at a field the fast path reads or leaves to the reference path."""
    meta, spec, status = _at(raw, "metadata"), _at(raw, "spec"), _at(raw, "status")
    odd = copy.deepcopy(rng.choice(_ODD_VALUES))
    c = _container(raw)
    match rng.randrange(24):
        case 0:
            sidecar = {"name": "side", "restartPolicy": rng.choice(["Always", "Never", None])}
            sidecar["ports"] = [{"containerPort": rng.choice([9000, 0, "9000"]), "name": "side"}]
            sidecar["env"] = [{"name": "UPSTREAM_HOST", "value": "api.shop.svc:8080"}]
            spec["initContainers"] = [sidecar, rng.choice([None, "x", {}])][: rng.randint(1, 2)]
        case 1:
            spec["initContainers"] = rng.choice([[], None, "", {}, 0])
        case 2:
            spec["hostNetwork"] = rng.choice([True, False, "true", 1, None])
        case 3:
            extra = copy.deepcopy(c)
            extra["name"] = rng.choice(["second", "", None, 5])
            spec["containers"].append(extra)
        case 4:
            status["podIPs"] = [{"ip": "10.9.0.1"}, {"ip": "10.9.0.1"}, {"ip": "fd00::9"}]
            status["podIP"] = rng.choice(["10.9.0.1", "10.9.0.2", "fd00::9", "", None, odd])
        case 5:
            status["podIPs"] = rng.choice([[{"ip": odd}], [odd], odd, [{}], [{"ip": ""}]])
        case 6:
            meta["labels"] = {"app": "a", "version": rng.choice([1, 1.5, True, None, 10**40, odd])}
        case 7:
            meta["labels"] = {rng.choice([1, None, True, "k"]): "v", "app": "a"}
        case 8:
            meta["annotations"] = {"a": rng.choice([1, None, True, "x", odd]), 5: "x", "b": "y"}
        case 9:
            applied = {"kind": "Pod", "spec": {"containers": [{"env": [{"value": "secret"}]}]}}
            meta["annotations"] = {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied),
                "z": "1",
            }
        case 10:
            key = rng.choice(
                [
                    "k8s.v1.cni.cncf.io/networks",
                    "k8s.v1.cni.cncf.io/network-status",
                    "k8s.v1.cni.cncf.io/networks-status",
                ]
            )
            value = rng.choice(["macvlan@net1", "a/b/c", "[", "{}", _MULTUS_STATUS, "", 5])
            _at(raw, "metadata").setdefault("annotations", {})
            if isinstance(meta["annotations"], dict):
                meta["annotations"][key] = value
        case 11:
            c["ports"] = [
                {"containerPort": rng.choice([80, 0, 65536, True, "80", 8080.0, None, _Int(80)])}
            ]
        case 12:
            c["ports"] = [{"containerPort": 80, "protocol": odd, "name": rng.choice([odd, "p"])}]
        case 13:
            c[rng.choice(["readinessProbe", "livenessProbe", "startupProbe"])] = rng.choice(
                [{"httpGet": {"port": 8080}}, {"tcpSocket": {"port": "http"}}, {"grpc": odd}, odd]
            )
        case 14:
            c["env"] = rng.choice(
                [
                    [{"name": "API_URL", "value": "https://user:pw@api.example.com/x"}],
                    [{"name": "X", "value": "$(DB_SERVICE_HOST)"}, odd],
                    odd,
                ]
            )
        case 15:
            status["containerStatuses"] = [
                {"ready": rng.choice([True, False, None, 1]), "restartCount": odd},
                rng.choice([{}, None, odd, {"ready": True}]),
            ]
        case 16:
            status["containerStatuses"] = [{"state": {"waiting": {"reason": odd}}, "ready": True}]
        case 17:
            meta["ownerReferences"] = rng.choice(
                [
                    [{"controller": True, "kind": rng.choice(["", None, odd]), "name": "rs"}],
                    [{"controller": odd, "name": odd}, {"controller": True, "name": "b"}],
                    odd,
                ]
            )
        case 18:
            meta["namespace"] = rng.choice(["", None, 5, "other", odd])
        case 19:
            field = rng.choice(["nodeName", "serviceAccountName", "automountServiceAccountToken"])
            spec[field] = odd
        case 20:
            status[rng.choice(["phase", "hostIP"])] = odd
        case 21:
            raw[rng.choice(["spec", "status", "metadata"])] = rng.choice([None, [], "x", _Dict()])
        case 22:
            spec["containers"] = rng.choice([odd, [odd], [c, odd]])
        case _:
            raw["apiVersion"] = rng.choice(["v1", "x/v1", None, 5, "networking.k8s.io/v1"])


def _rule(raw: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """A rule of the policy (made if need be) and the name of its peers field."""
    spec = _at(raw, "spec")
    direction = rng.choice(["ingress", "egress"])
    rules = spec.get(direction)
    if not isinstance(rules, list) or not rules or not isinstance(rules[0], dict):
        spec[direction] = rules = [{}]
    first: dict[str, Any] = rules[0]
    return first, "from" if direction == "ingress" else "to"


_CIDRS = [
    "10.0.0.0/8", "10.0.0.1/8", "010.0.0.0/8", "::ffff:10.0.0.0/104", "2001:0db8::/32",
    "2001:db8::/32", "0.0.0.0/0", "10.0.0.0/33", "10.0.0.0", "bad", "", None,
]  # fmt: skip
_EXCEPTS = [
    "10.1.0.0/16", "10.1.0.1/16", "010.1.0.0/16", "10.0.0.0/8", "11.0.0.0/16", "fd00::/8",
    "2001:db8:1::/48", "::ffff:10.1.0.0/112", None,
]  # fmt: skip


_APPLIED = [
    json.dumps({"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    json.dumps({"spec": {"podSelector": {}}}),
    json.dumps({"spec": "x"}),
    json.dumps([1]),
    "{not json",
]


def _policy_change(raw: dict[str, Any], rng: random.Random) -> None:
    """A change aimed at one of the checks of validation.py, or a field it leaves alone."""
    meta, spec = _at(raw, "metadata"), _at(raw, "spec")
    odd = copy.deepcopy(rng.choice(_ODD_VALUES))
    match rng.randrange(22):
        case 0:
            spec["policyTypes"] = rng.choice(
                [["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Egress", "Ingress"], [], None,
                 ["Ingress", "Ingress"], ["Ingress", "Egress", "Ingress"], [odd], odd]
            )  # fmt: skip
        case 1:
            port = rng.choice([80, 8000, "http", "80", None, odd])
            end = rng.choice([80, 79, 9000, 65536, None, "90", True, odd])
            _rule(raw, rng)[0]["ports"] = [{"port": port, "endPort": end, "protocol": "TCP"}]
        case 2:
            _rule(raw, rng)[0]["ports"] = rng.choice([[None], [{}], [{"protocol": odd}], odd, None])
        case 3:
            block = {"cidr": rng.choice([*_CIDRS, odd])}
            block["except"] = rng.choice([[rng.choice(_EXCEPTS)], [odd], odd, [], None])
            rule, peers = _rule(raw, rng)
            rule[peers] = [{"ipBlock": block}]
        case 4:
            peer = rng.choice(
                [{}, {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}, {"podSelector": None},
                 {"namespaceSelector": {}, "podSelector": {}}, None, odd,
                 {"podSelector": {}, "extra": 1}, {"ipBlock": None, "podSelector": {}}]
            )  # fmt: skip
            rule, peers = _rule(raw, rng)
            rule[peers] = [peer]
        case 5:
            _rule(raw, rng)[0][rng.choice(["from", "to", "ports"])] = rng.choice([[], None, odd])
        case 6:
            spec[rng.choice(["ingress", "egress"])] = rng.choice([[None], [{}], [], None, odd])
        case 7:
            expression = {
                "key": rng.choice(["app", "a/b", "A_b", "-x", "x" * 70, odd]),
                "operator": rng.choice(["In", "NotIn", "Exists", "DoesNotExist", "in", odd]),
            }
            if rng.random() < 0.8:
                expression["values"] = rng.choice([["a"], [], None, ["a", "-b"], [None], odd])
            spec["podSelector"] = {"matchExpressions": [expression]}
        case 8:
            key = rng.choice(["app", "a/b", "Bad Key", "x/" * 3, 5])
            spec["podSelector"] = {"matchLabels": {key: rng.choice(["v", "", odd])}}
        case 9:
            spec["podSelector"] = rng.choice(
                [None, {}, odd, {"ingress": []}, {"matchLabels": None}, {"app": "x"},
                 {"matchExpressions": [None]}, {"matchLabel": {"a": "b"}}]
            )  # fmt: skip
        case 10:
            spec[rng.choice(["ingres", "extra", "podselector", 5])] = odd
        case 11:
            meta["name"] = rng.choice(["UPPER", "a.b", "a_b", "x" * 254, "ok-name", ""])
        case 12:
            meta["namespace"] = rng.choice(["", None, "a.b", "x" * 64, "UP", "ok", odd])
        case 13:
            meta["labels"] = {rng.choice(["app", "a/b", "Bad Key", 5]): rng.choice(["v", "", odd])}
        case 14:
            annotations = {rng.choice(["note", "Bad Key", 5, "a/b"]): rng.choice(["v", None, odd])}
            if rng.random() < 0.5:
                annotations["kubectl.kubernetes.io/last-applied-configuration"] = rng.choice(
                    [*_APPLIED, odd]
                )
            meta["annotations"] = annotations
        case 15:
            meta["annotations"] = {
                "kubectl.kubernetes.io/last-applied-configuration": rng.choice(_APPLIED)
            }
            spec["policyTypes"] = rng.choice([["Ingress"], None])
        case 16:
            raw["apiVersion"] = rng.choice(
                ["networking.k8s.io/v1", "v1", "cilium.io/v2", "x/v1", None, 5]
            )
        case 17:
            raw[rng.choice(["spec", "metadata"])] = rng.choice([None, [], "x", _Dict()])
        case 18:
            meta["generateName"] = "gen-"
            meta["name"] = rng.choice(["", "ok"])
        case 19:
            spec["podSelector"] = {"matchLabels": _Dict(a="b")}
        case 20:
            rule, peers = _rule(raw, rng)
            rule[peers] = [
                {"namespaceSelector": {"matchLabels": {"team": rng.choice(["a", _Str("a"), 1])}}}
            ]
        case _:
            raw["status"] = odd  # not the schema's business


def _mutants(
    sources: list[dict[str, Any]], change: Any, count: int, seed: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    rng = random.Random(seed)
    for n in range(count):
        raw = copy.deepcopy(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            (change if rng.random() < 0.6 else _mutate_anywhere)(raw, rng)
        yield n, raw


NAMESPACES = ("default", "elsewhere")  # the namespace given for objects without one


def _check_mutants(sources: list[dict[str, Any]], change: Any, count: int, seed: int) -> None:
    fast_taken = findings = 0
    for n, raw in _mutants(sources, change, count, seed):
        result = _both(raw, Origin("m.yaml", n, n + 1), NAMESPACES[n % 2])
        findings += bool(result.findings)
        fast_taken += result.obj is not None and not result.findings
    # The mutations must exercise both sides: objects with findings and plain ones.
    assert findings > count // 4 and fast_taken > count // 10, (findings, fast_taken)


def test_mutated_pods() -> None:
    _check_mutants(PODS, _pod_change, 4000, seed=12)


def test_mutated_policies() -> None:
    _check_mutants(POLICIES, _policy_change, 4000, seed=13)


def test_mutated_repository_policies() -> None:
    """The policies the cases hold (odd ones on purpose), mutated again."""
    sources = [
        raw
        for path in _corpus_files()
        for doc in _loaded(path)
        for raw in _objects(doc)
        if raw.get("kind") == "NetworkPolicy" and isinstance(raw.get("metadata"), dict)
    ]
    assert len(sources) > 100
    _check_mutants(sources, _policy_change, 2000, seed=14)


@pytest.mark.parametrize("address", ["10.0.0.7\x00", "\ud800"])
def test_a_pod_ip_with_a_nul_or_a_lone_surrogate_is_no_address(address: str) -> None:
    """inet_pton raises ValueError, not OSError, on these: the pod is still read, its
    address reported and ignored, on both paths."""
    raw = {
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "a"},
        "status": {"podIP": address},
    }
    for fast in (True, False):
        result = parse_object(copy.deepcopy(raw), Origin("p.yaml", 1, 1), "default", fast=fast)
        assert result.obj is not None and result.obj.ips == ()
        [finding] = result.findings
        assert finding.field == "status.podIP" and "is not an IP address" in finding.message
