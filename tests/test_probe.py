"""`probe`: the exec runs through the real `kubernetes` client against the fake API
server's WebSocket exec (tests/fakeexec.py); the CLI runs as a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeapi import FakeApiServer, load_manifests
from fakeexec import ScriptedShell
from netpol_doctor.analysis.probe_compare import Agreement, Observed, Outcome, classify, compare
from netpol_doctor.engine import Verdict
from netpol_doctor.model import Protocol
from test_cli import EXAMPLES, run

OBJECTS = load_manifests(EXAMPLES)
PROM = ("monitoring", "prometheus-0")
API_IP = "10.244.1.7"  # shop/api-7c9d8b6f5-x4kzp
DENIED_Q = ("monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", "--port", "9090")


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with FakeApiServer(OBJECTS) as srv:
        yield srv


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    server.write_kubeconfig(path)
    return str(path)


def _probe(kubeconfig: str, *args: str):  # type: ignore[no-untyped-def]
    return run("probe", *args, "--kubeconfig", kubeconfig, "-o", "json")


def _execs(server: FakeApiServer) -> list[list[str]]:
    return [r.query["command"] for r in server.requests if r.path.endswith("/exec")]


def test_denied_and_timed_out_agree_with_only_gets_and_execs(
    server: FakeApiServer, kubeconfig: str
) -> None:
    shell = ScriptedShell(frozenset({"sh", "nc"}), {(API_IP, 9090): "timeout"})
    server.exec_handlers[PROM] = shell
    r = _probe(kubeconfig, *DENIED_Q)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (res,) = out["results"]
    assert (res["predicted"], res["observed"], res["tool"]) == ("denied", "timeout", "nc")
    assert res["agreement"] == "agree"
    # the exec upgrade is a GET carrying command= in the query; nothing else is sent
    assert {q.method for q in server.requests} == {"GET"}
    assert _execs(server) == [
        ["sh", "-c", "command -v nc bash timeout curl wget"],
        ["nc", "-z", "-w", "3", API_IP, "9090"],
    ]
    exec_paths = {q.path for q in server.requests if "command" in q.query}
    assert exec_paths == {"/api/v1/namespaces/monitoring/pods/prometheus-0/exec"}
    assert set(server.exec_subprotocols) == {"v5.channel.k8s.io"}


def test_connected_although_denied_is_the_finding(server: FakeApiServer, kubeconfig: str) -> None:
    server.exec_handlers[PROM] = ScriptedShell(
        frozenset({"sh", "nc"}), {(API_IP, 9090): "connected"}
    )
    r = _probe(kubeconfig, *DENIED_Q)
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["agreement"] == "mismatch"
    assert res["finding"]["id"] == "observed-allow-policy-denies"
    assert any(f["id"] == "ingress-not-allowed" for f in res["explanation"])
    text = run("probe", *DENIED_Q, "--kubeconfig", kubeconfig).stdout
    assert text.startswith("MISMATCH monitoring/prometheus-0 -> shop/api-7c9d8b6f5-x4kzp")
    assert "[observed-allow-policy-denies]" in text and "policy: [ingress-not-allowed]" in text


def test_timeout_although_allowed_is_the_finding(server: FakeApiServer, kubeconfig: str) -> None:
    src = ("shop", "frontend-6b8f9c7d4-x2vqp")
    server.exec_handlers[src] = ScriptedShell(frozenset({"sh", "curl"}))  # every connect: timeout
    r = _probe(kubeconfig, "shop/frontend-6b8f9c7d4-x2vqp", "svc/shop/api", "--port", "80")
    assert r.returncode == 1, r.stderr
    results = json.loads(r.stdout)["results"]
    assert results and all(x["agreement"] == "mismatch" for x in results)
    assert {x["finding"]["id"] for x in results} == {"observed-drop-policy-allows"}
    assert {x["tool"] for x in results} == {"curl"}


@pytest.mark.parametrize(
    ("tools", "said"),
    [
        (frozenset({"sh"}), "none of nc, bash, curl, wget"),
        (frozenset({"sh", "bash"}), "none of nc, bash, curl, wget"),  # bash without timeout
        (frozenset(), "no shell to look for tools with"),
    ],
)
def test_no_tool_is_unknown(
    server: FakeApiServer, kubeconfig: str, tools: frozenset[str], said: str
) -> None:
    server.exec_handlers[PROM] = ScriptedShell(tools)
    r = _probe(kubeconfig, *DENIED_Q)
    assert r.returncode == 3, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert (res["agreement"], res["observed"]) == ("unknown", "no-tool")
    assert said in res["tool_message"]


def test_bash_under_timeout_is_used(server: FakeApiServer, kubeconfig: str) -> None:
    tools = frozenset({"sh", "bash", "timeout"})
    server.exec_handlers[PROM] = ScriptedShell(tools, {(API_IP, 9090): "refused"})
    r = _probe(kubeconfig, *DENIED_Q)
    (res,) = json.loads(r.stdout)["results"]
    assert res["tool"] == "bash" and res["observed"] == "refused"
    assert res["agreement"] == "unknown"  # refused vs denied: a reject, or not enforced
    assert _execs(server)[1][:3] == ["timeout", "3", "bash"]


def test_exec_forbidden_is_unknown(server: FakeApiServer, kubeconfig: str) -> None:
    server.forbidden.add(("pods/exec", "monitoring"))
    server.exec_handlers[PROM] = ScriptedShell()
    r = _probe(kubeconfig, *DENIED_Q)
    assert r.returncode == 3, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert (res["agreement"], res["observed"]) == ("unknown", "forbidden")
    assert "403" in res["tool_message"]


def test_dry_run_sends_no_exec(server: FakeApiServer, kubeconfig: str) -> None:
    server.exec_handlers[PROM] = ScriptedShell()
    r = run("probe", *DENIED_Q, "--kubeconfig", kubeconfig, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "kubectl exec -n monitoring prometheus-0 -- nc -z -w 3 10.244.1.7 9090" in r.stdout
    assert _execs(server) == []
    assert {q.method for q in server.requests} == {"GET"}


def test_host_network_source_is_refused(server: FakeApiServer, kubeconfig: str) -> None:
    src = "kube-system/kube-proxy-d2hk9"
    r = run("probe", src, "shop/api-7c9d8b6f5-x4kzp", "-p", "8080", "--kubeconfig", kubeconfig)
    assert r.returncode == 2 and "--allow-host-network" in r.stderr
    assert _execs(server) == []


def test_udp_silence_cannot_be_told(server: FakeApiServer, kubeconfig: str) -> None:
    server.exec_handlers[PROM] = ScriptedShell(frozenset({"sh", "nc"}), {(API_IP, 53): "connected"})
    r = _probe(
        kubeconfig, "monitoring/prometheus-0", "ip/10.244.1.7", "-p", "53", "--protocol", "udp"
    )
    (res,) = json.loads(r.stdout)["results"]
    assert res["observed"] == "silent" and res["agreement"] == "unknown"
    assert _execs(server)[1] == ["nc", "-z", "-u", "-w", "3", API_IP, "53"]


def test_matrix_samples_one_pair_per_class_pair_and_explains_mismatches(
    server: FakeApiServer, kubeconfig: str
) -> None:
    pods = [o for o in OBJECTS if o.get("kind") == "Pod" and o["metadata"]["namespace"] == "shop"]
    for pod in pods:  # a flat network: everything connects
        ips = [pod.get("status", {}).get("podIP")]
        outcomes = {
            (p["status"]["podIP"], 8080): "connected"
            for p in pods
            if "podIP" in p.get("status", {})
        }
        del ips
        server.exec_handlers[("shop", pod["metadata"]["name"])] = ScriptedShell(
            frozenset({"sh", "nc"}), outcomes
        )
    r = _probe(kubeconfig, "--matrix", "-n", "shop", "--port", "8080", "--max-pairs", "50")
    assert r.returncode == 1, r.stderr
    results = json.loads(r.stdout)["results"]
    pairs = [(x["source"], x["destination"]) for x in results]
    assert len(pairs) == len(set(pairs)) and len(pairs) <= 50
    denied = [x for x in results if x["predicted"] == "denied"]
    assert denied and all(x["finding"]["id"] == "observed-allow-policy-denies" for x in denied)
    assert all(x["explanation"] for x in denied)
    allowed = [x for x in results if x["predicted"] == "allowed"]
    assert all(x["agreement"] == "agree" for x in allowed)
    capped = _probe(kubeconfig, "--matrix", "-n", "shop", "--port", "8080", "--max-pairs", "2")
    assert len(json.loads(capped.stdout)["results"]) == 2


P = Protocol.TCP
NC = "nc: connect to 10.0.0.1 port 80 (tcp)"


@pytest.mark.parametrize(
    ("tool", "proto", "code", "stderr", "observed"),
    [
        ("nc", P, 0, "Connection to 10.0.0.1 80 port [tcp/*] succeeded!", Observed.CONNECTED),
        ("nc", P, 1, f"{NC} failed: Connection refused", Observed.REFUSED),
        ("nc", P, 1, f"{NC} timed out", Observed.TIMEOUT),
        ("nc", P, 1, f"{NC} failed: No route to host", Observed.UNREACHABLE),
        ("nc", Protocol.UDP, 0, "", Observed.SILENT),
        ("nc", Protocol.UDP, 1, "nc: read: Connection refused", Observed.REFUSED),
        ("bash", P, 124, "", Observed.TIMEOUT),
        ("bash", P, 0, "", Observed.CONNECTED),
        ("curl", P, 7, "curl: (7) Failed to connect to h port 80: Connection refused",
         Observed.REFUSED),
        ("curl", P, 28, "curl: (28) Connection timed out after 3001 milliseconds",
         Observed.TIMEOUT),
        ("curl", P, 28, "curl: (28) Operation timed out after 6000 milliseconds with 0 bytes "
         "received", Observed.CONNECTED),
        ("curl", P, 52, "curl: (52) Empty reply from server", Observed.CONNECTED),
        ("wget", P, 1, "wget: server returned error: HTTP/1.1 404 Not Found", Observed.CONNECTED),
        ("wget", P, 1, "wget: download timed out", Observed.TIMEOUT),
    ],
)  # fmt: skip
def test_classify(tool: str, proto: Protocol, code: int, stderr: str, observed: Observed) -> None:
    assert classify(tool, proto, code, stderr).observed is observed


@pytest.mark.parametrize(
    ("predicted", "observed", "agreement", "finding"),
    [
        (Verdict.ALLOWED, Observed.CONNECTED, Agreement.AGREE, None),
        (Verdict.DENIED, Observed.TIMEOUT, Agreement.AGREE, None),
        (Verdict.ALLOWED, Observed.REFUSED, Agreement.AGREE, None),
        (Verdict.ALLOWED, Observed.TIMEOUT, Agreement.MISMATCH, "observed-drop-policy-allows"),
        (Verdict.DENIED, Observed.CONNECTED, Agreement.MISMATCH, "observed-allow-policy-denies"),
        (Verdict.DENIED, Observed.REFUSED, Agreement.UNKNOWN, None),
        (Verdict.UNKNOWN, Observed.CONNECTED, Agreement.UNKNOWN, None),
        (Verdict.ALLOWED, Observed.NO_TOOL, Agreement.UNKNOWN, None),
        (Verdict.DENIED, Observed.FORBIDDEN, Agreement.UNKNOWN, None),
    ],
)
def test_compare(
    predicted: Verdict, observed: Observed, agreement: Agreement, finding: str | None
) -> None:
    c = compare(predicted, Outcome(observed, "nc"), Protocol.TCP)
    assert c.agreement is agreement
    assert (c.finding.id if c.finding else None) == finding


def test_fake_exec_speaks_v4_to_a_v4_client(server: FakeApiServer) -> None:
    """The server picks v5 when offered (above), v4 when that is all the client knows."""
    import ssl

    import websocket

    server.exec_handlers[PROM] = ScriptedShell(frozenset({"sh", "nc"}))
    url = server.url.replace("https://", "wss://")
    url += "/api/v1/namespaces/monitoring/pods/prometheus-0/exec?command=nc&command=-z"
    url += "&command=10.244.1.7&command=9090&stdout=true&stderr=true"
    ws = websocket.create_connection(
        url,
        header=[
            f"Authorization: Bearer {server.token}",
            "Sec-WebSocket-Protocol: v4.channel.k8s.io",
        ],
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": server.ca_path},
        timeout=10,
    )
    frames: list[bytes] = []
    while True:
        op, data = ws.recv_data()
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        frames.append(data)
    ws.close()
    assert ws.getheaders()["sec-websocket-protocol"] == "v4.channel.k8s.io"
    assert frames[-1][0] == 3 and json.loads(frames[-1][1:])["reason"] == "NonZeroExitCode"
    assert any(f[0] == 2 and b"timed out" in f for f in frames)
