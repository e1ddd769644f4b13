"""A fake Kubernetes API server for tests: real HTTPS on 127.0.0.1, real wire format.

It serves read-only discovery, lists (with pagination and selectors) and single-object GETs
well enough for the official ``kubernetes`` Python client and ``kubectl`` to talk to it, and
serves the exec subresource over WebSocket with scripted results (tests/fakeexec.py), and
lets tests inject the failures a real cluster produces (401, 403, 410, 429, 500, slowness)
and the ones a broken server or proxy produces (`Fault`: stalls, trickles, bodies that are
not the promised JSON object, errors and pagination without end).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import enum
import json
import re
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme
import yaml

from fakeexec import ExecHandler, ExecResult, serve_exec

Obj = dict[str, Any]
GIT_VERSION = "v1.33.0"
TEST_USER = "test"

CLUSTER_SCOPED_KINDS = frozenset((
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "IngressClass", "CustomResourceDefinition", "CiliumClusterwideNetworkPolicy", "CiliumNode",
    "CiliumIdentity", "GlobalNetworkPolicy", "GlobalNetworkSet", "HostEndpoint", "Tier",
    "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
))  # fmt: skip
_IRREGULAR_PLURALS = {"Endpoints": "endpoints"}


def plural_of(kind: str) -> str:
    """The resource name the API server uses for ``kind`` (UnsafeGuessKindToResource)."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    low = kind.lower()
    if low.endswith("s"):
        return low + "es"
    if low.endswith("y"):
        return low[:-1] + "ies"
    return low + "s"


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    namespaced: bool


# group/version, plural, Kind, scope (n = namespaced, c = cluster), real short names
_CORE_TABLE = """
v1 configmaps ConfigMap n cm
v1 endpoints Endpoints n ep
v1 events Event n ev
v1 namespaces Namespace c ns
v1 nodes Node c no
v1 pods Pod n po
v1 secrets Secret n
v1 serviceaccounts ServiceAccount n sa
v1 services Service n svc
apps/v1 daemonsets DaemonSet n ds
apps/v1 deployments Deployment n deploy
apps/v1 replicasets ReplicaSet n rs
apps/v1 statefulsets StatefulSet n sts
batch/v1 cronjobs CronJob n cj
batch/v1 jobs Job n
networking.k8s.io/v1 ingresses Ingress n ing
networking.k8s.io/v1 networkpolicies NetworkPolicy n netpol
discovery.k8s.io/v1 endpointslices EndpointSlice n
"""
CORE_RESOURCES: dict[str, list[tuple[str, str, bool]]] = {}  # "group/version" -> resources
SHORT_NAMES = {  # plural -> real short names; CRDs here, core ones from the table
    "ciliumnetworkpolicies": ["cnp", "ciliumnp"],
    "ciliumclusterwidenetworkpolicies": ["ccnp"],
    "adminnetworkpolicies": ["anp"],
    "baselineadminnetworkpolicies": ["banp"],
}
for _line in filter(None, _CORE_TABLE.split("\n")):
    _gv, _plural, _kind, _scope, *_short = _line.split()
    CORE_RESOURCES.setdefault(_gv, []).append((_plural, _kind, _scope == "n"))
    SHORT_NAMES[_plural] = _short
FIELD_LABELS: dict[str, frozenset[str]] = {
    "Pod": frozenset({"spec.nodeName", "status.phase", "spec.serviceAccountName", "status.podIP"}),
    "Event": frozenset(
        f"involvedObject.{f}" for f in ("name", "namespace", "kind", "uid", "apiVersion")
    )
    | {"reason", "type"},
    "Secret": frozenset({"type"}),
    "Namespace": frozenset({"status.phase"}),
}


class Fault(enum.Enum):
    """A broken answer, set in ``FakeApiServer.faults`` for a resource plural or an exact
    path (``"/apis"``); the continue faults apply to lists of a plural."""

    STALL = "stall"  # 200, the headers and half the body, then silence until stop()
    TRICKLE = "trickle"  # 200, one byte of the body every ``trickle_seconds``
    HTML = "html"  # 200 with a proxy's HTML page
    TRUNCATED = "truncated"  # 200, an honest Content-Length, the JSON cut in half
    ARRAY = "array"  # 200 with a JSON array where the API promises an object
    SERVER_ERROR = "server-error"  # 500 on every request
    THROTTLE = "throttle"  # 429 on every request, Retry-After: ``retry_after``
    ENDLESS_CONTINUE = "endless-continue"  # every page carries a fresh continue token
    SAME_CONTINUE = "same-continue"  # every page carries the same continue token


_WIRE_FAULTS = frozenset({Fault.STALL, Fault.TRICKLE, Fault.HTML, Fault.TRUNCATED, Fault.ARRAY})
_HTML_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class ApiError(Exception):
    """An error answer, sent as a meta/v1 Status object."""

    code: int
    reason: str
    message: str
    details: Obj | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def status(self) -> Obj:
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        body.update(message=self.message, reason=self.reason)
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _not_found(details: Obj | None = None, message: str = "") -> ApiError:
    msg = message or "the server could not find the requested resource"
    return ApiError(404, "NotFound", msg, details)


# ---------------------------------------------------------------- selectors

_LABEL_REQ = re.compile(
    r"^(?P<neg>!)?\s*(?P<key>[A-Za-z0-9][\w./-]*)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<val>[\w.-]*)|\s(?P<setop>in|notin)\s*\((?P<vals>[^()]*)\))?$"
)


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def parse_label_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """Compile a label selector (equality- and set-based, comma = AND) into a predicate."""
    reqs: list[tuple[str, str, frozenset[str]]] = []  # (operator, key, values)
    for raw in _split_top_level(text) if text.strip() else []:
        m = _LABEL_REQ.match(raw.strip())
        if not m or (m["neg"] and (m["op"] or m["setop"])):
            raise _bad_request(f"unable to parse requirement: found '{raw.strip()}'")
        op = "!" if m["neg"] else m["op"] or m["setop"] or "exists"
        values = {m["val"]} if m["op"] else {v.strip() for v in (m["vals"] or "").split(",")}
        reqs.append((op, m["key"], frozenset(values)))
    return lambda labels: all(_label_matches(*req, labels) for req in reqs)


def _label_matches(op: str, key: str, values: frozenset[str], labels: dict[str, str]) -> bool:
    if op in ("exists", "!"):
        return (key in labels) == (op == "exists")
    if op in ("=", "==", "in"):
        return labels.get(key) in values
    return labels.get(key) not in values  # "!=" and "notin" also match a missing key


def _field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def parse_field_selector(text: str, kind: str) -> Callable[[Obj], bool]:
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_LABELS.get(kind, frozenset())
    reqs: list[tuple[str, str, bool]] = []  # (field, value, negated)
    for raw in text.split(",") if text.strip() else []:
        m = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", raw)
        if not m:
            raise _bad_request(f"invalid selector: '{text}'; can't understand '{raw}'")
        field, op, val = m.groups()
        if field not in allowed:
            raise _bad_request(f'field label not supported: "{field}"')
        reqs.append((field, val, op == "!="))
    return lambda obj: all((_field_value(obj, f) == v) != neg for f, v, neg in reqs)


# ---------------------------------------------------------------- helpers


def _version_key(version: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (-1, 0, 0)
    stability = {"alpha": 0, "beta": 1, None: 2}[m[2]]
    return (stability, int(m[1]), int(m[3] or 0))


def load_manifests(directory: str | Path) -> list[Obj]:
    """Every object in the *.yaml / *.yml / *.json files of ``directory``, Lists unpacked."""
    out: list[Obj] = []
    for path in sorted(Path(directory).iterdir()):
        if path.suffix in (".yaml", ".yml", ".json"):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict):
                    out.extend((doc.get("items") or []) if doc.get("kind") == "List" else [doc])
    return out


# ---------------------------------------------------------------- the server


class FakeApiServer:
    """A read-only Kubernetes API server on https://127.0.0.1:<random port>."""

    def __init__(
        self, objects: Iterable[Obj], *, token: str = "test-token", max_page: int | None = None
    ) -> None:
        self.token = token
        self.max_page = max_page  # caps the page size of requests that send a limit
        self.requests: list[RecordedRequest] = []
        self.forbidden: set[tuple[str, str | None]] = set()
        self.rate_limit_once: set[str] = set()
        self.server_error_once: set[str] = set()
        self.expire_continue: set[str] = set()
        self.delay: dict[str, float] = {}
        self.faults: dict[str, Fault] = {}
        self.trickle_seconds = 0.2
        self.retry_after = "1"
        self._pages_served = 0
        #: (namespace, pod) -> what exec in that pod answers; others: no such executable
        self.exec_handlers: dict[tuple[str, str], ExecHandler] = {}
        #: the channel subprotocol agreed on each exec, in order
        self.exec_subprotocols: list[str | None] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generation = 1
        self._versions: dict[str, list[str]] = {}  # group -> versions, "" is the core group
        self._resources: dict[tuple[str, str], dict[str, Resource]] = {}
        self._objects: dict[tuple[str, str, str], list[Obj]] = {}  # (group, version, kind)
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        for group_version, resources in CORE_RESOURCES.items():
            self.add_group(*_split_gv(group_version), resources)
        self._ingest(objects)

    # -- registry

    def add_group(self, group: str, version: str, resources: list[tuple[str, str, bool]]) -> None:
        """Make ``group/version`` discoverable with ``(plural, Kind, namespaced)`` resources."""
        with self._lock:
            versions = self._versions.setdefault(group, [])
            if version not in versions:
                versions.append(version)
                versions.sort(key=_version_key, reverse=True)
            table = self._resources.setdefault((group, version), {})
            table.update({r[0]: Resource(*r) for r in resources})

    def _resource_for_kind(self, group: str, version: str, kind: str) -> Resource | None:
        found = [r for r in self._resources.get((group, version), {}).values() if r.kind == kind]
        return found[0] if found else None

    def _ingest(self, objects: Iterable[Obj]) -> None:
        flat: list[Obj] = []
        for obj in objects:
            items = (obj.get("items") or []) if obj.get("kind") == "List" else [obj]
            flat.extend(copy.deepcopy(items))
        rvs = [str(o.get("metadata", {}).get("resourceVersion", "")) for o in flat]
        self._rv = max([int(v) for v in rvs if v.isdigit()], default=1000)
        for obj in flat:
            api_version, kind = obj.get("apiVersion"), obj.get("kind")
            name = obj.get("metadata", {}).get("name")
            if not all(isinstance(v, str) and v for v in (api_version, kind, name)):
                raise ValueError(f"object without apiVersion/kind/name: {obj!r:.200}")
            assert isinstance(api_version, str) and isinstance(kind, str)
            group, version = _split_gv(api_version)
            res = self._resource_for_kind(group, version, kind)
            if res is None:
                res = Resource(plural_of(kind), kind, kind not in CLUSTER_SCOPED_KINDS)
                self.add_group(group, version, [(res.plural, kind, res.namespaced)])
            meta = obj.setdefault("metadata", {})
            if res.namespaced:
                meta.setdefault("namespace", "default")
            key = f"{api_version}/{kind}/{meta.get('namespace', '')}/{meta.get('name', '')}"
            meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, key)))
            if "resourceVersion" not in meta:
                self._rv += 1
                meta["resourceVersion"] = str(self._rv)
            self._objects.setdefault((group, version, kind), []).append(obj)
        for items in self._objects.values():
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    # -- lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeApiServer is not started")
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def ca_path(self) -> str:
        if self._tmp is None:
            raise RuntimeError("FakeApiServer is not started")
        return str(Path(self._tmp.name) / "ca.pem")

    def start(self) -> FakeApiServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="fakeapi-")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        context.set_alpn_protocols(["http/1.1"])
        ca.cert_pem.write_to_path(self.ca_path)
        self._ca_pem = ca.cert_pem.bytes()
        self._stop.clear()
        self._httpd = _TLSServer(context, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
        self._httpd = self._thread = self._tmp = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        context: str = "fake",
        token: str | None = None,
        namespace: str | None = None,
    ) -> None:
        ctx: Obj = {"cluster": context, "user": TEST_USER}
        if namespace is not None:
            ctx["namespace"] = namespace
        cluster = {"server": self.url, "certificate-authority-data": ""}
        cluster["certificate-authority-data"] = base64.b64encode(self._ca_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": TEST_USER, "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
            "preferences": {},
        }
        Path(path).write_text(yaml.safe_dump(config, sort_keys=False))

    # -- request handling

    def handle(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, Obj, dict[str, str]]:
        """Answer one request: (status code, JSON body, extra headers)."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        with self._lock:
            self.requests.append(RecordedRequest(method, split.path, query, dict(headers)))
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            scheme, _, credential = lower.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or credential.strip() != self.token:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if method != "GET":
                msg = "the server does not allow this method on the requested resource"
                raise ApiError(405, "MethodNotAllowed", msg)
            fault = self.fault_for(split.path)
            if fault is Fault.SERVER_ERROR:
                msg = 'an error on the server ("injected forever") has prevented the request'
                raise ApiError(500, "InternalError", msg)
            if fault is Fault.THROTTLE:
                msg = "Too many requests, please try again later."
                raise ApiError(429, "TooManyRequests", msg, None, {"Retry-After": self.retry_after})
            return 200, self._route(split.path, query), {}
        except ApiError as err:
            return err.code, err.status(), err.headers
        except Exception as err:  # a bug here must surface as a 500, not a dropped connection
            return 500, ApiError(500, "InternalError", f"fakeapi: {err!r}").status(), {}

    def exec_request(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[ApiError | None, ExecHandler, list[str], str]:
        """Check a WebSocket exec upgrade as the API server would (credentials, RBAC on
        pods/exec, the pod exists) before the handshake; records the request."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        with self._lock:
            self.requests.append(RecordedRequest(method, split.path, query, dict(headers)))
        parts = [unquote(p) for p in split.path.strip("/").split("/")]
        argv, container = query.get("command", []), _q(query, "container")
        fallback: ExecHandler = lambda a, _c: ExecResult(  # noqa: E731
            start_error=f'exec: "{a[0] if a else ""}": executable file not found in $PATH'
        )
        lower = {k.lower(): v for k, v in headers.items()}
        scheme, _, credential = lower.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            return ApiError(401, "Unauthorized", "Unauthorized"), fallback, argv, container
        if len(parts) != 7 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods":
            return _not_found(), fallback, argv, container
        namespace, name = parts[3], parts[5]
        if ("pods/exec", namespace) in self.forbidden:
            msg = (
                f'pods "{name}" is forbidden: User "{TEST_USER}" cannot create resource '
                f'"pods/exec" in API group "" in the namespace "{namespace}"'
            )
            details = {"name": name, "kind": "pods"}
            return ApiError(403, "Forbidden", msg, details), fallback, argv, container
        try:
            self._route(f"/api/v1/namespaces/{namespace}/pods/{name}", {})
        except ApiError as err:
            return err, fallback, argv, container
        if not argv:
            return _bad_request("you must specify at least 1 command"), fallback, argv, container
        return None, self.exec_handlers.get((namespace, name), fallback), argv, container

    def _route(self, path: str, query: dict[str, list[str]]) -> Obj:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        if parts == ["version"]:
            return self._version_info()
        if parts[:1] == ["api"]:
            group, rest = "", parts[1:]
            if not rest:
                address = self.url.removeprefix("https://")
                cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]
                return {"kind": "APIVersions", "versions": self._versions[""]} | {
                    "serverAddressByClientCIDRs": cidrs
                }
        elif parts[:1] == ["apis"] and len(parts) >= 2 and parts[1] in self._versions:
            group, rest = parts[1], parts[2:]
            if not rest:
                return {"kind": "APIGroup", "apiVersion": "v1"} | self._group_info(group)
        elif parts == ["apis"]:
            groups = [self._group_info(g) for g in self._versions if g]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        else:
            raise _not_found()
        version, rest = rest[0], rest[1:]
        table = self._resources.get((group, version))
        if table is None:
            raise _not_found()
        if not rest:
            return self._resource_list(group, version, table)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        res = table.get(rest[0])
        if res is None or len(rest) > 2 or (namespace is not None and not res.namespaced):
            raise _not_found()
        name = rest[1] if len(rest) == 2 else None
        if name is not None and res.namespaced and namespace is None:
            raise _not_found()
        return self._serve_resource(group, version, res, namespace, name, query)

    def _version_info(self) -> Obj:
        major, minor, _ = GIT_VERSION.lstrip("v").split(".")
        return {
            "major": major, "minor": minor, "gitVersion": GIT_VERSION,
            "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z",
            "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64",
        }  # fmt: skip

    def _group_info(self, group: str) -> Obj:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self._versions[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _resource_list(self, group: str, version: str, table: dict[str, Resource]) -> Obj:
        resources = []
        for res in table.values():
            entry: Obj = {"name": res.plural, "singularName": res.kind.lower()}
            entry |= {"namespaced": res.namespaced, "kind": res.kind}
            entry["verbs"] = ["get", "list", "watch"]
            if SHORT_NAMES.get(res.plural):
                entry["shortNames"] = SHORT_NAMES[res.plural]
            resources.append(entry)
        group_version = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version} | {
            "resources": resources
        }

    def fault_for(self, path: str) -> Fault | None:
        """The fault set for this exact path, else for its last segment (a plural)."""
        path = urlsplit(path).path
        return self.faults.get(path) or self.faults.get(path.rstrip("/").rpartition("/")[2])

    def _take_once(self, which: set[str], plural: str) -> bool:
        with self._lock:
            hit = plural in which
            which.discard(plural)
            return hit

    def _serve_resource(
        self,
        group: str,
        version: str,
        res: Resource,
        namespace: str | None,
        name: str | None,
        query: dict[str, list[str]],
    ) -> Obj:
        plural, api_version = res.plural, f"{group}/{version}" if group else version
        details: Obj = {"group": group} if group else {}
        details |= {"name": name} if name else {}
        details["kind"] = plural
        if self.delay.get(plural):
            self._stop.wait(self.delay[plural])
        if self._take_once(self.rate_limit_once, plural):
            msg = "Too many requests, please try again later."
            retry = details | {"retryAfterSeconds": 1}
            raise ApiError(429, "TooManyRequests", msg, retry, {"Retry-After": "1"})
        verb = "get" if name else ("watch" if _q(query, "watch") in ("true", "1") else "list")
        if (plural, namespace) in self.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            subject = f'{plural} "{name}"' if name else plural
            msg = (
                f'{subject} is forbidden: User "{TEST_USER}" cannot {verb} resource "{plural}" '
                f'in API group "{group}" {scope}'
            )
            raise ApiError(403, "Forbidden", msg, details)
        if self._take_once(self.server_error_once, plural):
            msg = 'an error on the server ("injected") has prevented the request from succeeding'
            raise ApiError(500, "InternalError", msg, details)
        if verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by fakeapi", details)
        objects = self._objects.get((group, version, res.kind), [])
        if namespace is not None:
            objects = [o for o in objects if o["metadata"].get("namespace") == namespace]
        if name is not None:
            for obj in objects:
                if obj["metadata"].get("name") == name:
                    return {"kind": res.kind, "apiVersion": api_version} | obj
            raise _not_found(details, f'{plural} "{name}" not found')
        labels = parse_label_selector(_q(query, "labelSelector"))
        fields = parse_field_selector(_q(query, "fieldSelector"), res.kind)
        objects = [o for o in objects if labels(o["metadata"].get("labels") or {}) and fields(o)]
        page, meta = self._paginate(plural, objects, query)
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
        return {"kind": f"{res.kind}List", "apiVersion": api_version, "metadata": meta} | {
            "items": items
        }

    def _paginate(
        self, plural: str, items: list[Obj], query: dict[str, list[str]]
    ) -> tuple[list[Obj], Obj]:
        try:
            limit = int(_q(query, "limit") or 0)
        except ValueError as err:
            raise _bad_request(f"invalid limit: {err}") from err
        start, rv = 0, self._rv
        fault = self.faults.get(plural)
        if fault in (Fault.SAME_CONTINUE, Fault.ENDLESS_CONTINUE):
            with self._lock:
                self._pages_served += 1
                serial = 0 if fault is Fault.SAME_CONTINUE else self._pages_served
            meta: Obj = {"resourceVersion": str(rv), "continue": f"page-{serial}"}
            return items[: limit or len(items)], meta
        if token := _q(query, "continue"):
            if self._take_once(self.expire_continue, plural):
                raise ApiError(410, "Expired", _EXPIRED_MESSAGE)
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                start, rv, generation = int(decoded["start"]), int(decoded["rv"]), decoded["gen"]
            except (ValueError, KeyError, TypeError, binascii.Error) as err:
                raise _bad_request(f"continue key is not valid: {err}") from err
            if generation != self._generation:
                raise ApiError(410, "Expired", _EXPIRED_MESSAGE)
        size = min(limit, self.max_page or limit) if limit > 0 else len(items)
        page, end = items[start : start + size], start + size
        meta = {"resourceVersion": str(rv)}
        if end < len(items):
            payload = {"v": "meta.k8s.io/v1", "rv": rv, "start": end, "gen": self._generation}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
            if not _q(query, "labelSelector") and not _q(query, "fieldSelector"):
                meta["remainingItemCount"] = len(items) - end
        return page, meta


_EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


def _split_gv(group_version: str) -> tuple[str, str]:
    group, _, version = group_version.rpartition("/")
    return group, version


def _q(query: dict[str, list[str]], key: str) -> str:
    return query.get(key, [""])[0]


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, api: FakeApiServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context, self.api = context, api
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the per-connection thread, not in the accept loop.
        request.settimeout(10)
        try:
            conn = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with self._conn_lock:
            self._connections.add(conn)
        try:
            _Handler(conn, client_address, self)
        finally:
            with self._conn_lock:
                self._connections.discard(conn)
            conn.close()

    def close_connections(self) -> None:
        with self._conn_lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeouts, kubectl exiting) are normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TLSServer
    timeout = 10

    def _upgrade(self) -> None:
        api = self.server.api
        headers = dict(self.headers.items())
        err, handler, argv, container = api.exec_request(self.command, self.path, headers)
        self.close_connection = True
        if err is not None:
            data = (json.dumps(err.status()) + "\n").encode()
            self.send_response(err.code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.wfile.flush()
        head = f"{self.requestline}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        chosen = serve_exec(self.connection, (head + "\r\n").encode(), handler, argv, container)
        with api._lock:
            api.exec_subprotocols.append(chosen)

    def _answer(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket" and self.path.split("?")[
            0
        ].endswith("/exec"):
            self._upgrade()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
        api = self.server.api
        code, body, extra = api.handle(self.command, self.path, dict(self.headers.items()))
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        fault = api.fault_for(self.path) if code == 200 else None
        ctype = "application/json"
        if fault is Fault.ARRAY:
            data = (json.dumps([body]) + "\n").encode()
        elif fault is Fault.HTML:
            data, ctype = _HTML_PAGE, "text/html; charset=utf-8"
        elif fault is Fault.TRUNCATED:
            data = data[: len(data) // 2]
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault in _WIRE_FAULTS:
            self.close_connection = True
        if fault is Fault.STALL:
            self.wfile.write(data[: len(data) // 2])
            api._stop.wait()
        elif fault is Fault.TRICKLE:
            for i in range(len(data)):
                if api._stop.wait(api.trickle_seconds):
                    return
                self.wfile.write(data[i : i + 1])
        else:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass
