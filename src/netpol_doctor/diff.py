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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from .cni import CniInfo, detect_cni, semantics_for
from .engine import Decision, Semantics, Verdict, relevant_extended, selecting_policies
from .errors import NetpolDoctorError
from .findings import Finding, Severity, unread_input
from .layers import evaluate_flow
from .matrix import CODES, Matrix, all_ports, compute_matrix
from .model import NetworkPolicy, ObjectRef, Pod, Protocol
from .selectors import Tri, match_selector
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
    #: the object changes that cause it: each alone, or all together (`together`)
    causes: tuple[Cause, ...]
    together: bool
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
    #: (causes, acting together, changes), biggest group first; no causes: unattributed
    groups: list[tuple[tuple[Cause, ...], bool, list[Change]]] = field(default_factory=list)
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
    sides = _Sides(before, after, sem)
    attribution = _Attribution(before, after, sem)
    for proto, port in result.ports:
        mb = compute_matrix(before, port, proto, namespaces, cni)
        ma = compute_matrix(after, port, proto, namespaces, cni)
        for src, dst, code_b, code_a, key in _changed_pairs(mb, ma):
            causes, together = attribution.of(src, dst, proto, port, CODES[code_a], key)
            result.changes.append(
                Change(src, dst, proto, port, CODES[code_b], CODES[code_a], causes, together, sides)
            )
    grouped: dict[tuple[tuple[Cause, ...], bool], list[Change]] = defaultdict(list)
    for c in result.changes:
        grouped[(c.causes, c.together)].append(c)
    result.groups = [
        (causes, together, changes)
        for (causes, together), changes in sorted(
            grouped.items(), key=lambda kv: (-len(kv[1]), [str(c) for c in kv[0][0]])
        )
    ]
    return result


def _changed_pairs(
    mb: Matrix, ma: Matrix
) -> Iterator[tuple[str, str, int, int, tuple[int | str, int | str]]]:
    """(source, destination, code before, code after, key) for every pair of pods on
    both sides whose verdict code differs. Compared per *joint class* (the pod's class
    before and its class after): pods alike on both sides have alike rows, so the
    comparison costs classes squared, not pods squared. The key says which pairs any
    mix of the two sides' objects decides alike (see `_Attribution`)."""
    in_a = {p.key: i for i, p in enumerate(ma.pods)}
    pairs = [(i, in_a[p.key]) for i, p in enumerate(mb.pods) if p.key in in_a]
    if not pairs:
        return
    ib = np.array([i for i, _ in pairs], dtype=np.int64)
    ia = np.array([j for _, j in pairs], dtype=np.int64)
    names = [mb.pods[i].key for i in ib.tolist()]
    # A pod whose own inputs changed (labels, ports, addresses, node) is its own class:
    # a mix of the sides may read its old labels with the new policies.
    moved = [_inputs(mb.pods[i]) != _inputs(ma.pods[j]) for i, j in pairs]
    joint = np.stack([mb.class_of[ib], ma.class_of[ia]], axis=1)
    lone = np.flatnonzero(np.array(moved, dtype=bool))
    if lone.size:
        joint = np.concatenate([joint, np.zeros((len(pairs), 1), dtype=joint.dtype)], axis=1)
        joint[lone, 2] = lone + 1
    classes, jid = np.unique(joint, axis=0, return_inverse=True)
    jid = jid.reshape(-1)
    tb = mb.table[np.ix_(classes[:, 0], classes[:, 0])]
    ta = ma.table[np.ix_(classes[:, 1], classes[:, 1])]
    members: list[list[int]] = [[] for _ in range(len(classes))]
    for pos, j in enumerate(jid.tolist()):
        members[j].append(pos)
    # each end is named by its joint class, or by its pod where the pair is an exception
    found: dict[tuple[int, int], tuple[int, int, tuple[int | str, int | str]]] = {}
    for a, b in zip(*np.nonzero(tb != ta), strict=True):
        code_b, code_a = int(tb[a, b]), int(ta[a, b])
        key: tuple[int | str, int | str] = (int(a), int(b))
        for s in members[a]:
            for d in members[b]:
                if s != d:
                    found[(s, d)] = (code_b, code_a, key)
    # pod-level exceptions (a pod to itself, a hostNetwork pod and its node's pods)
    pos_b = {int(i): pos for pos, i in enumerate(ib.tolist())}
    pos_a = {int(j): pos for pos, j in enumerate(ia.tolist())}
    patched = {(pos_b[i], pos_b[j]) for i, j in mb.patches if i in pos_b and j in pos_b}
    patched |= {(pos_a[i], pos_a[j]) for i, j in ma.patches if i in pos_a and j in pos_a}
    for s, d in patched:
        if s == d:
            continue
        code_b = int(CODES.index(mb.verdict(int(ib[s]), int(ib[d]))))
        code_a = int(CODES.index(ma.verdict(int(ia[s]), int(ia[d]))))
        if code_b == code_a:
            found.pop((s, d), None)
        else:
            found[(s, d)] = (code_b, code_a, (names[s], names[d]))
    for (s, d), (code_b, code_a, key) in sorted(found.items()):
        yield names[s], names[d], code_b, code_a, key


def _inputs(pod: Pod) -> tuple[object, ...]:
    return (pod.labels, pod.ports, pod.ips, pod.host_network, pod.node_name, pod.host_ip)


class _Attribution:
    """Which object changes cause a pair's verdict change: each change the pair's
    decision can read is reverted alone on the after side and the pair re-evaluated;
    the ones whose revert moves the verdict are its causes. When none does alone, the
    changes act together: reverts are added one at a time until the verdict moves, then
    any that the move does not need are dropped again (greedy; minimal, not minimum).
    Cached per joint-class pair: its pairs read the same inputs on every mix of sides."""

    def __init__(self, before: Snapshot, after: Snapshot, sem: Semantics) -> None:
        self.before, self.after, self.sem = before, after, sem
        self.changes = _object_changes(before, after)
        #: pods whose own inputs changed (labels, ports, addresses, node)
        pb = before.pods_by_key
        self.moved = {p.key for p in after.pods if p.key in pb and _inputs(pb[p.key]) != _inputs(p)}
        self._before_policies = {p.ref.key: p for p in before.policies}
        self._ends: dict[tuple[object, ...], set[tuple[str, str]]] = {}
        self._families: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._cache: dict[tuple[object, ...], tuple[tuple[Cause, ...], bool]] = {}
        self._reverted: dict[frozenset[tuple[str, str]], Snapshot] = {}

    def of(
        self,
        src: str,
        dst: str,
        proto: Protocol,
        port: int,
        now: Verdict,
        ends: tuple[int | str, int | str],
    ) -> tuple[tuple[Cause, ...], bool]:
        full = (*ends, proto, port)
        found = self._cache.get(full)
        if found is None:
            found = self._cache[full] = self._find(src, dst, proto, port, now, ends)
        return found

    def _find(
        self,
        src: str,
        dst: str,
        proto: Protocol,
        port: int,
        now: Verdict,
        ends: tuple[int | str, int | str],
    ) -> tuple[tuple[Cause, ...], bool]:
        candidates = sorted(
            self._end((proto, port, ends[0]), src)
            | self._end((proto, port, ends[1]), dst)
            | self._between(src, dst)
        )
        if len(candidates) == 1 and not {src, dst} & self.moved:
            # Reverting the only change this pair reads puts back every input its
            # decision reads (same policies selecting its ends, same labels): the
            # before verdict follows without evaluating it again.
            return self._named(candidates), False

        def moves(keys: list[tuple[str, str]]) -> bool:
            snap = self._revert(frozenset(keys))
            for key in (src, dst):
                self._seed(snap, keys, key)
            return _decide(snap, src, dst, proto, port, self.sem).verdict is not now

        alone = [k for k in candidates if moves([k])]
        if alone:
            return self._named(alone), False
        chosen: list[tuple[str, str]] = []
        for k in candidates:
            chosen.append(k)
            if moves(chosen):
                break
        else:
            return (), False  # not these objects: an address, a port, what was not read
        for k in list(chosen):
            rest = [c for c in chosen if c != k]
            if rest and moves(rest):
                chosen = rest
        return self._named(chosen), len(chosen) > 1

    def _named(self, keys: list[tuple[str, str]]) -> tuple[Cause, ...]:
        return tuple(sorted((self.changes[k] for k in keys), key=str))

    def _end(self, end: tuple[object, ...], pod_key: str) -> set[tuple[str, str]]:
        """The changes one end's side of a decision can read: the policies selecting
        it on either side, its labels and its namespace's labels. Alike for every pod
        of a joint class (same selections on both sides, same namespace)."""
        found = self._ends.get(end)
        if found is None:
            out = {("Pod", pod_key), ("Namespace", pod_key.partition("/")[0])}
            for snap in (self.before, self.after):
                pod = snap.pods_by_key[pod_key]
                out.update(("NetworkPolicy", p.ref.key) for p in selecting_policies(snap, pod))
            found = self._ends[end] = {k for k in out if k in self.changes}
        return found

    def _between(self, src: str, dst: str) -> set[tuple[str, str]]:
        """Changed objects of other families that can act on the flow (by namespace)."""
        namespaces = (src.partition("/")[0], dst.partition("/")[0])
        found = self._families.get(namespaces)
        if found is None:
            out: set[tuple[str, str]] = set()
            for snap in (self.before, self.after):
                s_ep, d_ep = (endpoint_for_pod(snap, snap.pods_by_key[k]) for k in (src, dst))
                out.update((r.kind, r.key) for r in relevant_extended(snap, s_ep, d_ep))
            found = self._families[namespaces] = {k for k in out if k in self.changes}
        return found

    def _seed(self, snap: Snapshot, keys: list[tuple[str, str]], pod_key: str) -> None:
        """Give a reverted side the policies selecting this pod, from the after side's
        (already worked out) less the reverted policies plus their before versions, so
        a re-evaluation does not test every policy of the namespace again. Same entry
        as `engine.selecting_policies` makes."""
        pod = snap.pods_by_key[pod_key]
        memo_key = (selecting_policies, pod.namespace, pod.labels)
        if memo_key in snap.memo or pod.labels != self.after.pods_by_key[pod_key].labels:
            return
        reverted = {k for kind, k in keys if kind == "NetworkPolicy"}
        kept = [p for p in selecting_policies(self.after, pod) if p.ref.key not in reverted]
        labels = pod.label_map
        back = [
            p
            for k in sorted(reverted)
            if (p := self._before_policies.get(k)) is not None
            and p.namespace == pod.namespace
            and match_selector(p.pod_selector, labels).result is Tri.YES
        ]
        snap.memo[memo_key] = kept + back

    def _revert(self, keys: frozenset[tuple[str, str]]) -> Snapshot:
        snap = self._reverted.get(keys)
        if snap is None:
            snap = self._reverted[keys] = _reverted(self.before, self.after, keys)
        return snap


def _reverted(before: Snapshot, after: Snapshot, keys: frozenset[tuple[str, str]]) -> Snapshot:
    """The after side with these object changes put back as they were before."""
    kinds = {kind for kind, _ in keys}
    policies, pods, namespaces, extended = (
        after.policies,
        after.pods,
        after.namespaces,
        after.extended,
    )
    if "NetworkPolicy" in kinds:
        old = {p.ref.key: p for p in before.policies}
        wanted = {k for kind, k in keys if kind == "NetworkPolicy"}
        policies = [p for p in after.policies if p.ref.key not in wanted]
        policies += [old[k] for k in sorted(wanted) if k in old]
    if "Pod" in kinds:
        labels = {k: before.pods_by_key[k].labels for kind, k in keys if kind == "Pod"}
        pods = [replace(p, labels=labels[p.key]) if p.key in labels else p for p in after.pods]
    namespaces = dict(after.namespaces)  # `namespace()` adds to it: never share it
    for kind, name in keys:
        if kind == "Namespace":
            namespaces[name] = before.namespaces[name]
    ext_keys = {(kind, k) for kind, k in keys} - {
        (kind, k) for kind, k in keys if kind in ("NetworkPolicy", "Pod", "Namespace")
    }
    if ext_keys:
        old_ext = {(x.ref.kind, x.ref.key): x for x in before.extended}
        extended = [x for x in after.extended if (x.ref.kind, x.ref.key) not in ext_keys]
        extended += [old_ext[k] for k in sorted(ext_keys) if k in old_ext]
    return replace(after, policies=policies, pods=pods, namespaces=namespaces, extended=extended)


def _decide(
    snapshot: Snapshot, src: str, dst: str, proto: Protocol, port: int, sem: Semantics
) -> Decision:
    pods = snapshot.pods_by_key
    source, destination = (
        endpoint_for_pod(snapshot, pods[src]),
        endpoint_for_pod(snapshot, pods[dst]),
    )
    return evaluate_flow(snapshot, source, destination, proto, port, sem)


def _policy_key(p: NetworkPolicy) -> tuple[object, ...]:
    return (p.pod_selector, p.policy_types, p.ingress, p.egress)


def _object_changes(before: Snapshot, after: Snapshot) -> dict[tuple[str, str], Cause]:
    """(kind, key) -> what changed, for policies of every family, pod labels and
    namespace labels."""
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
    eb = {(x.ref.kind, x.ref.key): x for x in before.extended}
    ea = {(x.ref.kind, x.ref.key): x for x in after.extended}
    for ext in eb.keys() | ea.keys():
        xb, xa = eb.get(ext), ea.get(ext)
        if xb is None and xa is not None:
            out[ext] = Cause("added", xa.ref, "")
        elif xa is None and xb is not None:
            out[ext] = Cause("removed", xb.ref, "")
        elif xa is not None and xb is not None and xa.raw != xb.raw:
            out[ext] = Cause("edited", xa.ref, "")
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
