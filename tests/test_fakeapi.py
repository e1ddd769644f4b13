"""tests/fakeapi.py checked against the real `kubernetes` Python client and kubectl."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from fakeapi import FakeApiServer, load_manifests, plural_of

ROOT = Path(__file__).resolve().parent.parent
OBJECTS = load_manifests(ROOT / "examples" / "cluster")
KUBECTL = Path("/usr/bin/kubectl")
needs_kubectl = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is not installed")

Obj = dict[str, Any]


def of_kind(kind: str) -> list[Obj]:
    return [o for o in OBJECTS if o["kind"] == kind]


PODS = of_kind("Pod")
SHOP_PODS = sum(p["metadata"]["namespace"] == "shop" for p in PODS)
NETPOLS = of_kind("NetworkPolicy")


def key(obj: Obj) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def bare(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def by_key(objs: list[Obj]) -> dict[str, Obj]:
    return {key(o): bare(o) for o in objs}


def assert_only_gets(server: FakeApiServer) -> None:
    assert server.requests, "no request reached the server"
    assert {r.method for r in server.requests} == {"GET"}


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(OBJECTS) as srv:
        yield srv
    assert all(r.method == "GET" for r in srv.requests)


def api_client(
    server: FakeApiServer, tmp_path: Path, *, token: str | None = None, retries: int | None = None
) -> client.ApiClient:
    path = tmp_path / f"kubeconfig-{token or 'ok'}"
    server.write_kubeconfig(path, token=token)
    cfg = client.Configuration()
    cfg.retries = retries  # None: urllib3's default Retry(3), which honours Retry-After on 429
    return config.new_client_from_config(
        config_file=str(path), client_configuration=cfg, persist_config=False
    )


@pytest.fixture
def core(server: FakeApiServer, tmp_path: Path) -> Iterator[client.CoreV1Api]:
    with api_client(server, tmp_path, retries=0) as api:
        yield client.CoreV1Api(api)


def raw(
    server: FakeApiServer,
    path: str,
    *,
    method: str = "GET",
    token: str | None = "test-token",
    accept: str = "application/json",
) -> tuple[int, Obj, http.client.HTTPResponse]:
    ctx = ssl.create_default_context(cafile=server.ca_path)
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    headers = {"Accept": accept} | ({"Authorization": f"Bearer {token}"} if token else {})
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        assert resp.getheader("Content-Type") == "application/json"
        return resp.status, json.loads(resp.read()), resp
    finally:
        conn.close()


def raw_json(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
    """Call a kubernetes-client method and return the undecoded JSON body."""
    resp = call(*args, _preload_content=False, **kwargs)
    return dict(json.loads(resp.data))


def status_of(err: ApiException) -> Obj:
    body = json.loads(err.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == err.status
    return dict(body)


# ---------------------------------------------------------------- python client: lists


def test_python_client_follows_continue_through_all_pods(core: client.CoreV1Api) -> None:
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = core.list_pod_for_all_namespaces(limit=5, _continue=token)
        pages += 1
        seen += [f"{p.metadata.namespace}/{p.metadata.name}" for p in page.items]
        assert len(page.items) <= 5
        if pages == 1:
            assert page.metadata.remaining_item_count == len(PODS) - 5
        token = page.metadata._continue
        if not token:
            break
    assert pages == 5
    assert len(seen) == len(PODS) == 22
    assert sorted(seen) == sorted(key(p) for p in PODS)


def test_list_wire_format_matches_a_real_server(server: FakeApiServer, tmp_path: Path) -> None:
    with api_client(server, tmp_path) as api:
        body = raw_json(client.NetworkingV1Api(api).list_network_policy_for_all_namespaces)
    assert body["kind"] == "NetworkPolicyList"
    assert body["apiVersion"] == "networking.k8s.io/v1"
    assert set(body["metadata"]) == {"resourceVersion"}
    assert all("kind" not in i and "apiVersion" not in i for i in body["items"])
    assert [key(i) for i in body["items"]] == sorted(key(n) for n in NETPOLS)
    assert by_key(body["items"]) == by_key(NETPOLS)


def test_single_object_has_kind_and_missing_is_404(core: client.CoreV1Api) -> None:
    body = raw_json(core.read_namespaced_pod, "db-0", "shop")
    assert (body["kind"], body["apiVersion"]) == ("Pod", "v1")
    assert bare(body) == by_key(PODS)["shop/db-0"]
    assert core.read_namespace("payments").metadata.name == "payments"
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("nope", "shop")
    assert exc.value.status == 404
    st = status_of(exc.value)
    assert (st["reason"], st["message"]) == ("NotFound", 'pods "nope" not found')
    assert st["details"] == {"name": "nope", "kind": "pods"}


LABEL_CASES: list[tuple[str, Callable[[dict[str, str]], bool]]] = [
    ("app=api", lambda lb: lb.get("app") == "api"),
    ("app==api", lambda lb: lb.get("app") == "api"),
    ("tier!=backend", lambda lb: lb.get("tier") != "backend"),
    ("tier in (web, data)", lambda lb: lb.get("tier") in ("web", "data")),
    ("tier notin (web,data)", lambda lb: lb.get("tier") not in ("web", "data")),
    ("statefulset.kubernetes.io/pod-name", lambda lb: "statefulset.kubernetes.io/pod-name" in lb),
    ("!pod-template-hash", lambda lb: "pod-template-hash" not in lb),
    (
        "app.kubernetes.io/part-of=shop,tier=backend",
        lambda lb: lb.get("app.kubernetes.io/part-of") == "shop" and lb.get("tier") == "backend",
    ),
    (
        "k8s-app in (kube-dns,kube-proxy),!pod-template-generation",
        lambda lb: (
            lb.get("k8s-app") in ("kube-dns", "kube-proxy") and "pod-template-generation" not in lb
        ),
    ),
]


@pytest.mark.parametrize(("selector", "want"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_label_selectors(
    core: client.CoreV1Api, selector: str, want: Callable[[dict[str, str]], bool]
) -> None:
    got = core.list_pod_for_all_namespaces(label_selector=selector).items
    expected = sorted(key(p) for p in PODS if want(p["metadata"].get("labels", {})))
    assert expected, "selector case should match something"
    assert sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in got) == expected


FIELD_CASES: list[tuple[str, Callable[[Obj], bool]]] = [
    ("metadata.namespace=payments", lambda p: p["metadata"]["namespace"] == "payments"),
    ("metadata.name==db-0", lambda p: p["metadata"]["name"] == "db-0"),
    ("spec.nodeName=kind-worker", lambda p: p["spec"]["nodeName"] == "kind-worker"),
    (
        "spec.nodeName!=kind-worker,metadata.namespace=shop",
        lambda p: p["spec"]["nodeName"] != "kind-worker" and p["metadata"]["namespace"] == "shop",
    ),
    ("status.phase=Running", lambda p: True),
    ("status.phase!=Running", lambda p: False),
]


@pytest.mark.parametrize(("selector", "want"), FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_field_selectors(
    core: client.CoreV1Api, selector: str, want: Callable[[Obj], bool]
) -> None:
    got = core.list_pod_for_all_namespaces(field_selector=selector).items
    expected = sorted(key(p) for p in PODS if want(p))
    assert sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in got) == expected


def test_event_involved_object_selectors(tmp_path: Path) -> None:
    def event(name: str, ns: str, target: str) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"kind": "Pod", "name": target, "namespace": ns},
            "reason": "Scheduled",
        }

    events = [event("e1", "shop", "db-0"), event("e2", "shop", "api-1"), event("e3", "x", "db-0")]
    with FakeApiServer(events) as srv, api_client(srv, tmp_path) as api:
        core = client.CoreV1Api(api)

        def names(selector: str) -> list[str]:
            got = core.list_event_for_all_namespaces(field_selector=selector).items
            return [e.metadata.name for e in got]

        assert names("involvedObject.name=db-0") == ["e1", "e3"]
        assert names("involvedObject.name=db-0,involvedObject.namespace=x") == ["e3"]
        assert names("involvedObject.namespace!=x") == ["e1", "e2"]
        assert [e.metadata.name for e in core.list_namespaced_event("shop").items] == ["e1", "e2"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"label_selector": "tier in (web"}, "unable to parse requirement"),
        ({"label_selector": "!tier=web"}, "unable to parse requirement"),
        ({"field_selector": "spec.hostname=x"}, 'field label not supported: "spec.hostname"'),
        ({"_continue": "not-a-token"}, "continue key is not valid"),
    ],
)
def test_bad_queries_are_400(core: client.CoreV1Api, kwargs: Obj, fragment: str) -> None:
    with pytest.raises(ApiException) as exc:
        core.list_pod_for_all_namespaces(**kwargs)
    assert exc.value.status == 400
    st = status_of(exc.value)
    assert st["reason"] == "BadRequest" and fragment in st["message"]


# ---------------------------------------------------------------- python client: failures


def test_wrong_or_missing_token_is_401(server: FakeApiServer, tmp_path: Path) -> None:
    with api_client(server, tmp_path, token="wrong") as api, pytest.raises(ApiException) as exc:
        client.CoreV1Api(api).list_pod_for_all_namespaces()
    assert exc.value.status == 401
    assert status_of(exc.value)["reason"] == "Unauthorized"
    code, body, _ = raw(server, "/api/v1/pods", token=None)
    assert code == 401 and body["reason"] == "Unauthorized" and body["message"] == "Unauthorized"
    code, _, _ = raw(server, "/version", token=None)
    assert code == 401


def test_forbidden_namespace_and_cluster_scope(server: FakeApiServer, tmp_path: Path) -> None:
    server.forbidden.add(("pods", "payments"))
    with api_client(server, tmp_path, retries=0) as api:
        core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
        with pytest.raises(ApiException) as exc:
            core.list_namespaced_pod("payments")
        assert exc.value.status == 403
        st = status_of(exc.value)
        assert st["reason"] == "Forbidden" and st["details"] == {"kind": "pods"}
        assert st["message"] == (
            'pods is forbidden: User "test" cannot list resource "pods" in API group "" '
            'in the namespace "payments"'
        )
        assert len(core.list_namespaced_pod("shop").items) == SHOP_PODS
        assert len(core.list_pod_for_all_namespaces().items) == 22  # RBAC scopes differ
        server.forbidden.add(("networkpolicies", None))
        with pytest.raises(ApiException) as exc:
            net.list_network_policy_for_all_namespaces()
        assert status_of(exc.value)["message"] == (
            'networkpolicies is forbidden: User "test" cannot list resource "networkpolicies" '
            'in API group "networking.k8s.io" at the cluster scope'
        )
        in_payments = sum(n["metadata"]["namespace"] == "payments" for n in NETPOLS)
        assert len(net.list_namespaced_network_policy("payments").items) == in_payments


def test_expired_continue_is_410_once(core: client.CoreV1Api, server: FakeApiServer) -> None:
    first = core.list_pod_for_all_namespaces(limit=10)
    server.expire_continue.add("pods")
    with pytest.raises(ApiException) as exc:
        core.list_pod_for_all_namespaces(limit=10, _continue=first.metadata._continue)
    assert exc.value.status == 410
    assert status_of(exc.value)["reason"] == "Expired"
    again = core.list_pod_for_all_namespaces(limit=10, _continue=first.metadata._continue)
    assert (
        len(again.items) == 10
        and again.metadata.resource_version == first.metadata.resource_version
    )


def test_rate_limit_once_is_429_with_retry_after(
    core: client.CoreV1Api, server: FakeApiServer, tmp_path: Path
) -> None:
    server.rate_limit_once.add("pods")
    with pytest.raises(ApiException) as exc:
        core.list_pod_for_all_namespaces()
    assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "1"
    st = status_of(exc.value)
    assert st["reason"] == "TooManyRequests" and st["details"]["retryAfterSeconds"] == 1
    assert len(core.list_pod_for_all_namespaces().items) == 22
    # With its default urllib3 Retry, the client itself sleeps Retry-After and tries again.
    server.rate_limit_once.add("pods")
    before = len(server.requests)
    with api_client(server, tmp_path) as api:
        assert len(client.CoreV1Api(api).list_pod_for_all_namespaces().items) == 22
    assert len(server.requests) - before == 2


def test_server_error_once_is_500(core: client.CoreV1Api, server: FakeApiServer) -> None:
    server.server_error_once.add("pods")
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("shop")
    assert exc.value.status == 500
    assert status_of(exc.value)["reason"] == "InternalError"
    assert len(core.list_namespaced_pod("shop").items) == SHOP_PODS


def test_delay_causes_client_timeout_while_other_requests_flow(
    core: client.CoreV1Api, server: FakeApiServer
) -> None:
    server.delay["pods"] = 1.5
    start = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_pod_for_all_namespaces(_request_timeout=0.3)
    assert time.monotonic() - start < 1.0
    assert len(core.list_service_for_all_namespaces().items) == 11  # not blocked by the sleeper


def test_stop_is_prompt_with_a_request_in_flight(tmp_path: Path) -> None:
    with FakeApiServer(OBJECTS) as srv, api_client(srv, tmp_path, retries=0) as api:
        srv.delay["pods"] = 30
        with pytest.raises(urllib3.exceptions.HTTPError):
            client.CoreV1Api(api).list_pod_for_all_namespaces(_request_timeout=0.2)
        start = time.monotonic()
        srv.stop()
        assert time.monotonic() - start < 2


# ---------------------------------------------------------------- raw protocol


def test_non_get_is_405_and_recorded() -> None:
    with FakeApiServer(OBJECTS) as srv:
        for method in ("POST", "DELETE", "PATCH", "PUT"):
            code, body, _ = raw(srv, "/api/v1/namespaces/shop/pods/db-0", method=method)
            assert code == 405 and body["reason"] == "MethodNotAllowed"
        code, body, _ = raw(srv, "/api/v1/pods?watch=true")
        assert code == 405 and body["details"] == {"kind": "pods"}
    assert [r.method for r in srv.requests] == ["POST", "DELETE", "PATCH", "PUT", "GET"]
    assert srv.requests[-1].query == {"watch": ["true"]}
    assert srv.requests[0].headers["Authorization"] == "Bearer test-token"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/widgets",
        "/apis/cilium.io/v2",
        "/apis/cilium.io/v2/ciliumnetworkpolicies",
        "/api/v2/pods",
        "/api/v1/nodes/nope",
        "/api/v1/pods/db-0",
        "/api/v1/namespaces/shop/nodes",
        "/api/v1/namespaces/shop/pods/db-0/status",
        "/openapi/v2",
        "/openapi/v3",
        "/healthz/x",
    ],
)
def test_unknown_paths_are_404_status(server: FakeApiServer, path: str) -> None:
    code, body, _ = raw(server, path)
    assert code == 404
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404


def test_core_discovery_without_objects(tmp_path: Path) -> None:
    with FakeApiServer([]) as srv:
        _, apis, _ = raw(srv, "/api")
        assert apis["kind"] == "APIVersions" and apis["versions"] == ["v1"]
        _, v1, _ = raw(srv, "/api/v1")
        res = {r["name"]: r for r in v1["resources"]}
        assert set(res) >= {"namespaces", "pods", "services", "endpoints", "nodes", "events"}
        assert set(res) >= {"configmaps", "secrets", "serviceaccounts"}
        assert res["pods"]["shortNames"] == ["po"] and res["pods"]["namespaced"] is True
        assert res["nodes"]["namespaced"] is False and res["endpoints"]["kind"] == "Endpoints"
        assert {"get", "list", "watch"} <= set(res["pods"]["verbs"])
        _, groups, _ = raw(srv, "/apis")
        assert groups["kind"] == "APIGroupList"
        names = [g["name"] for g in groups["groups"]]
        assert names == ["apps", "batch", "networking.k8s.io", "discovery.k8s.io"]
        _, net, _ = raw(srv, "/apis/networking.k8s.io/v1")
        assert {r["name"] for r in net["resources"]} == {"networkpolicies", "ingresses"}
        _, group, _ = raw(srv, "/apis/apps")
        assert group["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
        _, pods, _ = raw(srv, "/api/v1/pods")
        assert pods["items"] == [] and pods["kind"] == "PodList"
        with api_client(srv, tmp_path) as api:
            assert client.VersionApi(api).get_code().git_version == "v1.33.0"
            assert client.CoreApi(api).get_api_versions().versions == ["v1"]
            got = client.ApisApi(api).get_api_versions().groups
            assert [g.name for g in got] == names
        assert_only_gets(srv)


CRDS: list[Obj] = [
    {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "l7", "namespace": "shop"},
        "spec": {"endpointSelector": {}},
    },
    {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "host-fw"},
        "spec": {"nodeSelector": {}},
    },
    {
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "deny-all"},
    },
    {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": "anp", "resourceVersion": "5"},
    },
]


def test_crds_are_discoverable_and_scoped(tmp_path: Path) -> None:
    with FakeApiServer([*PODS, *CRDS]) as srv, api_client(srv, tmp_path) as api:
        _, groups, _ = raw(srv, "/apis")
        names = {g["name"] for g in groups["groups"]}
        assert {"cilium.io", "crd.projectcalico.org", "policy.networking.k8s.io"} <= names
        _, cilium, _ = raw(srv, "/apis/cilium.io/v2")
        res = {r["name"]: r for r in cilium["resources"]}
        assert res["ciliumnetworkpolicies"]["namespaced"] is True
        assert res["ciliumnetworkpolicies"]["shortNames"] == ["cnp", "ciliumnp"]
        assert res["ciliumclusterwidenetworkpolicies"]["namespaced"] is False
        custom = client.CustomObjectsApi(api)
        cnp = custom.list_cluster_custom_object("cilium.io", "v2", "ciliumnetworkpolicies")
        assert cnp["kind"] == "CiliumNetworkPolicyList" and cnp["apiVersion"] == "cilium.io/v2"
        assert [i["metadata"]["name"] for i in cnp["items"]] == ["l7"]
        ns = custom.list_namespaced_custom_object(
            "cilium.io", "v2", "shop", "ciliumnetworkpolicies"
        )
        assert len(ns["items"]) == 1
        ccnp = custom.list_cluster_custom_object(
            "cilium.io", "v2", "ciliumclusterwidenetworkpolicies"
        )
        assert "namespace" not in ccnp["items"][0]["metadata"]
        gnp = custom.get_cluster_custom_object(
            "crd.projectcalico.org", "v1", "globalnetworkpolicies", "deny-all"
        )
        assert gnp["kind"] == "GlobalNetworkPolicy"
        code, _, _ = raw(srv, "/apis/cilium.io/v2/namespaces/shop/ciliumclusterwidenetworkpolicies")
        assert code == 404
        srv.add_group("example.com", "v1beta1", [("widgets", "Widget", True)])
        srv.add_group("example.com", "v1", [("widgets", "Widget", True)])
        _, group, _ = raw(srv, "/apis/example.com")
        assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
        assert group["preferredVersion"]["version"] == "v1"
        _, widgets, _ = raw(srv, "/apis/example.com/v1/namespaces/a/widgets")
        assert widgets["kind"] == "WidgetList" and widgets["items"] == []


def test_bookkeeping_assigns_resource_version_and_uid(server: FakeApiServer) -> None:
    source = json.loads(json.dumps(CRDS))
    with FakeApiServer(source) as srv:
        _, cnps, _ = raw(srv, "/apis/cilium.io/v2/ciliumnetworkpolicies")
        _, anps, _ = raw(srv, "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies")
    assert source == CRDS, "the caller's objects must not be mutated"
    item = cnps["items"][0]
    assert item["metadata"]["uid"] and int(item["metadata"]["resourceVersion"]) > 5
    assert anps["items"][0]["metadata"]["resourceVersion"] == "5"
    assert int(cnps["metadata"]["resourceVersion"]) >= int(item["metadata"]["resourceVersion"])
    # fixture objects keep their own resourceVersion/uid; the list RV is the newest one
    _, pods, _ = raw(server, "/api/v1/pods")
    assert by_key(pods["items"]) == by_key(PODS)
    newest = max(int(p["metadata"]["resourceVersion"]) for p in OBJECTS)
    assert pods["metadata"]["resourceVersion"] == str(newest)


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_certificate_is_valid_for_loopback_names(server: FakeApiServer, hostname: str) -> None:
    ctx = ssl.create_default_context(cafile=server.ca_path)
    port = int(server.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname=hostname) as tls,
    ):
        assert tls.version() is not None
    assert server.url == f"https://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Pod", "pods"),
        ("Endpoints", "endpoints"),
        ("NetworkPolicy", "networkpolicies"),
        ("EndpointSlice", "endpointslices"),
        ("CiliumNetworkPolicy", "ciliumnetworkpolicies"),
        ("GlobalNetworkPolicy", "globalnetworkpolicies"),
        ("AdminNetworkPolicy", "adminnetworkpolicies"),
        ("Ingress", "ingresses"),
        ("IngressClass", "ingressclasses"),
    ],
)
def test_plural_of(kind: str, plural: str) -> None:
    assert plural_of(kind) == plural


# ---------------------------------------------------------------- kubectl cross-check


def kubectl(
    server: FakeApiServer,
    tmp_path: Path,
    *args: str,
    namespace: str | None = None,
    token: str | None = None,
) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    kubeconfig = tmp_path / "kubectl-config"
    server.write_kubeconfig(kubeconfig, namespace=namespace, token=token)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    cmd = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache")]
    return subprocess.run(
        [*cmd, "--request-timeout", "20s", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def kubectl_json(server: FakeApiServer, tmp_path: Path, *args: str, **kw: Any) -> list[Obj]:
    proc = kubectl(server, tmp_path, *args, "-o", "json", **kw)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["kind"] == "List"
    return list(out["items"])


@needs_kubectl
@pytest.mark.parametrize(("resource", "fixture"), [("pods", PODS), ("networkpolicies", NETPOLS)])
def test_kubectl_lists_all_namespaces_exactly(
    tmp_path: Path, resource: str, fixture: list[Obj]
) -> None:
    with FakeApiServer(OBJECTS, max_page=4) as srv:  # forces kubectl through continue tokens
        items = kubectl_json(srv, tmp_path, "get", resource, "-A")
    assert sorted(key(i) for i in items) == sorted(key(o) for o in fixture)
    assert by_key(items) == by_key(fixture)
    assert all((i["kind"], i["apiVersion"]) == (fixture[0]["kind"], fixture[0]["apiVersion"])
               for i in items)  # fmt: skip
    lists = [r for r in srv.requests if r.path.endswith(f"/{resource}")]
    assert len(lists) == -(-len(fixture) // 4)
    assert sum("continue" in r.query for r in lists) == len(lists) - 1
    assert any(r.headers.get("Accept", "").startswith("application/json;g=apidiscovery")
               for r in srv.requests)  # fmt: skip
    assert_only_gets(srv)


@needs_kubectl
def test_kubectl_table_output_and_context_namespace(tmp_path: Path) -> None:
    with FakeApiServer(OBJECTS) as srv:
        proc = kubectl(srv, tmp_path, "get", "pods", "-A")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0].split() == ["NAMESPACE", "NAME", "AGE"]
        assert sorted("/".join(line.split()[:2]) for line in lines[1:]) == sorted(map(key, PODS))
        items = kubectl_json(srv, tmp_path, "get", "pods", namespace="payments")
        assert sorted(map(key, items)) == sorted(key(p) for p in PODS if "payments/" in key(p))
        one = kubectl_json(srv, tmp_path, "get", "netpol", "-n", "payments", "-l", "x!=y")
        assert len(one) == 6
        pod = json.loads(
            kubectl(srv, tmp_path, "get", "po", "db-0", "-n", "shop", "-o", "json").stdout
        )
        assert bare(pod) == by_key(PODS)["shop/db-0"]
    assert_only_gets(srv)


@needs_kubectl
def test_kubectl_reports_forbidden_and_unauthorized(tmp_path: Path) -> None:
    with FakeApiServer(OBJECTS) as srv:
        srv.forbidden.add(("pods", "payments"))
        proc = kubectl(srv, tmp_path, "get", "pods", "-n", "payments", "-o", "json")
        assert proc.returncode != 0
        assert (
            'Error from server (Forbidden): pods is forbidden: User "test" cannot list resource '
            '"pods" in API group "" in the namespace "payments"'
        ) in proc.stderr
        proc = kubectl(srv, tmp_path, "get", "pods", "-A", "-o", "json", token="wrong")
        assert proc.returncode != 0 and "Unauthorized" in proc.stderr
    assert_only_gets(srv)


@needs_kubectl
def test_kubectl_retries_429_and_lists_crds(tmp_path: Path) -> None:
    with FakeApiServer([*OBJECTS, *CRDS]) as srv:
        srv.rate_limit_once.add("pods")
        items = kubectl_json(srv, tmp_path, "get", "pods", "-A")
        assert len(items) == 22
        assert sum(r.path == "/api/v1/pods" for r in srv.requests) == 2
        cnp = kubectl_json(srv, tmp_path, "get", "cnp", "-A")
        assert [(i["kind"], key(i)) for i in cnp] == [("CiliumNetworkPolicy", "shop/l7")]
        gnp = kubectl_json(srv, tmp_path, "get", "globalnetworkpolicies")
        assert [i["metadata"]["name"] for i in gnp] == ["deny-all"]
    assert_only_gets(srv)
