"""Connectivity contracts (`verify`): flows that must be allowed or denied, checked for
every matching pod pair, each violation explained as `diagnose` explains it.

Contract format: docs/contract.md (JSON Schema: docs/contract.schema.json). Parsing
errors name the file, the flow and the field. Imports `model`, `selectors`,
`snapshot`, `engine`, `targets`, `cni`, `matrix`, `diagnose`, `errors`, `parse`.
"""

from __future__ import annotations

import codecs
import os
import re
import reprlib
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
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

__all__ = [
    "Contract",
    "ContractError",
    "Flow",
    "FlowResult",
    "Unmatched",
    "load_contract",
    "verify",
]

CONTRACT_KIND = "ConnectivityContract"
API_VERSION = "netpol-doctor.io/v1"
_SPECIAL = ("dns", "apiserver")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_NS_NAME = re.compile(r"[^/]+/[^/]+")


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


@dataclass(frozen=True, slots=True)
class Unmatched:
    """One end of a flow that selects no pod: the flow proves nothing, so it fails (a
    typo in a selector must not pass as "nothing violates it")."""

    side: str  # "from" or "to"; "both" when the ends match only one and the same pod
    what: Side
    #: names under `namespace` that no object of the input lives in
    missing_namespaces: tuple[str, ...] = ()


@dataclass
class FlowResult:
    flow: Flow
    pairs: int = 0
    violations: list[tuple[str, str, Verdict]] = field(default_factory=list)
    #: the first violations, explained as `diagnose` explains them
    explained: list[Diagnosis] = field(default_factory=list)
    #: ends that match nothing (or nothing to check): each a violation
    unmatched: list[Unmatched] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.unmatched


# --- parsing -----------------------------------------------------------------------


def load_contract(path: str | Path) -> Contract:
    text = _decode(_read_regular_file(path), path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ContractError(f"{path}: not valid YAML{where}") from None
    except RecursionError:
        raise ContractError(f"{path}: nested too deeply to read") from None
    except ValueError:
        # int() refuses over 4,300 digits; no contract field needs a fraction of that.
        long = re.search(r"[0-9_]{4000,}", text)
        line = f" at line {text.count(chr(10), 0, long.start()) + 1}" if long else ""
        raise ContractError(f"{path}: a number{line} is too long to be a port") from None
    return parse_contract(raw, str(path))


def _read_regular_file(path: str | Path) -> bytes:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ContractError(f"cannot read contract {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ContractError(f"{path} is not a regular file: give the contract as a file")
        try:
            return f.read()
        except OSError as exc:
            raise ContractError(f"cannot read contract {path}: {exc.strerror}") from None


#: byte-order marks an editor may write, longest first (UTF-32 LE starts like UTF-16 LE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(data: bytes, path: str | Path) -> str:
    """UTF-8, or whatever a byte-order mark says (Windows editors write UTF-16 with one)."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and b"\0" in data:
        raise ContractError(
            f"{path}: not UTF-8 text (NUL bytes: UTF-16 without a byte-order mark?); "
            "save it as UTF-8"
        )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ContractError(
            f"{path}: not {encoding.upper().removesuffix('-SIG')} text (byte "
            f"0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None


def parse_contract(raw: Any, path: str) -> Contract:
    """Every field is type-checked: a wrong type is an error naming the file, the flow
    and the field, never a default (`pod: 5` must not mean every pod)."""
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a contract is a mapping with `flows:`")
    unknown = sorted(str(k) for k in set(raw) - {"apiVersion", "kind", "flows"})
    if unknown:
        raise ContractError(f"{path}: unknown field {unknown[0]} (known: apiVersion, kind, flows)")
    api_version = raw.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        raise ContractError(f"{path}: apiVersion is {_show(api_version)}, expected {API_VERSION}")
    kind = raw.get("kind", CONTRACT_KIND)
    if kind != CONTRACT_KIND:
        raise ContractError(f"{path}: kind is {_show(kind)}, expected {CONTRACT_KIND}")
    flows = raw.get("flows")
    if not isinstance(flows, list) or not flows:
        raise ContractError(f"{path}: `flows` must be a non-empty list")
    return Contract(path, tuple(_flow(path, i, f) for i, f in enumerate(flows)))


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _show(value: Any) -> str:
    """A value as an error message quotes it: short, whatever it is."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit number"  # repr() refuses over 4,300 digits
    return _REPR.repr(value)


def _fail(path: str, index: int, name: str | None, field_: str, problem: str) -> ContractError:
    label = f"flow {index + 1}" + (f" ({name!r})" if name else "")
    return ContractError(f"{path}: {label}, field {field_}: {problem}")


_FLOW_FIELDS = ("name", "from", "to", "port", "protocol", "expect")


def _flow(path: str, index: int, raw: Any) -> Flow:
    if not isinstance(raw, dict):
        raise _fail(path, index, None, "(flow)", "a flow is a mapping")
    name = raw.get("name") if isinstance(raw.get("name"), str) else None

    def fail(field_: str, problem: str) -> ContractError:
        return _fail(path, index, name, field_, problem)

    unknown = sorted(str(k) for k in set(raw) - set(_FLOW_FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field (known: {', '.join(_FLOW_FIELDS)})")
    if "name" in raw and name is None:
        raise fail("name", f"{_show(raw['name'])} is not a string")
    expect = raw.get("expect")
    if expect not in ("allowed", "denied"):
        raise fail("expect", f"must be allowed or denied, not {_show(expect)}")
    protocol_raw = raw.get("protocol", "TCP")
    if not isinstance(protocol_raw, str) or protocol_raw.upper() not in _PROTOCOLS:
        raise fail("protocol", f"{_show(protocol_raw)} is not TCP, UDP or SCTP")
    destination = _side(raw.get("to"), "to", fail, destination=True)
    port = raw.get("port")
    needs_port = destination.target not in _SPECIAL
    if port is None and needs_port:
        raise fail("port", "required (a number 1-65535)")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise fail("port", f"{_show(port)} is not a port number 1-65535")
    return Flow(
        index,
        name or f"flow {index + 1}",
        _side(raw.get("from"), "from", fail, destination=False),
        destination,
        port,
        Protocol(protocol_raw.upper()),
        Verdict(expect),
    )


def _names(value: Any, field_: str, fail: Fail) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise fail(field_, f"{_show(value)}: a namespace name or a list of names")


def _selector(value: Any, field_: str, fail: Fail) -> LabelSelector:
    if not isinstance(value, dict):
        raise fail(field_, f"{_show(value)}: a label selector (a mapping)")
    if not ({"matchLabels", "matchExpressions"} & set(value)):
        value = {"matchLabels": value}  # shorthand: a plain label map
    problems = [v for v in validate_label_selector(value, field_) if v.level is Level.ERROR]
    if problems:
        raise fail(problems[0].path, problems[0].message)
    return parse_selector(value)


def _pod_key(value: Any, field_: str, fail: Fail) -> str:
    if not isinstance(value, str) or not _NS_NAME.fullmatch(value):
        raise fail(field_, f"{_show(value)}: write namespace/name")
    return value


def _address(value: Any, field_: str, fail: Fail) -> str:
    try:
        return str(ip_address(value if isinstance(value, str) else ""))
    except ValueError:
        raise fail(field_, f"{_show(value)} is not an IP address") from None


def _side(raw: Any, where: str, fail: Fail, destination: bool) -> Side:
    if raw is None or raw == {}:
        return Side()
    if isinstance(raw, str):
        if raw in _SPECIAL and destination:
            return Side(target=raw)
        head, _, rest = raw.partition("/")
        if head == "svc" and destination:
            if not _NS_NAME.fullmatch(rest):
                raise fail(where, f"{_show(raw)}: write svc/namespace/name")
            return Side(target=raw)
        if head == "ip" and destination:
            return Side(target=f"ip/{_address(rest, where, fail)}")
        if _NS_NAME.fullmatch(raw):
            return Side(pod=raw)
        raise fail(where, f"{_show(raw)}: write ns/pod, svc/ns/name, ip/ADDRESS, dns or apiserver")
    if not isinstance(raw, dict):
        raise fail(where, f"{_show(raw)}: a mapping (namespace, pods, ...) or a string")
    known = {"namespace", "notNamespace", "namespaceSelector", "pods", "pod", "service", "ip"}
    unknown = sorted(str(k) for k in set(raw) - known)
    if unknown:
        raise fail(f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})")
    target = None
    if "service" in raw or "ip" in raw:
        if not destination:
            raise fail(where, "service and ip are destinations only")
        if "service" in raw and "ip" in raw:
            raise fail(where, "service or ip, not both")
        target = (
            f"svc/{_pod_key(raw['service'], f'{where}.service', fail)}"
            if "service" in raw
            else f"ip/{_address(raw['ip'], f'{where}.ip', fail)}"
        )
    namespaces = _names(raw["namespace"], f"{where}.namespace", fail) if "namespace" in raw else ()
    if "namespace" in raw and not namespaces:
        # Left empty it would mean every namespace: leave the field out for that.
        raise fail(f"{where}.namespace", "an empty list selects no namespace")
    return Side(
        namespaces=namespaces,
        not_namespaces=_names(raw["notNamespace"], f"{where}.notNamespace", fail)
        if "notNamespace" in raw
        else (),
        namespace_selector=_selector(raw["namespaceSelector"], f"{where}.namespaceSelector", fail)
        if "namespaceSelector" in raw
        else None,
        pods=_selector(raw["pods"], f"{where}.pods", fail) if "pods" in raw else None,
        pod=_pod_key(raw["pod"], f"{where}.pod", fail) if "pod" in raw else None,
        target=target,
    )


# --- checking ----------------------------------------------------------------------

_EXPLAINED = 3


def verify(snapshot: Snapshot, contract: Contract, cni: CniInfo | None = None) -> list[FlowResult]:
    cni = cni or detect_cni(snapshot)
    results = []
    live = [p for p in snapshot.pods if not p.finished]
    existing = {n for n, ns in snapshot.namespaces.items() if not ns.synthesized}
    existing |= {p.namespace for p in snapshot.pods}
    for flow in contract.flows:
        result = FlowResult(flow)
        sources = [p for p in live if flow.source.selects(snapshot, p)]
        _note_unmatched(result, "from", flow.source, sources, existing)
        if flow.destination.target is not None:
            _check_targets(snapshot, flow, sources, cni, result)
        else:
            destinations = [p for p in live if flow.destination.selects(snapshot, p)]
            _note_unmatched(result, "to", flow.destination, destinations, existing)
            _check_pods(snapshot, flow, sources, destinations, cni, result)
            if sources and destinations and not result.pairs:
                result.unmatched.append(Unmatched("both", flow.source))
        results.append(result)
    return results


def _note_unmatched(
    result: FlowResult, side: str, what: Side, pods: list[Pod], existing: set[str]
) -> None:
    missing = tuple(n for n in what.namespaces if n not in existing)
    if what.pod is not None and what.pod.partition("/")[0] not in existing:
        missing = (what.pod.partition("/")[0],)
    if not pods or missing:
        # A listed namespace that does not exist is a typo even when the other names
        # match pods: the flow checks less than it says.
        result.unmatched.append(Unmatched(side, what, missing))


def _record(result: FlowResult, src: str, dst: str, got: Verdict) -> None:
    result.pairs += 1
    if got is not result.flow.expect:
        result.violations.append((src, dst, got))


def _check_pods(
    snapshot: Snapshot,
    flow: Flow,
    sources: list[Pod],
    destinations: list[Pod],
    cni: CniInfo,
    result: FlowResult,
) -> None:
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
