"""The Snapshot: every object the analysis sees, the problems met reading them, and
the reads that were impossible. Reads files and directories (YAML, JSON, kubectl
`List` dumps). Imports `model`, `findings`, `parse`.
"""

from __future__ import annotations

import copyreg
import dataclasses
import json
import pickle
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
import yaml

from .findings import Finding, Severity
from .model import (
    NAMESPACE_NAME_LABEL,
    Endpoints,
    IPAddress,
    Namespace,
    NetworkPolicy,
    Node,
    ObjectRef,
    Pod,
    Service,
    Workload,
    model_leaf_types,
)
from .parse import Event, ExtendedObject, Origin, parse_object

__all__ = [
    "META_API_VERSION",
    "META_KIND",
    "Snapshot",
    "build_snapshot",
    "load_snapshot",
    "read_documents",
]

try:  # libyaml is ~10x faster; PyYAML wheels ship it, source builds may not
    _Loader: type[yaml.CSafeLoader | yaml.SafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_YAML_SUFFIXES = {".yaml", ".yml"}
_JSON_SUFFIXES = {".json"}
_DOC_START = re.compile(r"^---", re.MULTILINE)


@dataclass
class Snapshot:
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    endpoints: list[Endpoints] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    rejected_policies: list[ObjectRef] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    workloads: list[Workload] = field(default_factory=list)
    extended: list[ExtendedObject] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    #: (resource, namespace or None for all) that could not be read (HTTP 403 live).
    unreadable: set[tuple[str, str | None]] = field(default_factory=set)
    #: why each of `unreadable` could not be read (a 403, a server that kept failing)
    unreadable_why: dict[tuple[str, str | None], str] = field(default_factory=dict)

    # -- indexes, built on first use ---------------------------------------------

    @cached_property
    def policies_by_namespace(self) -> dict[str, list[NetworkPolicy]]:
        out: dict[str, list[NetworkPolicy]] = defaultdict(list)
        for p in self.policies:
            out[p.namespace].append(p)
        return out

    @cached_property
    def pods_by_key(self) -> dict[str, Pod]:
        return {p.key: p for p in self.pods}

    @cached_property
    def pods_by_namespace(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = defaultdict(list)
        for p in self.pods:
            out[p.namespace].append(p)
        return out

    @cached_property
    def pods_by_ip(self) -> dict[IPAddress, Pod]:
        return {ip: p for p in self.pods if not p.host_network for ip in p.ips}

    @cached_property
    def node_by_ip(self) -> dict[IPAddress, Node]:
        return {ip: n for n in self.nodes.values() for ip in n.addresses}

    def namespace(self, name: str) -> Namespace:
        ns = self.namespaces.get(name)
        if ns is None:  # NP-81: only the name label is certain
            ref = ObjectRef("Namespace", None, name)
            ns = Namespace(ref, ((NAMESPACE_NAME_LABEL, name),), synthesized=True)
            self.namespaces[name] = ns
        return ns

    def is_unreadable(self, resource: str, namespace: str | None) -> bool:
        return (resource, None) in self.unreadable or (resource, namespace) in self.unreadable

    def unreadable_reason(self, resource: str, namespace: str | None) -> str:
        why = self.unreadable_why.get((resource, namespace))
        return why or self.unreadable_why.get((resource, None)) or "not readable"

    def unreadable_extended(self, namespaces: set[str]) -> list[ObjectRef]:
        """Policy lists of other families that could not be read, and could apply."""
        return [
            ObjectRef(resource, ns, "*")
            for resource, ns in sorted(self.unreadable, key=lambda g: (g[0], g[1] or ""))
            if resource not in CORE_RESOURCES and (ns is None or ns in namespaces)
        ]

    def summary(self) -> dict[str, int]:
        live = sum(1 for p in self.pods if not p.is_template)
        return {
            "namespaces": sum(1 for n in self.namespaces.values() if not n.synthesized),
            "pods": live,
            "template_pods": len(self.pods) - live,
            "services": len(self.services),
            "networkpolicies": len(self.policies),
            "rejected_networkpolicies": len(self.rejected_policies),
            "nodes": len(self.nodes),
            "extended_policies": len(self.extended),
            "events": len(self.events),
            "ignored_objects": sum(self.unknown_kinds.values()),
        }


# --- reading files -----------------------------------------------------------------


def _problem(fid: str, message: str, origin: Origin) -> Finding:
    ref = ObjectRef("file", None, origin.file or "?", origin.file, origin.document, origin.line)
    return Finding(fid, Severity.ERROR, message, (ref,))


def _yaml_documents(text: str, name: str) -> Iterator[tuple[Any, Origin] | Finding]:
    starts = [1] + [text.count("\n", 0, m.start()) + 1 for m in _DOC_START.finditer(text)]
    if starts[1:2] == [1]:  # a leading `---` opens the first document
        starts = starts[1:]
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError:
        docs = None
    if docs is not None:
        for i, doc in enumerate(docs):
            line = starts[i] if i < len(starts) else None
            yield doc, Origin(name, i + 1, line)
        return
    # Salvage: parse each `---` chunk alone so one bad document spoils only itself.
    lines = text.splitlines(keepends=True)
    bounds = [*starts, len(lines) + 1]
    for i in range(len(starts)):
        chunk = "".join(lines[bounds[i] - 1 : bounds[i + 1] - 1])
        origin = Origin(name, i + 1, bounds[i])
        try:
            for doc in yaml.load_all(chunk, Loader=_Loader):
                yield doc, origin
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = bounds[i] + mark.line if mark is not None else bounds[i]
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            yield _problem(
                "input-malformed",
                f"not valid YAML at line {line}: {what}; this document is skipped",
                Origin(name, i + 1, line),
            )


def _json_documents(text: str, name: str) -> Iterator[tuple[Any, Origin] | Finding]:
    try:
        yield orjson.loads(text), Origin(name, 1, 1)
    except orjson.JSONDecodeError:
        pass
    else:
        return
    try:  # orjson is the fast path; the standard library words the error better
        yield json.loads(text), Origin(name, 1, 1)
    except json.JSONDecodeError as exc:
        yield _problem(
            "input-malformed",
            f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; file skipped",
            Origin(name, 1, exc.lineno),
        )


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix in _YAML_SUFFIXES | _JSON_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    return [path]


def read_documents(paths: Iterable[str | Path]) -> Iterator[tuple[Any, Origin] | Finding]:
    """Yield (object, origin) for every object in the paths; `List`s are unpacked."""
    for root in paths:
        root = Path(root)
        if not root.exists():
            yield _problem(
                "input-unreadable", f"{root}: no such file or directory", Origin(str(root))
            )
            continue
        for f in _files(root):
            name = str(f)
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                yield _problem("input-unreadable", f"cannot read {name}: {exc}", Origin(name))
                continue
            stripped = text.lstrip()
            is_json = f.suffix in _JSON_SUFFIXES or (
                f.suffix not in _YAML_SUFFIXES and stripped.startswith(("{", "["))
            )
            reader = _json_documents if is_json else _yaml_documents
            for item in reader(text, name):
                if isinstance(item, Finding):
                    yield item
                    continue
                doc, origin = item
                yield from _unpack(doc, origin)


def _unpack(doc: Any, origin: Origin) -> Iterator[tuple[Any, Origin]]:
    if doc is None:
        return
    if isinstance(doc, list):  # a bare JSON array of objects
        for i, item in enumerate(doc):
            yield from _unpack(item, Origin(origin.file, origin.document, origin.line, i))
        return
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        item_kind = kind[: -len("List")]
        for i, item in enumerate(doc["items"]):
            # The API's typed lists (PodList) omit kind on items; kubectl's List keeps it.
            if isinstance(item, dict) and "kind" not in item and item_kind:
                item = {**item, "kind": item_kind}
                if "apiVersion" not in item and isinstance(doc.get("apiVersion"), str):
                    item["apiVersion"] = doc["apiVersion"]
            yield item, Origin(origin.file, origin.document, origin.line, i)
        return
    yield doc, origin


#: Resources the analysis reads from every cluster; a gap in any other list is an
#: extended policy kind that could not be read (and so might deny anything).
CORE_RESOURCES = frozenset(
    {
        "namespaces",
        "nodes",
        "pods",
        "services",
        "endpoints",
        "endpointslices",
        "networkpolicies",
        "events",
        "deployments",
        "statefulsets",
        "daemonsets",
    }
)

#: What `snapshot save` records beside the objects: the reads that were refused, so an
#: offline analysis reports the same unknowns as the live one.
META_API_VERSION = "netpol-doctor.io/v1"
META_KIND = "SnapshotInfo"


def load_snapshot(paths: Iterable[str | Path], default_namespace: str = "default") -> Snapshot:
    """Read manifests into a Snapshot. Never raises for bad input: see `.problems`.
    A single compact snapshot (`snapshot pack`) is loaded as it was saved."""
    paths = list(paths)
    if len(paths) == 1 and is_compact(paths[0]):
        return load_compact(paths[0])
    return build_snapshot(read_documents(paths), default_namespace)


def build_snapshot(
    items: Iterable[tuple[Any, Origin] | Finding],
    default_namespace: str = "default",
    gaps: dict[tuple[str, str | None], str] | None = None,
) -> Snapshot:
    """Parse manifest dicts (from files or a live cluster) into a Snapshot.

    `gaps`: lists that could not be read, and why; decisions needing them are unknown.
    """
    snap = Snapshot()
    all_gaps = dict(gaps or {})
    seen: dict[tuple[str, str | None, str], ObjectRef] = {}
    objects: dict[tuple[str, str | None, str], Any] = {}
    for item in items:
        if isinstance(item, Finding):
            snap.problems.append(item)
            continue
        doc, origin = item
        if (
            isinstance(doc, dict)
            and doc.get("kind") == META_KIND
            and doc.get("apiVersion") == META_API_VERSION
        ):
            all_gaps.update(_forbidden_reads(doc))
            continue
        result = parse_object(doc, origin, default_namespace)
        snap.problems.extend(_with_item(f, origin) for f in result.findings)
        if result.rejected is not None:
            snap.rejected_policies.append(result.rejected)
        if result.obj is None:
            if result.kind != "?" and not result.findings and result.rejected is None:
                snap.unknown_kinds[result.kind] += 1
            continue
        ref = result.obj.ref
        key = (ref.kind, ref.namespace, ref.name)
        if key in seen:
            prev = seen[key]
            snap.problems.append(
                Finding(
                    "input-duplicate",
                    Severity.WARNING,
                    f"{ref} appears again (first at {prev.location}); the later one is used",
                    (ref, prev),
                )
            )
        seen[key] = ref
        objects[key] = result.obj
        snap.kinds[result.kind] += 1
    _assemble(snap, list(objects.values()))
    snap.unreadable = set(all_gaps)
    snap.unreadable_why = all_gaps
    snap.problems[:0] = gap_findings(all_gaps)
    return snap


def _forbidden_reads(doc: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    out: dict[tuple[str, str | None], str] = {}
    for entry in doc.get("forbidden") or []:
        if isinstance(entry, dict) and isinstance(entry.get("resource"), str):
            ns = entry.get("namespace")
            why = entry.get("reason")
            key = (entry["resource"], ns if isinstance(ns, str) else None)
            out[key] = why if isinstance(why, str) else "not readable when the snapshot was saved"
    return out


def _with_item(f: Finding, origin: Origin) -> Finding:
    if origin.item is None or not f.objects:
        return f
    # Point inside kubectl's List: "items[12]" is how the user finds it in the file.
    path = f"items[{origin.item}]" + (f".{f.field}" if f.field else "")
    return Finding(f.id, f.severity, f.message, f.objects, path, f.fix)


def _assemble(snap: Snapshot, objects: list[Any]) -> None:
    for obj in objects:
        if isinstance(obj, Namespace):
            snap.namespaces[obj.name] = obj
        elif isinstance(obj, Pod):
            snap.pods.append(obj)
        elif isinstance(obj, Service):
            snap.services[obj.key] = obj
        elif isinstance(obj, Endpoints):
            snap.endpoints.append(obj)
        elif isinstance(obj, NetworkPolicy):
            snap.policies.append(obj)
        elif isinstance(obj, Node):
            snap.nodes[obj.ref.name] = obj
        elif isinstance(obj, Workload):
            snap.workloads.append(obj)
        elif isinstance(obj, ExtendedObject):
            snap.extended.append(obj)
        elif isinstance(obj, Event):
            snap.events.append(obj)
    snap.pods.extend(_template_pods(snap))
    _note_missing_namespaces(snap)


def _template_pods(snap: Snapshot) -> list[Pod]:
    """Pods for workloads with no live Pod in the input (a GitOps repo has none)."""
    from .selectors import Tri, match_selector

    live_by_ns: dict[str, list[Pod]] = defaultdict(list)
    for p in snap.pods:
        live_by_ns[p.namespace].append(p)
    workload_keys = {(w.ref.kind, w.ref.namespace, w.ref.name) for w in snap.workloads}
    out: list[Pod] = []
    taken = {p.key for p in snap.pods}
    for w in snap.workloads:
        if w.template is None:
            continue
        # A ReplicaSet/Job whose Deployment/CronJob is in the input is covered by it.
        if w.owner is not None and (w.owner[0], w.ref.namespace, w.owner[1]) in workload_keys:
            continue
        if w.desired == 0:
            continue
        live = live_by_ns.get(w.ref.namespace or "default", [])
        if w.selector is not None:
            has_live = any(match_selector(w.selector, p.label_map).result is Tri.YES for p in live)
        else:  # CronJob: its Jobs' pods carry the job name, which starts with ours
            has_live = any(p.owner and p.owner[1].startswith(f"{w.ref.name}-") for p in live)
        if has_live or w.template.key in taken:
            continue
        taken.add(w.template.key)
        out.append(w.template)
    return out


def _note_missing_namespaces(snap: Snapshot) -> None:
    referenced: dict[str, ObjectRef] = {}
    refs = [o.ref for o in snap.pods] + [o.ref for o in snap.policies]
    refs += [o.ref for o in snap.services.values()]
    for ref in refs:
        ns = ref.namespace
        if ns and ns not in snap.namespaces and ns not in referenced:
            referenced[ns] = ref
    for ns, ref in sorted(referenced.items()):
        snap.namespace(ns)
        snap.problems.append(
            Finding(
                "namespace-missing",
                Severity.WARNING,
                f"namespace {ns} is not in the input (first used by {ref}); it is assumed to "
                f"exist with only the label {NAMESPACE_NAME_LABEL}={ns}, so namespaceSelector "
                "decisions on any other label are unknown",
                (ObjectRef("Namespace", None, ns), ref),
            )
        )


# --- saving -----------------------------------------------------------------------


def gap_findings(gaps: dict[tuple[str, str | None], str]) -> list[Finding]:
    """One problem per list that could not be read: the answers it feeds are unknown."""
    out = []
    for (resource, ns), why in sorted(gaps.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        where = f"namespace {ns}" if ns else "the whole cluster"
        ref = ObjectRef(resource, ns, "*")
        out.append(
            Finding(
                "reads-forbidden",
                Severity.WARNING,
                f"could not read {resource} in {where} ({why}); answers that depend on them "
                "are unknown",
                (ref,),
            )
        )
    return out


def write_snapshot(
    objects: Iterable[dict[str, Any]],
    gaps: dict[tuple[str, str | None], str],
    directory: str | Path,
    info: dict[str, Any] | None = None,
) -> list[Path]:
    """Write objects as one kubectl-style List per kind (sorted: diffable), plus the
    SnapshotInfo that records the gaps. Objects must already be stripped."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        by_kind[str(obj.get("kind"))].append(obj)
    written = []
    for kind, items in sorted(by_kind.items()):
        items.sort(
            key=lambda o: (o.get("metadata", {}).get("namespace") or "", o["metadata"]["name"])
        )
        path = root / f"{kind.lower()}.yaml"
        doc = {"apiVersion": "v1", "kind": "List", "items": items}
        path.write_text(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False))
        written.append(path)
    meta = {
        "apiVersion": META_API_VERSION,
        "kind": META_KIND,
        **(info or {}),
        "forbidden": [
            {"resource": r, "namespace": ns, "reason": why}
            for (r, ns), why in sorted(gaps.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ],
    }
    path = root / "snapshot-info.yaml"
    path.write_text(yaml.dump(meta, Dumper=_Dumper, sort_keys=False))
    written.append(path)
    return written


try:
    _Dumper: type[yaml.CSafeDumper | yaml.SafeDumper] = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper


# --- the compact format ------------------------------------------------------------

#: A compact snapshot: this magic line, then the parsed Snapshot pickled. It loads in a
#: fraction of the time kubectl JSON takes (no parsing, no validation), and it is only
#: for files you made yourself with `netpol-doctor snapshot pack`: like any pickle it
#: must never be loaded from an untrusted source.
COMPACT_MAGIC = b"NETPOL-DOCTOR-SNAPSHOT 1\n"


def is_compact(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    with p.open("rb") as f:
        return f.read(len(COMPACT_MAGIC)) == COMPACT_MAGIC


def save_compact(snapshot: Snapshot, path: str | Path) -> None:
    # Indexes are rebuilt on demand; do not store them.
    state = {k: v for k, v in vars(snapshot).items() if k in Snapshot.__dataclass_fields__}
    with Path(path).open("wb") as f:
        f.write(COMPACT_MAGIC)
        pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
        # Store model objects as constructor calls: the default for slotted frozen
        # dataclasses introspects fields() per object on load, ~8x slower.
        pickler.dispatch_table = {**copyreg.dispatch_table, **_MODEL_REDUCERS}
        pickler.dump(Snapshot(**state))


def _reducer(cls: type) -> Any:
    names = tuple(f.name for f in dataclasses.fields(cls))
    return lambda obj: (cls, tuple(getattr(obj, n) for n in names))


_MODEL_REDUCERS: dict[type, Any] = {
    cls: _reducer(cls)
    for cls in (
        Pod,
        Namespace,
        NetworkPolicy,
        Node,
        Service,
        Endpoints,
        Workload,
        ObjectRef,
        Event,
        ExtendedObject,
        *model_leaf_types(),
    )
}


def load_compact(path: str | Path) -> Snapshot:
    with Path(path).open("rb") as f:
        if f.read(len(COMPACT_MAGIC)) != COMPACT_MAGIC:
            raise ValueError(f"{path} is not a compact netpol-doctor snapshot")
        snap = pickle.load(f)
    if not isinstance(snap, Snapshot):
        raise ValueError(f"{path} is not a compact netpol-doctor snapshot")
    return snap
