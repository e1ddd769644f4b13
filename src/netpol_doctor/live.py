"""Read a live cluster, read-only: the only module that imports `kubernetes`.

Only GET requests (list and discovery) are ever sent. Lists are paginated and run
concurrently; a 403 becomes a recorded gap (the analysis then answers `unknown` where
it depended on it); 429, 5xx, timeouts and an expired continue token are retried with
a bounded backoff. What comes back are the same manifest dicts files give, for the
same `parse`. Imports `errors`, `parse`, `snapshot`.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import NetpolDoctorError
from .parse import EXTENDED_KINDS, Origin
from .snapshot import Snapshot, build_snapshot, write_snapshot

__all__ = [
    "ClusterError",
    "Collection",
    "Resource",
    "Scope",
    "collect",
    "save",
    "strip_sensitive",
    "to_snapshot",
]


class ClusterError(NetpolDoctorError):
    """The cluster cannot be read at all (config, reachability, credentials)."""


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
)
_PAGE = 500
_ATTEMPTS = 4
_MAX_WAIT = 8.0
_TIMEOUT = (5.0, 30.0)  # connect, read


@dataclass(frozen=True, slots=True)
class Scope:
    """Which namespaces to read; None: all of them (matrix, pod-IP questions)."""

    namespaces: frozenset[str] | None = None


@dataclass
class Collection:
    objects: list[dict[str, Any]] = field(default_factory=list)
    #: (resource, namespace or None for the cluster-wide list) -> why it is missing
    gaps: dict[tuple[str, str | None], str] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    context: str | None = None
    server: str | None = None


class _Client:
    """GET with retries over the official client's configured ApiClient."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.requests = 0
        self._lock = threading.Lock()

    def get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        for attempt in range(_ATTEMPTS):
            with self._lock:
                self.requests += 1
            try:
                method, url, headers, _, _ = self.api.param_serialize(
                    "GET",
                    path,
                    query_params=list((query or {}).items()),
                    header_params={"Accept": "application/json"},
                    auth_settings=["BearerToken"],
                )
                resp = self.api.call_api(
                    method, url, header_params=headers, _request_timeout=_TIMEOUT
                )
                body = resp.read()
                if not 200 <= resp.status <= 299:
                    raise ApiException(http_resp=resp)
                data: dict[str, Any] = json.loads(body)
                return data
            except ApiException as exc:
                if exc.status in (429, 500, 502, 503, 504) and attempt < _ATTEMPTS - 1:
                    time.sleep(_backoff(attempt, exc.headers))
                    continue
                raise
            except HTTPError as exc:
                if attempt < _ATTEMPTS - 1:
                    time.sleep(_backoff(attempt, None))
                    continue
                raise ClusterError(f"cannot reach the API server ({_reason(exc)})") from None
        raise AssertionError("unreachable")


def _backoff(attempt: int, headers: Any) -> float:
    retry_after = None
    if headers is not None:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        if value is not None and str(value).isdigit():
            retry_after = float(value)
    base = retry_after if retry_after is not None else 0.25 * 2**attempt
    return min(_MAX_WAIT, base + random.uniform(0, 0.1))


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc).split("\n")[0][:200]


def _status_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body)
        return str(body.get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def make_client(kubeconfig: str | None, context: str | None) -> tuple[Any, str | None, str | None]:
    """An ApiClient for the kubeconfig context (exec plugins included) or in-cluster."""
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    config: Any = kube_config  # the loaders carry no type hints

    in_cluster = (
        kubeconfig is None
        and context is None
        and "KUBECONFIG" not in os.environ
        and not os.path.exists(os.path.expanduser("~/.kube/config"))
        and "KUBERNETES_SERVICE_HOST" in os.environ
    )
    try:
        if in_cluster:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            cfg.retries = 0
            return client.ApiClient(cfg), "in-cluster", cfg.host
        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        cfg.retries = 0  # retries are ours: bounded, with Retry-After
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        name = context or (active or {}).get("name")
        return client.ApiClient(cfg), name, cfg.host
    except ConfigException as exc:
        raise ClusterError(f"cannot use the kubeconfig: {str(exc).splitlines()[0]}") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot load the kubeconfig: {exc}") from None


def collect(
    scope: Scope,
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    api: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Collection:
    """Read what the analysis needs. Raises ClusterError only when nothing can be read."""
    from kubernetes.client.exceptions import ApiException

    start = time.monotonic()
    out = Collection()
    if api is None:
        api, out.context, out.server = make_client(kubeconfig, context)
    client = _Client(api)
    try:
        groups = _discover(client)
    except ApiException as exc:
        raise _fatal(exc, out.server) from None
    say = progress or (lambda _msg: None)
    say("reading namespaces, nodes and DaemonSets")
    first = [NAMESPACES, NODES, DAEMONSETS]
    lists: list[tuple[Resource, str | None]] = [(r, None) for r in first]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for items, gaps in pool.map(lambda rn: _list_all(client, *rn), lists):
            out.objects += items
            out.gaps.update(gaps)
        namespaces = _namespaces_to_read(scope, out.objects)
        extended = _extended_resources(client, groups)
        jobs: list[tuple[Resource, str | None]] = []
        for r in (*SCOPED, *extended):
            if not r.namespaced or namespaces is None:
                jobs.append((r, None))
            else:
                jobs += [(r, ns) for ns in sorted(namespaces)]
        say(f"reading {len(jobs)} lists")
        for items, gaps in pool.map(lambda rn: _list_all(client, *rn), jobs):
            out.objects += items
            out.gaps.update(gaps)
    out.requests = client.requests
    out.seconds = time.monotonic() - start
    return out


def _fatal(exc: Any, server: str | None) -> ClusterError:
    where = f" at {server}" if server else ""
    if exc.status == 401:
        return ClusterError(
            f"the API server{where} rejected the credentials (401 Unauthorized): the token "
            "may have expired; refresh it (e.g. run any kubectl command) and retry"
        )
    if exc.status == 0:
        return ClusterError(f"cannot reach the API server{where}: {_reason(exc)}")
    return ClusterError(f"the API server{where} answered {exc.status}: {_status_message(exc)}")


def _discover(client: _Client) -> dict[str, str]:
    """group -> preferred version, from /apis (a 404 means a very old server)."""
    data = client.get("/apis")
    out = {}
    for g in data.get("groups") or []:
        preferred = (g.get("preferredVersion") or {}).get("version")
        if isinstance(g.get("name"), str) and isinstance(preferred, str):
            out[g["name"]] = preferred
    return out


def _extended_resources(client: _Client, groups: dict[str, str]) -> list[Resource]:
    from kubernetes.client.exceptions import ApiException

    wanted = {g for g, _ in EXTENDED_KINDS}
    out: list[Resource] = []
    for group in sorted(g for g in groups if g in wanted):
        version = groups[group]
        try:
            data = client.get(f"/apis/{group}/{version}")
        except ApiException:
            continue  # a group that vanished or is forbidden to discover: nothing to list
        for res in data.get("resources") or []:
            kind, name = res.get("kind"), res.get("name", "")
            if (
                (group, kind) in EXTENDED_KINDS
                and "/" not in name
                and "list" in (res.get("verbs") or [])
            ):
                out.append(Resource(name, kind, group, version, bool(res.get("namespaced"))))
    return out


def _namespaces_to_read(scope: Scope, objects: Iterable[dict[str, Any]]) -> set[str] | None:
    if scope.namespaces is None:
        return None
    wanted = set(scope.namespaces) | {"kube-system", "default"}
    # The network plugin's agents may live elsewhere (calico-system, cilium): read them too.
    for obj in objects:
        if obj.get("kind") == "DaemonSet":
            ns = (obj.get("metadata") or {}).get("namespace")
            if isinstance(ns, str):
                wanted.add(ns)
    return wanted


Gaps = dict[tuple[str, str | None], str]


def _list_all(
    client: _Client, resource: Resource, namespace: str | None
) -> tuple[list[dict[str, Any]], Gaps]:
    """Every page of one list. A 403 (or a fault that outlived the retries) is a gap
    the analysis reports as unknown; a 404 an absent kind; a 410 a restart."""
    from kubernetes.client.exceptions import ApiException

    path = resource.path(namespace)
    items: list[dict[str, Any]] = []
    token: str | None = None
    restarts = 0
    while True:
        query = {"limit": str(_PAGE)}
        if token:
            query["continue"] = token
        try:
            page = client.get(path, query)
        except ApiException as exc:
            key = (resource.plural, namespace)
            if exc.status == 403:
                return [], {key: f"forbidden: {_status_message(exc)}"}
            if exc.status == 404:
                return [], {}
            if exc.status == 410 and token and restarts < 2:
                # The continue token expired mid-list: start over for a consistent list.
                items, token, restarts = [], None, restarts + 1
                continue
            if exc.status in (0, 401):
                raise _fatal(exc, None) from None
            return [], {
                key: f"failed after {_ATTEMPTS} attempts: {exc.status} {_status_message(exc)}"
            }
        for item in page.get("items") or []:
            if isinstance(item, dict):
                # List items come without kind/apiVersion; the parser needs them.
                items.append({"apiVersion": resource.api_version, "kind": resource.kind, **item})
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items, {}


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
