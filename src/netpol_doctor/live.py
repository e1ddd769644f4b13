"""Read a live cluster, read-only: what to read for a question, and how a list that
cannot be read becomes a gap.

Only GET requests (list and discovery) are ever sent, through `live_client`, which
bounds every read (`Limits`: a deadline for the whole read, a wall-clock timeout per
request, retries). Lists are paginated (at most `Limits.max_pages` pages, and a
repeated continue token ends the list) and run concurrently. A list that cannot be read
(403, an error or a garbled answer that outlived the retries, endless pagination)
becomes a recorded gap: the analysis answers `unknown` where it depended on it. A
namespaced list refused cluster-wide is read again per namespace the question needs.
What comes back are the same manifest dicts files give, for the same `parse`. With
`live_client`, the only module that imports `kubernetes`. Imports `errors`, `parse`,
`snapshot`, `live_client`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .live_client import (
    ClusterError,
    DeadlineExceeded,
    GetClient,
    Limits,
    ReadClock,
    RequestFailed,
    make_client,
)
from .parse import EXTENDED_KINDS, Origin
from .snapshot import Snapshot, build_snapshot, write_snapshot

__all__ = [
    "ClusterError",
    "Collection",
    "DeadlineExceeded",
    "Limits",
    "Resource",
    "Scope",
    "collect",
    "save",
    "strip_sensitive",
    "to_snapshot",
]


@dataclass(frozen=True, slots=True)
class Resource:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool

    @property
    def prefix(self) -> str:
        return f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"

    @property
    def api_version(self) -> str:
        return self.version if not self.group else f"{self.group}/{self.version}"

    def path(self, namespace: str | None) -> str:
        if namespace is None or not self.namespaced:
            return f"{self.prefix}/{self.plural}"
        return f"{self.prefix}/namespaces/{namespace}/{self.plural}"


NAMESPACES = Resource("namespaces", "Namespace", "", "v1", False)
NODES = Resource("nodes", "Node", "", "v1", False)
DAEMONSETS = Resource("daemonsets", "DaemonSet", "apps", "v1", True)
#: Read per namespace in scope (or cluster-wide when the scope is everything).
SCOPED = (
    Resource("pods", "Pod", "", "v1", True),
    Resource("services", "Service", "", "v1", True),
    Resource("endpoints", "Endpoints", "", "v1", True),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True),
    Resource("events", "Event", "", "v1", True),
    Resource("deployments", "Deployment", "apps", "v1", True),
    Resource("statefulsets", "StatefulSet", "apps", "v1", True),
    # The links from a pod to its Deployment or CronJob (owner references), for
    # `deploy/NAME` questions and workload views.
    Resource("replicasets", "ReplicaSet", "apps", "v1", True),
    Resource("jobs", "Job", "batch", "v1", True),
    Resource("cronjobs", "CronJob", "batch", "v1", True),
)
_PAGE = 500
_ALWAYS = frozenset({"kube-system", "default"})


@dataclass(frozen=True, slots=True)
class Scope:
    """Which namespaces to read; None: all of them (matrix, pod-IP questions)."""

    namespaces: frozenset[str] | None = None


Gaps = dict[tuple[str, str | None], str]


@dataclass
class Collection:
    objects: list[dict[str, Any]] = field(default_factory=list)
    #: (resource, namespace or None for the cluster-wide list) -> why it is missing
    gaps: Gaps = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    context: str | None = None
    server: str | None = None


@dataclass(frozen=True, slots=True)
class _Listed:
    """One list's outcome: its items, or why it is a gap (and whether it was a 403)."""

    items: list[dict[str, Any]]
    gap: str | None = None
    forbidden: bool = False


Job = tuple[Resource, str | None]


def collect(
    scope: Scope,
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    api: Any = None,
    progress: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> Collection:
    """Read what the analysis needs, within `limits`. Raises ClusterError when nothing
    can be read, or the whole read overran its deadline (DeadlineExceeded)."""
    clock = ReadClock(limits or Limits())
    start = time.monotonic()
    out = Collection()
    if api is None:
        api, out.context, out.server = make_client(kubeconfig, context, clock)
    client = GetClient(api, clock, out.server)
    groups = _discover(client)
    say = progress or (lambda _msg: None)
    say("reading namespaces, nodes and DaemonSets")
    with ThreadPoolExecutor(max_workers=8) as pool:
        try:
            _read(pool, client, [(r, None) for r in (NAMESPACES, NODES, DAEMONSETS)], out, scope)
            namespaces = _namespaces_to_read(scope, out.objects)
            extended = _extended_resources(client, groups, out.gaps)
            jobs: list[Job] = []
            for r in (*SCOPED, *extended):
                if not r.namespaced or namespaces is None:
                    jobs.append((r, None))
                else:
                    jobs += [(r, ns) for ns in sorted(namespaces)]
            say(f"reading {len(jobs)} lists")
            _read(pool, client, jobs, out, scope)
        except BaseException:
            # Queued lists would each only find the deadline gone or the server lost.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    out.requests = client.requests
    out.seconds = time.monotonic() - start
    return out


def _read(
    pool: ThreadPoolExecutor, client: GetClient, jobs: list[Job], out: Collection, scope: Scope
) -> None:
    """Run the lists into `out`. RBAC often grants namespaces, not the cluster: a
    namespaced list refused cluster-wide is read again per namespace."""
    again: list[Job] = []
    listed_all = pool.map(lambda job: _list_all(client, *job), jobs)
    for (resource, ns), listed in zip(jobs, listed_all, strict=True):
        if listed.forbidden and ns is None and resource.namespaced:
            names = _fallback_namespaces(scope, out.objects)
            if names:
                again += [(resource, name) for name in sorted(names)]
                continue
        out.objects += listed.items
        if listed.gap is not None:
            out.gaps[(resource.plural, ns)] = listed.gap
    if again:
        _read(pool, client, again, out, scope)


def _fallback_namespaces(scope: Scope, objects: Iterable[dict[str, Any]]) -> set[str]:
    """The namespaces the question needs; for a whole-cluster question, every Namespace
    read so far (results arrive in job order, and namespaces are listed first)."""
    if scope.namespaces is not None:
        return set(scope.namespaces) | _ALWAYS
    found = set()
    for obj in objects:
        name = (obj.get("metadata") or {}).get("name")
        if obj.get("kind") == "Namespace" and isinstance(name, str):
            found.add(name)
    return found


def _discover(client: GetClient) -> dict[str, str]:
    """group -> preferred version, from /apis (a 404 means a very old server)."""
    try:
        data = client.get("/apis")
    except RequestFailed as exc:
        if exc.status == 404:
            return {}
        where = f" at {client.server}" if client.server else ""
        raise ClusterError(f"cannot discover the API server's resources{where}: {exc}") from None
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise ClusterError("cannot discover the API server's resources: GET /apis has no groups")
    out = {}
    for g in groups:
        if not isinstance(g, dict):
            continue
        preferred = g.get("preferredVersion")
        version = preferred.get("version") if isinstance(preferred, dict) else None
        if isinstance(g.get("name"), str) and isinstance(version, str):
            out[g["name"]] = version
    return out


def _extended_resources(client: GetClient, groups: dict[str, str], gaps: Gaps) -> list[Resource]:
    """The policy kinds of other families this server serves. A group it announces but
    will not describe is a gap: its policies might deny anything."""
    wanted = {g for g, _ in EXTENDED_KINDS}
    out: list[Resource] = []
    for group in sorted(g for g in groups if g in wanted):
        version = groups[group]
        try:
            data = client.get(f"/apis/{group}/{version}")
        except RequestFailed as exc:
            if exc.status != 404:  # 404: the group vanished since /apis
                gaps[(group, None)] = str(exc)
            continue
        resources = data.get("resources")
        if not isinstance(resources, list):
            gaps[(group, None)] = f"GET /apis/{group}/{version}: the answer lists no resources"
            continue
        for res in resources:
            if not isinstance(res, dict):
                continue
            kind, name, verbs = res.get("kind"), res.get("name"), res.get("verbs")
            if (
                (group, kind) in EXTENDED_KINDS
                and isinstance(kind, str)
                and isinstance(name, str)
                and "/" not in name
                and isinstance(verbs, list)
                and "list" in verbs
            ):
                out.append(Resource(name, kind, group, version, bool(res.get("namespaced"))))
    return out


def _namespaces_to_read(scope: Scope, objects: Iterable[dict[str, Any]]) -> set[str] | None:
    if scope.namespaces is None:
        return None
    wanted = set(scope.namespaces) | _ALWAYS
    # The network plugin's agents may live elsewhere (calico-system, cilium): read them too.
    for obj in objects:
        if obj.get("kind") == "DaemonSet":
            ns = (obj.get("metadata") or {}).get("namespace")
            if isinstance(ns, str):
                wanted.add(ns)
    return wanted


def _list_all(client: GetClient, resource: Resource, namespace: str | None) -> _Listed:
    """Every page of one list. A 403, an answer that outlived the retries or endless
    pagination is a gap the analysis reports as unknown (partial items are dropped: a
    gap means the list is unknown); a 404 an absent kind; a 410 a restart."""
    path = resource.path(namespace)
    max_pages = client.clock.limits.max_pages
    items: list[dict[str, Any]] = []
    token: str | None = None
    seen: set[str] = set()
    restarts = 0
    while True:
        query = {"limit": str(_PAGE)}
        if token:
            query["continue"] = token
        try:
            page = client.get(path, query)
        except RequestFailed as exc:
            if exc.status == 403:
                return _Listed([], f"forbidden: {exc.why}", forbidden=True)
            if exc.status == 404:
                return _Listed([])
            if exc.status == 410 and token and restarts < 2:
                # The continue token expired mid-list: start over for a consistent list.
                items, token, seen, restarts = [], None, set(), restarts + 1
                continue
            return _Listed([], str(exc))
        raw = page.get("items")
        if raw is not None and not isinstance(raw, list):
            return _Listed([], f"GET {path}: the answer's items are not a list")
        for item in raw or []:
            if isinstance(item, dict):
                # List items come without kind/apiVersion; the parser needs them.
                items.append({"apiVersion": resource.api_version, "kind": resource.kind, **item})
        meta = page.get("metadata")
        token = meta.get("continue") if isinstance(meta, dict) else None
        if not token or not isinstance(token, str):
            return _Listed(items)
        if token in seen:
            why = "the server sent the same continue token twice (pagination would loop)"
            return _Listed([], f"GET {path}: {why}, stopped after {len(seen) + 1} pages")
        seen.add(token)
        if len(seen) >= max_pages:
            why = f"still more pages after {max_pages}, the limit per list; stopped"
            return _Listed([], f"GET {path}: {why}")


# --- what a snapshot may keep -------------------------------------------------------

_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def strip_sensitive(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object as it may be written to disk: no Secrets, no env values, no
    last-applied configuration, no managedFields. None: drop the object entirely."""
    if obj.get("kind") in ("Secret", "ConfigMap"):
        return None
    out: dict[str, Any] = json.loads(json.dumps(obj))  # a deep copy we may edit
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in _DROPPED_ANNOTATIONS:
                annotations.pop(key, None)
    for spec in _pod_specs(out):
        for key in ("containers", "initContainers", "ephemeralContainers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict):
                    if isinstance(c.get("env"), list):
                        c["env"] = [
                            {"name": e.get("name")} for e in c["env"] if isinstance(e, dict)
                        ]
                    c.pop("envFrom", None)
    return out


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    found = [spec] if obj.get("kind") == "Pod" else []
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        found.append(template["spec"])
    job = spec.get("jobTemplate")
    if isinstance(job, dict):
        inner = (job.get("spec") or {}).get("template")
        if isinstance(inner, dict) and isinstance(inner.get("spec"), dict):
            found.append(inner["spec"])
    return found


def to_snapshot(collection: Collection) -> Snapshot:
    """The collected objects through the same parser files go through."""
    items = [(obj, Origin()) for obj in collection.objects]
    return build_snapshot(items, gaps=collection.gaps)


def save(collection: Collection, directory: str) -> list[str]:
    """`snapshot save`: what was read, stripped of anything sensitive, plus the gaps."""
    objects = [o for o in (strip_sensitive(obj) for obj in collection.objects) if o is not None]
    info = {"context": collection.context, "server": collection.server}
    return [str(p) for p in write_snapshot(objects, collection.gaps, directory, info)]
