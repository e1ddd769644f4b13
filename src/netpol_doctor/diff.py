"""`diff`: every pod pair and port whose verdict changed between two snapshots, and for
each change the object change that caused it, with the rule-level explanation on both
sides. Ordered by blast radius.

A snapshot may be a path, or `git:REV:path` inside the current git repository (a
manifests repo): the files at that revision are read without touching the work tree.
A side whose input could not be read completely is reported (`unread_sides`), never
taken for "no change". Imports `model`, `findings`, `snapshot`, `engine`, `matrix`,
`cni`, `errors`.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .cni import CniInfo, detect_cni, semantics_for
from .engine import Decision, Semantics, Verdict
from .errors import NetpolDoctorError
from .findings import Finding, Severity, unread_input
from .layers import evaluate_flow
from .matrix import CODES, all_ports, compute_matrix
from .model import NetworkPolicy, ObjectRef, Pod, Protocol
from .snapshot import Snapshot, load_snapshot
from .targets import endpoint_for_pod

__all__ = ["Cause", "Change", "DiffResult", "diff_snapshots", "load_revision"]


@dataclass(frozen=True, slots=True)
class Cause:
    """One object change: kind is added / removed / edited / labels."""

    kind: str
    ref: ObjectRef
    detail: str

    def __str__(self) -> str:
        return f"{self.ref} {self.kind}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class _Sides:
    """What a Change needs to explain itself on demand."""

    before: Snapshot
    after: Snapshot
    sem: Semantics


@dataclass(frozen=True)
class Change:
    source: str
    destination: str
    protocol: Protocol
    port: int
    before: Verdict
    after: Verdict
    causes: tuple[Cause, ...]
    sides: _Sides = field(repr=False, compare=False)

    # The rule-level explanations are computed when shown: a change of one policy can
    # flip hundreds of thousands of pairs, and text shows a few per cause.
    @cached_property
    def before_decision(self) -> Decision:
        return self._decide(self.sides.before)

    @cached_property
    def after_decision(self) -> Decision:
        return self._decide(self.sides.after)

    def _decide(self, snapshot: Snapshot) -> Decision:
        return _decide(
            snapshot, self.source, self.destination, self.protocol, self.port, self.sides.sem
        )


@dataclass
class DiffResult:
    changes: list[Change] = field(default_factory=list)
    #: cause (or "unattributed") -> changes, biggest group first
    groups: list[tuple[tuple[Cause, ...], list[Change]]] = field(default_factory=list)
    pods_compared: int = 0
    ports: list[tuple[Protocol, int]] = field(default_factory=list)
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)
    #: the input problems of each side (errors and warnings)
    problems_before: list[Finding] = field(default_factory=list)
    problems_after: list[Finding] = field(default_factory=list)

    @property
    def unread_sides(self) -> list[str]:
        """ "before" / "after" when part of that side could not be read."""
        return [
            side
            for side, problems in (("before", self.problems_before), ("after", self.problems_after))
            if unread_input(problems)
        ]


def load_revision(spec: str) -> Snapshot:
    """A path, or git:REV:path (files of that revision of the current repository)."""
    if not spec.startswith("git:"):
        return load_snapshot([spec])
    try:
        _, rev, path = spec.split(":", 2)
    except ValueError:
        raise NetpolDoctorError(f"{spec!r}: write git:REVISION:path") from None
    top = _git(["rev-parse", "--show-toplevel"]).strip()
    names = _git(["ls-tree", "-r", "--name-only", rev, "--", path or "."], cwd=top).splitlines()
    files = [n for n in names if n.endswith((".yaml", ".yml", ".json"))]
    if not files:
        raise NetpolDoctorError(f"no YAML or JSON files under {path!r} at {rev}")
    with tempfile.TemporaryDirectory(prefix="netpol-doctor-") as tmp:
        for name in files:
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_git(["show", f"{rev}:{name}"], cwd=top))
        return load_snapshot([tmp])


def _git(args: list[str], cwd: str | None = None) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError:
        raise NetpolDoctorError("git is not installed") from None
    if proc.returncode != 0:
        raise NetpolDoctorError(f"git {' '.join(args[:2])}: {proc.stderr.strip().splitlines()[0]}")
    return proc.stdout


def diff_snapshots(
    before: Snapshot,
    after: Snapshot,
    namespaces: Sequence[str] = (),
    ports: Sequence[tuple[Protocol, int]] = (),
    cni: CniInfo | None = None,
) -> DiffResult:
    cni = cni or detect_cni(after)
    sem = semantics_for(cni)
    wanted = set(namespaces)
    keys_b = {p.key for p in before.pods if not wanted or p.namespace in wanted}
    keys_a = {p.key for p in after.pods if not wanted or p.namespace in wanted}
    common = keys_b & keys_a
    result = DiffResult(
        pods_compared=len(common),
        only_before=sorted(keys_b - keys_a),
        only_after=sorted(keys_a - keys_b),
        problems_before=[p for p in before.problems if p.severity is not Severity.INFO],
        problems_after=[p for p in after.problems if p.severity is not Severity.INFO],
    )
    result.ports = list(ports) or sorted(
        set(all_ports(before)) | set(all_ports(after)), key=lambda p: (p[0].value, p[1])
    )
    causes = _object_changes(before, after)
    sides = _Sides(before, after, sem)
    # Which changed policies a pair's decisions depend on follows from the policies
    # selecting each end on each side: worked out once per combination of label sets.
    policy_causes: dict[tuple[object, ...], dict[str, Cause]] = {}
    for proto, port in result.ports:
        mb = compute_matrix(before, port, proto, namespaces, cni)
        ma = compute_matrix(after, port, proto, namespaces, cni)
        ib = {p.key: i for i, p in enumerate(mb.pods)}
        ia = {p.key: i for i, p in enumerate(ma.pods)}
        order = sorted(common)
        cols_b = np.array([ib[k] for k in order], dtype=np.int64)
        cols_a = np.array([ia[k] for k in order], dtype=np.int64)
        for k in order:
            rb = mb.row(ib[k])[cols_b]
            ra = ma.row(ia[k])[cols_a]
            for j in (rb != ra).nonzero()[0]:
                src, dst = k, order[j]
                key = (
                    _selection_key(before, src),
                    _selection_key(before, dst),
                    _selection_key(after, src),
                    _selection_key(after, dst),
                )
                found = policy_causes.get(key)
                if found is None:
                    decisions = (
                        _decide(before, src, dst, proto, port, sem),
                        _decide(after, src, dst, proto, port, sem),
                    )
                    found = policy_causes[key] = _policy_causes(decisions, causes)
                result.changes.append(
                    Change(
                        src,
                        dst,
                        proto,
                        port,
                        CODES[int(rb[j])],
                        CODES[int(ra[j])],
                        _attribute(src, dst, found, causes),
                        sides,
                    )
                )
    grouped: dict[tuple[Cause, ...], list[Change]] = defaultdict(list)
    for c in result.changes:
        grouped[c.causes].append(c)
    result.groups = sorted(grouped.items(), key=lambda kv: (-len(kv[1]), [str(c) for c in kv[0]]))
    return result


def _decide(
    snapshot: Snapshot, src: str, dst: str, proto: Protocol, port: int, sem: Semantics
) -> Decision:
    pods = snapshot.pods_by_key
    source, destination = (
        endpoint_for_pod(snapshot, pods[src]),
        endpoint_for_pod(snapshot, pods[dst]),
    )
    return evaluate_flow(snapshot, source, destination, proto, port, sem)


def _selection_key(snapshot: Snapshot, key: str) -> tuple[object, ...]:
    pod = snapshot.pods_by_key[key]
    return (pod.namespace, pod.labels, pod.host_network)


def _policy_key(p: NetworkPolicy) -> tuple[object, ...]:
    return (p.pod_selector, p.policy_types, p.ingress, p.egress)


def _object_changes(before: Snapshot, after: Snapshot) -> dict[tuple[str, str], Cause]:
    """(kind, key) -> what changed, for policies, pod labels and namespace labels."""
    out: dict[tuple[str, str], Cause] = {}
    pb = {p.ref.key: p for p in before.policies}
    pa = {p.ref.key: p for p in after.policies}
    for key in pb.keys() | pa.keys():
        b, a = pb.get(key), pa.get(key)
        if b is None and a is not None:
            out[("NetworkPolicy", key)] = Cause("added", a.ref, "")
        elif a is None and b is not None:
            out[("NetworkPolicy", key)] = Cause("removed", b.ref, "")
        elif a is not None and b is not None and _policy_key(a) != _policy_key(b):
            out[("NetworkPolicy", key)] = Cause("edited", a.ref, _policy_edit(b, a))
    for kind, left, right in (
        ("Pod", {p.key: p for p in before.pods}, {p.key: p for p in after.pods}),
    ):
        for key in left.keys() & right.keys():
            if left[key].labels != right[key].labels:
                out[(kind, key)] = Cause(
                    "labels", right[key].ref, _label_edit(left[key], right[key])
                )
    for name in before.namespaces.keys() & after.namespaces.keys():
        b_ns, a_ns = before.namespaces[name], after.namespaces[name]
        if b_ns.labels != a_ns.labels:
            detail = _labels_detail(dict(b_ns.labels), dict(a_ns.labels))
            out[("Namespace", name)] = Cause("labels", a_ns.ref, detail)
    return out


def _policy_edit(b: NetworkPolicy, a: NetworkPolicy) -> str:
    parts = []
    if b.pod_selector != a.pod_selector:
        parts.append(f"podSelector {b.pod_selector} -> {a.pod_selector}")
    if b.policy_types != a.policy_types:
        before_types = ",".join(sorted(t.value for t in b.policy_types))
        after_types = ",".join(sorted(t.value for t in a.policy_types))
        parts.append(f"policyTypes [{before_types}] -> [{after_types}]")
    if b.ingress != a.ingress:
        parts.append(f"ingress rules changed ({len(b.ingress)} -> {len(a.ingress)})")
    if b.egress != a.egress:
        parts.append(f"egress rules changed ({len(b.egress)} -> {len(a.egress)})")
    return "; ".join(parts)


def _labels_detail(b: dict[str, str], a: dict[str, str]) -> str:
    parts = [f"+{k}={a[k]}" for k in sorted(a.keys() - b.keys())]
    parts += [f"-{k}={b[k]}" for k in sorted(b.keys() - a.keys())]
    parts += [f"{k}: {b[k]} -> {a[k]}" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    return ", ".join(parts)


def _label_edit(b: Pod, a: Pod) -> str:
    return _labels_detail(b.label_map, a.label_map)


def _policy_causes(
    decisions: tuple[Decision, Decision], causes: dict[tuple[str, str], Cause]
) -> dict[str, Cause]:
    """The changed policies these decisions depend on (selecting either end)."""
    found: dict[str, Cause] = {}
    for d in decisions:
        for side in (d.egress, d.ingress):
            for p in (*side.selecting, *side.isolated_by):
                c = causes.get(("NetworkPolicy", p.ref.key))
                if c is not None:
                    found[str(c)] = c
    return found


def _attribute(
    src: str, dst: str, policy_causes: dict[str, Cause], causes: dict[tuple[str, str], Cause]
) -> tuple[Cause, ...]:
    """The changed objects this pair's decisions depend on, on either side: the
    policies, and the pods and namespaces of its two ends."""
    found = dict(policy_causes)
    for key in (src, dst):
        namespace = key.partition("/")[0]
        for what in (("Pod", key), ("Namespace", namespace)):
            c = causes.get(what)
            if c is not None:
                found[str(c)] = c
    return tuple(found[k] for k in sorted(found))
