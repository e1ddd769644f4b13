"""Connectivity contracts (`verify`): flows that must be allowed or denied, checked for
every matching pod pair, each violation explained as `diagnose` explains it.

Contract format: docs/contract.md (JSON Schema: docs/contract.schema.json). Parsing
errors name the file, the flow and the field. Imports `model`, `selectors`,
`snapshot`, `engine`, `targets`, `cni`, `matrix`, `diagnose`, `errors`, `parse`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .cni import CniInfo, detect_cni
from .diagnose import Diagnosis, diagnose
from .engine import Verdict
from .errors import NetpolDoctorError
from .matrix import CODES, compute_matrix
from .model import LabelSelector, Pod, Protocol
from .parse import parse_selector
from .selectors import Tri, match_selector
from .snapshot import Snapshot
from .validation import Level, validate_label_selector

__all__ = ["Contract", "ContractError", "Flow", "FlowResult", "load_contract", "verify"]

CONTRACT_KIND = "ConnectivityContract"
_SPECIAL = ("dns", "apiserver")


Fail = Callable[[str, str], "ContractError"]


class ContractError(NetpolDoctorError):
    """The contract file cannot be used; the message names file, flow and field."""


@dataclass(frozen=True, slots=True)
class Side:
    """Which pods (or what) one end of a flow means."""

    namespaces: tuple[str, ...] = ()  # empty: any namespace
    not_namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None
    pods: LabelSelector | None = None  # None: every pod
    pod: str | None = None  # one pod, ns/name
    target: str | None = None  # svc/ns/name, ip/..., dns, apiserver (destinations only)

    def selects(self, snapshot: Snapshot, pod: Pod) -> bool:
        if self.pod is not None:
            return pod.key == self.pod
        if self.namespaces and pod.namespace not in self.namespaces:
            return False
        if pod.namespace in self.not_namespaces:
            return False
        if self.namespace_selector is not None:
            ns = snapshot.namespace(pod.namespace)
            if match_selector(self.namespace_selector, ns.label_map).result is not Tri.YES:
                return False
        return self.pods is None or match_selector(self.pods, pod.label_map).result is Tri.YES


@dataclass(frozen=True, slots=True)
class Flow:
    index: int
    name: str
    source: Side
    destination: Side
    port: int | None
    protocol: Protocol
    expect: Verdict  # ALLOWED or DENIED


@dataclass(frozen=True, slots=True)
class Contract:
    path: str
    flows: tuple[Flow, ...]


@dataclass
class FlowResult:
    flow: Flow
    pairs: int = 0
    violations: list[tuple[str, str, Verdict]] = field(default_factory=list)
    #: the first violations, explained as `diagnose` explains them
    explained: list[Diagnosis] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


# --- parsing -----------------------------------------------------------------------


def load_contract(path: str | Path) -> Contract:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractError(f"cannot read contract {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ContractError(f"{path}: not valid YAML{where}") from None
    return parse_contract(raw, str(path))


def parse_contract(raw: Any, path: str) -> Contract:
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a contract is a mapping with `flows:`")
    kind = raw.get("kind", CONTRACT_KIND)
    if kind != CONTRACT_KIND:
        raise ContractError(f"{path}: kind is {kind!r}, expected {CONTRACT_KIND}")
    flows = raw.get("flows")
    if not isinstance(flows, list) or not flows:
        raise ContractError(f"{path}: `flows` must be a non-empty list")
    return Contract(path, tuple(_flow(path, i, f) for i, f in enumerate(flows)))


def _fail(path: str, index: int, name: str | None, field_: str, problem: str) -> ContractError:
    label = f"flow {index + 1}" + (f" ({name!r})" if name else "")
    return ContractError(f"{path}: {label}, field {field_}: {problem}")


def _flow(path: str, index: int, raw: Any) -> Flow:
    if not isinstance(raw, dict):
        raise _fail(path, index, None, "(flow)", "a flow is a mapping")
    name = raw.get("name") if isinstance(raw.get("name"), str) else None

    def fail(field_: str, problem: str) -> ContractError:
        return _fail(path, index, name, field_, problem)

    unknown = set(raw) - {"name", "from", "to", "port", "protocol", "expect"}
    if unknown:
        raise fail(
            sorted(unknown)[0], "unknown field (known: name, from, to, port, protocol, expect)"
        )
    expect = raw.get("expect")
    if expect not in ("allowed", "denied"):
        raise fail("expect", f"must be allowed or denied, not {expect!r}")
    protocol_raw = raw.get("protocol", "TCP")
    try:
        protocol = Protocol(str(protocol_raw).upper())
    except ValueError:
        raise fail("protocol", f"{protocol_raw!r} is not TCP, UDP or SCTP") from None
    destination = _side(raw.get("to"), "to", fail, destination=True)
    port = raw.get("port")
    needs_port = destination.target not in _SPECIAL
    if port is None and needs_port:
        raise fail("port", "required (a number 1-65535)")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise fail("port", f"{port!r} is not a port number 1-65535")
    return Flow(
        index,
        name or f"flow {index + 1}",
        _side(raw.get("from"), "from", fail, destination=False),
        destination,
        port,
        protocol,
        Verdict(expect),
    )


def _names(value: Any, field_: str, fail: Fail) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise fail(field_, "a namespace name or a list of names")


def _selector(value: Any, field_: str, fail: Fail) -> LabelSelector:
    if isinstance(value, dict) and not ({"matchLabels", "matchExpressions"} & set(value)):
        value = {"matchLabels": value}  # shorthand: a plain label map
    problems = [v for v in validate_label_selector(value, field_) if v.level is Level.ERROR]
    if problems:
        raise fail(problems[0].path, problems[0].message)
    return parse_selector(value)


def _side(raw: Any, where: str, fail: Fail, destination: bool) -> Side:
    if raw is None or raw == {}:
        return Side()
    if isinstance(raw, str):
        if raw in _SPECIAL and destination:
            return Side(target=raw)
        if raw.startswith(("svc/", "ip/")) and destination:
            return Side(target=raw)
        if raw.count("/") == 1:
            return Side(pod=raw)
        raise fail(where, f"{raw!r}: write ns/pod, svc/ns/name, ip/ADDRESS, dns or apiserver")
    if not isinstance(raw, dict):
        raise fail(where, "a mapping (namespace, pods, ...) or a string")
    known = {"namespace", "notNamespace", "namespaceSelector", "pods", "pod", "service", "ip"}
    unknown = set(raw) - known
    if unknown:
        raise fail(
            f"{where}.{sorted(unknown)[0]}", f"unknown field (known: {', '.join(sorted(known))})"
        )
    target = None
    if "service" in raw or "ip" in raw:
        if not destination:
            raise fail(where, "service and ip are destinations only")
        target = f"svc/{raw['service']}" if "service" in raw else f"ip/{raw['ip']}"
    return Side(
        namespaces=_names(raw["namespace"], f"{where}.namespace", fail)
        if "namespace" in raw
        else (),
        not_namespaces=_names(raw["notNamespace"], f"{where}.notNamespace", fail)
        if "notNamespace" in raw
        else (),
        namespace_selector=_selector(raw["namespaceSelector"], f"{where}.namespaceSelector", fail)
        if "namespaceSelector" in raw
        else None,
        pods=_selector(raw["pods"], f"{where}.pods", fail) if "pods" in raw else None,
        pod=raw.get("pod") if isinstance(raw.get("pod"), str) else None,
        target=target,
    )


# --- checking ----------------------------------------------------------------------

_EXPLAINED = 3


def verify(snapshot: Snapshot, contract: Contract, cni: CniInfo | None = None) -> list[FlowResult]:
    cni = cni or detect_cni(snapshot)
    results = []
    live = [p for p in snapshot.pods if not p.finished]
    for flow in contract.flows:
        result = FlowResult(flow)
        sources = [p for p in live if flow.source.selects(snapshot, p)]
        if flow.destination.target is not None:
            _check_targets(snapshot, flow, sources, cni, result)
        else:
            _check_pods(snapshot, flow, sources, live, cni, result)
        results.append(result)
    return results


def _record(result: FlowResult, src: str, dst: str, got: Verdict) -> None:
    result.pairs += 1
    if got is not result.flow.expect:
        result.violations.append((src, dst, got))


def _check_pods(
    snapshot: Snapshot,
    flow: Flow,
    sources: list[Pod],
    live: list[Pod],
    cni: CniInfo,
    result: FlowResult,
) -> None:
    destinations = [p for p in live if flow.destination.selects(snapshot, p)]
    if not sources or not destinations:
        return
    assert flow.port is not None
    namespaces = sorted({p.namespace for p in sources} | {p.namespace for p in destinations})
    m = compute_matrix(snapshot, flow.port, flow.protocol, namespaces, cni)
    index = {p.key: i for i, p in enumerate(m.pods)}
    for s in sources:
        row = m.row(index[s.key])
        for d in destinations:
            if s.key != d.key:
                _record(result, s.key, d.key, CODES[int(row[index[d.key]])])
    for src, dst, _ in result.violations[:_EXPLAINED]:
        result.explained.append(diagnose(snapshot, src, dst, flow.port, flow.protocol, cni=cni))


def _check_targets(
    snapshot: Snapshot, flow: Flow, sources: list[Pod], cni: CniInfo, result: FlowResult
) -> None:
    target = flow.destination.target
    assert target is not None
    for s in sources:
        diag = diagnose(snapshot, s.key, target, flow.port, flow.protocol, cni=cni)
        _record(result, s.key, diag.destination.label, diag.verdict)
        if diag.verdict is not flow.expect and len(result.explained) < _EXPLAINED:
            result.explained.append(diag)
