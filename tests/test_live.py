"""Live reads against a real HTTPS server on 127.0.0.1 speaking the Kubernetes API
(tests/fakeapi.py), through the official `kubernetes` client and a generated
kubeconfig; the CLI runs as a subprocess against it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from fakeapi import FakeApiServer, Fault, load_manifests
from netpol_doctor.cli import main
from netpol_doctor.diagnose import diagnose
from netpol_doctor.live import (
    ClusterError,
    Limits,
    Scope,
    collect,
    save,
    strip_sensitive,
    to_snapshot,
)
from netpol_doctor.snapshot import load_snapshot
from test_cli import EXAMPLES, run

QUESTIONS = [
    ("monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090, "TCP"),
    ("shop/frontend-6b8f9c7d4-x2vqp", "svc/shop/api", 80, "TCP"),
    ("payments/payments-api-5f6d7c8b9-r7vzl", "kube-system/coredns-674b8bbfcf-7xk2p", 53, "TCP"),
    ("payments/payments-api-5f6d7c8b9-tq8wn", "shop/db-0", 5432, "TCP"),
    ("shop/api-7c9d8b6f5-x4kzp", "apiserver", None, "TCP"),
]


OBJECTS = load_manifests(EXAMPLES)  # the server copies them; parsing YAML once saves seconds


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with FakeApiServer(OBJECTS) as srv:
        yield srv


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    server.write_kubeconfig(path)
    return str(path)


def _cli(kubeconfig: str, *args: str):  # type: ignore[no-untyped-def]
    return run(*args, "--kubeconfig", kubeconfig)


def test_live_and_offline_verdicts_agree(server: FakeApiServer, kubeconfig: str) -> None:
    offline = load_snapshot([EXAMPLES])
    live = to_snapshot(collect(Scope(None), kubeconfig))
    for src, dst, port, _ in QUESTIONS:
        a = diagnose(offline, src, dst, port)
        b = diagnose(live, src, dst, port)
        assert a.verdict == b.verdict, (src, dst)
        assert [f.id for f in a.findings] == [f.id for f in b.findings], (src, dst)


def test_only_get_requests_for_every_command(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    commands = [
        ("diagnose", "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", "--port", "9090"),
        ("diagnose", "shop/api-7c9d8b6f5-x4kzp", "dns"),
        ("pod", "shop/api-7c9d8b6f5-x4kzp"),
        ("matrix", "--port", "8080", "-n", "shop"),
        ("matrix", "--by", "workload", "-o", "mermaid"),
        ("report", "--out", str(tmp_path / "report.html")),
        ("check",),
        ("snapshot", "save", str(tmp_path / "snap")),
        ("flows", str(Path(__file__).parent / "data" / "flows" / "hubble.jsonl")),
        ("triage", "--pod", "shop/api-7c9d8b6f5-x4kzp"),
        ("triage", "--service", "shop/api"),
        ("probe", "--dry-run", "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", "-p", "9090"),
    ]
    for args in commands:
        r = _cli(kubeconfig, *args)
        assert r.returncode in (0, 1, 3), (args, r.stderr)
        assert "Traceback" not in r.stderr
    methods = {req.method for req in server.requests}
    assert methods == {"GET"}
    # an exec is a GET too (a WebSocket upgrade): none of these may make one
    assert not [r.path for r in server.requests if r.path.endswith("/exec")]
    assert len(server.requests) > 20


def test_diagnose_reads_only_the_namespaces_it_needs(
    server: FakeApiServer, kubeconfig: str
) -> None:
    r = _cli(
        kubeconfig,
        "diagnose",
        "monitoring/prometheus-0",
        "shop/api-7c9d8b6f5-x4kzp",
        "--port",
        "9090",
        "-o",
        "json",
    )
    assert json.loads(r.stdout)["verdict"] == "denied"
    paths = [req.path for req in server.requests]
    assert not any("/namespaces/payments/" in p for p in paths), paths
    assert not any(p.endswith("/pods") and "/namespaces/" not in p for p in paths)


def test_pagination_is_followed(kubeconfig: str) -> None:
    with FakeApiServer(OBJECTS, max_page=3) as small:
        cfg = Path(kubeconfig).with_name("small")
        small.write_kubeconfig(cfg)
        got = collect(Scope(None), str(cfg))
    pods = [o for o in got.objects if o["kind"] == "Pod"]
    assert len(pods) == 22
    assert any("continue" in req.query for req in small.requests)


def test_forbidden_list_becomes_unknown_and_survives_save(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    server.forbidden.add(("networkpolicies", "shop"))
    server.forbidden.add(("networkpolicies", None))
    collection = collect(Scope(frozenset({"shop", "monitoring"})), kubeconfig)
    assert ("networkpolicies", "shop") in collection.gaps
    live = to_snapshot(collection)
    d = diagnose(live, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
    assert d.verdict.value == "unknown"
    assert "reads-forbidden" in [f.id for f in d.findings]
    assert any(p.id == "reads-forbidden" and "shop" in p.message for p in live.problems)
    save(collection, str(tmp_path / "snap"))
    offline = load_snapshot([tmp_path / "snap"])
    d2 = diagnose(offline, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
    assert d2.verdict.value == "unknown"
    r = run(
        "diagnose",
        "monitoring/prometheus-0",
        "shop/api-7c9d8b6f5-x4kzp",
        "--port",
        "9090",
        "--snapshot",
        str(tmp_path / "snap"),
    )
    assert r.returncode == 3
    assert "could not read networkpolicies in namespace shop" in r.stderr


def test_missing_api_group_is_normal(server: FakeApiServer, kubeconfig: str) -> None:
    collection = collect(Scope(None), kubeconfig)
    assert not collection.gaps
    assert not any(o["kind"].startswith("Cilium") for o in collection.objects)


def test_extended_kinds_are_discovered_and_read(kubeconfig: str, tmp_path: Path) -> None:
    cnp = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "l7", "namespace": "shop"},
        "spec": {"endpointSelector": {}},
    }
    with FakeApiServer([*OBJECTS, cnp]) as srv:
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
        snap = to_snapshot(collect(Scope(None), str(cfg)))
    assert [x.ref.name for x in snap.extended] == ["l7"]
    d = diagnose(snap, "shop/frontend-6b8f9c7d4-x2vqp", "shop/api-7c9d8b6f5-x4kzp", 8080)
    # the example cluster runs Calico, which does not enforce Cilium's kinds
    assert d.verdict.value == "allowed"
    assert "policy-not-enforced" in [f.id for f in d.findings]


@pytest.mark.parametrize("fault", ["rate_limit_once", "server_error_once", "expire_continue"])
def test_transient_faults_are_retried(fault: str, tmp_path: Path) -> None:
    with FakeApiServer(OBJECTS, max_page=5) as srv:
        getattr(srv, fault).add("pods")
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
        got = collect(Scope(None), str(cfg))
    assert not got.gaps
    assert len([o for o in got.objects if o["kind"] == "Pod"]) == 22


def test_bad_credentials_one_sentence_exit_2(server: FakeApiServer, tmp_path: Path) -> None:
    cfg = tmp_path / "bad"
    server.write_kubeconfig(cfg, token="expired")
    r = run("diagnose", "a/b", "c/d", "--port", "80", "--kubeconfig", str(cfg))
    assert r.returncode == 2
    assert "401" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unreachable_server_and_wrong_context(tmp_path: Path) -> None:
    with FakeApiServer([]) as srv:
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
    # the server is gone now
    r = run("diagnose", "a/b", "c/d", "--port", "80", "--kubeconfig", str(cfg))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cannot reach the API server" in r.stderr
    r2 = run(
        "diagnose", "a/b", "c/d", "--port", "80", "--kubeconfig", str(cfg), "--context", "nope"
    )
    assert r2.returncode == 2 and "Traceback" not in r2.stderr
    assert "nope" in r2.stderr
    with pytest.raises(ClusterError):
        collect(Scope(None), str(cfg), "nope")


def test_snapshot_save_round_trips_and_strips_secrets(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    out = tmp_path / "snap"
    r = _cli(kubeconfig, "snapshot", "save", str(out))
    assert r.returncode == 0, r.stderr
    text = "\n".join(p.read_text() for p in out.glob("*.yaml"))
    assert "last-applied-configuration" not in text
    assert "managedFields" not in text
    assert "kind: Secret" not in text
    offline = load_snapshot([out])
    original = load_snapshot([EXAMPLES])
    assert not offline.problems
    for src, dst, port, _ in QUESTIONS:
        assert (
            diagnose(offline, src, dst, port).verdict == diagnose(original, src, dst, port).verdict
        )


def test_strip_sensitive_removes_env_values() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "managedFields": [{}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "x"},
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "env": [
                        {"name": "PASSWORD", "value": "hunter2"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    ],
                    "envFrom": [{"secretRef": {"name": "s"}}],
                }
            ]
        },
    }
    out = strip_sensitive(pod)
    assert out is not None
    dumped = yaml.safe_dump(out)
    assert "hunter2" not in dumped and "secretKeyRef" not in dumped and "envFrom" not in dumped
    assert out["spec"]["containers"][0]["env"] == [{"name": "PASSWORD"}, {"name": "TOKEN"}]
    assert out["metadata"]["annotations"] == {"keep": "x"}
    assert strip_sensitive({"kind": "Secret", "metadata": {"name": "s"}}) is None


# --- hostile and broken servers (issue #14) -------------------------------------------

PROM, API = "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp"
DIAGNOSE = ("diagnose", PROM, API, "--port", "9090")


def _timed(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    r = run(*args)
    return r, time.monotonic() - start


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str, float]:
    """The CLI in-process (a subprocess costs seconds of imports): code, out, err, time."""
    start = time.monotonic()
    code = main(list(args))
    seconds = time.monotonic() - start
    out, err = capsys.readouterr()
    return code, out, err, seconds


@pytest.mark.parametrize(
    ("where", "fault", "limits", "code", "said"),
    [
        # The whole-read deadline cuts a stalled body; the verdict needs the pods: exit 2.
        ("pods", Fault.STALL, ("--read-deadline", "2"), 2, "within its 2 s deadline"),
        ("pods", Fault.TRICKLE, ("--read-deadline", "2"), 2, "within its 2 s deadline"),
        ("pods", Fault.ENDLESS_CONTINUE, ("--read-deadline", "2"), 2, "within its 2 s deadline"),
        # A trickle defeats a socket timeout, not the wall-clock one; the list is a gap.
        (
            "networkpolicies",
            Fault.TRICKLE,
            ("--request-timeout", "300ms"),
            3,
            "no complete answer within the 0.3 s request timeout, after 4 attempts",
        ),
        (
            "networkpolicies",
            Fault.STALL,
            ("--request-timeout", "0.3s"),
            3,
            "no complete answer within the 0.3 s request timeout, after 4 attempts",
        ),
        (
            "networkpolicies",
            Fault.SAME_CONTINUE,
            (),
            3,
            "the same continue token twice (pagination would loop), stopped after 2 pages",
        ),
        ("networkpolicies", Fault.HTML, (), 3, "is not JSON (text/html; charset=utf-8: '<!DOC"),
        ("networkpolicies", Fault.TRUNCATED, (), 3, "cut short or malformed JSON"),
        ("networkpolicies", Fault.ARRAY, (), 3, "a JSON array, not the object the API promises"),
        ("networkpolicies", Fault.SERVER_ERROR, (), 3, "server error (500: an error on the"),
        ("networkpolicies", Fault.THROTTLE, (), 3, "throttled (429: Too many requests"),
        ("pods", Fault.SERVER_ERROR, (), 2, "the pods of monitoring could not be read (GET /api"),
        ("pods", Fault.THROTTLE, (), 2, "after 4 attempts"),
        ("/apis", Fault.ARRAY, (), 2, "GET /apis: the answer is a JSON array, not the object"),
        ("/apis", Fault.HTML, (), 2, "GET /apis: the answer is not JSON (text/html"),
        ("/apis", Fault.TRUNCATED, (), 2, "GET /apis: the answer is cut short or malformed"),
        ("/apis", Fault.SERVER_ERROR, (), 2, "GET /apis: server error (500"),
    ],
    ids=lambda v: v.value if isinstance(v, Fault) else None,
)
def test_broken_server_gives_one_sentence_never_a_hang(
    capsys: pytest.CaptureFixture[str],
    server: FakeApiServer,
    kubeconfig: str,
    where: str,
    fault: Fault,
    limits: tuple[str, ...],
    code: int,
    said: str,
) -> None:
    server.faults[where] = fault
    server.retry_after = "0"
    got, out, err, seconds = _main(capsys, *DIAGNOSE, "--kubeconfig", kubeconfig, *limits)
    assert got == code, err
    assert said in err
    assert "Traceback" not in err and "(403)" not in err
    if code == 2:  # nothing to analyse: one sentence
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("netpol-doctor: ")
    else:  # the list is a gap, named with its URL; what depended on it is unknown
        assert "could not read networkpolicies in namespace shop (GET /apis/networking" in err
        assert "UNKNOWN" in out
    assert seconds < 8, seconds
    assert {req.method for req in server.requests} <= {"GET"}


@pytest.mark.parametrize("fault", [Fault.HTML, Fault.ARRAY, Fault.TRUNCATED, Fault.THROTTLE])
def test_snapshot_save_records_a_garbled_list_as_a_gap(
    capsys: pytest.CaptureFixture[str],
    server: FakeApiServer,
    kubeconfig: str,
    tmp_path: Path,
    fault: Fault,
) -> None:
    server.faults["networkpolicies"] = fault
    server.retry_after = "0"
    out = tmp_path / "snap"
    code, _, err, _ = _main(capsys, "snapshot", "save", str(out), "--kubeconfig", kubeconfig)
    assert code == 0 and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        "not readable: networkpolicies in all namespaces: GET /apis/networking.k8s.io/v1/"
        "networkpolicies: "
    )
    offline = load_snapshot([out])
    d = diagnose(offline, PROM, API, 9090)
    assert d.verdict.value == "unknown"


def test_snapshot_save_stops_at_the_deadline(
    server: FakeApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    server.faults["pods"] = Fault.STALL
    r, seconds = _timed(
        "snapshot", "save", str(tmp_path / "s"), "--kubeconfig", kubeconfig, "--read-deadline", "2"
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "within its 2 s deadline (--read-deadline) while " in r.stderr
    assert not (tmp_path / "s").exists()
    assert seconds < 10


def test_page_cap_ends_endless_pagination(server: FakeApiServer, kubeconfig: str) -> None:
    server.faults["pods"] = Fault.ENDLESS_CONTINUE
    got = collect(Scope(None), kubeconfig, limits=Limits(max_pages=5))
    assert got.gaps == {
        ("pods", None): "GET /api/v1/pods: still more pages after 5, the limit per list; stopped"
    }
    assert not any(o["kind"] == "Pod" for o in got.objects)  # a partial list is no list
    assert sum(req.path == "/api/v1/pods" for req in server.requests) == 5


def test_cluster_wide_403_falls_back_to_namespaces(server: FakeApiServer, kubeconfig: str) -> None:
    refused = {("pods", None), ("daemonsets", None), ("networkpolicies", None)}
    server.forbidden |= refused | {("networkpolicies", "payments")}
    everything = collect(Scope(None), kubeconfig)
    assert everything.gaps == {
        ("networkpolicies", "payments"): 'forbidden: networkpolicies is forbidden: User "test" '
        'cannot list resource "networkpolicies" in API group "networking.k8s.io" in the '
        'namespace "payments"'
    }
    assert len([o for o in everything.objects if o["kind"] == "Pod"]) == 22
    scoped = collect(Scope(frozenset({"shop"})), kubeconfig)
    assert not scoped.gaps
    read = {req.path for req in server.requests}
    assert "/apis/apps/v1/namespaces/shop/daemonsets" in read
    assert "/api/v1/namespaces/payments/pods" in read  # the cluster-wide question
    assert "/apis/apps/v1/namespaces/payments/daemonsets" in read  # ... needs them all


def test_credential_plugin_that_never_answers_is_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "plugin.pid"
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    plugin.chmod(0o755)
    with FakeApiServer([]) as srv:
        cfg = tmp_path / "k"
        srv.write_kubeconfig(cfg)
        doc = yaml.safe_load(cfg.read_text())
        exec_cfg = {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}
        doc["users"][0]["user"] = {"exec": exec_cfg | {"interactiveMode": "Never"}}
        cfg.write_text(yaml.safe_dump(doc))
        r, seconds = _timed(*DIAGNOSE, "--kubeconfig", str(cfg), "--read-deadline", "2")
        assert not srv.requests
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == (
        f"netpol-doctor: the kubeconfig's credential plugin ({plugin}) did not answer within "
        "2 s, the read deadline (--read-deadline); it was stopped\n"
    )
    assert seconds < 10
    stat = Path(f"/proc/{pidfile.read_text().strip()}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"  # killed (maybe unreaped)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("apiVersion: v1\nclusters: [\n  - name: x\nusers: []\n", "line 3: not valid YAML"),
        ("clusters:\n  - name: a\n   bad: indent\n", "line 3: not valid YAML"),
        ("- just\n- a list\n", "is not a valid kubeconfig"),
        ("42\n", "is not a valid kubeconfig"),
    ],
)
def test_broken_kubeconfig_is_one_sentence(tmp_path: Path, text: str, said: str) -> None:
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(text)
    r = run(*DIAGNOSE, "--kubeconfig", str(cfg))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert said in r.stderr and str(cfg) in r.stderr


@pytest.mark.parametrize(
    ("value", "code"),
    [("0", 2), ("-1s", 2), ("soon", 2), ("5h", 2), ("nan", 2), ("500ms", 1), ("2m", 1)],
)
def test_limits_are_durations(capsys: pytest.CaptureFixture[str], value: str, code: int) -> None:
    snapshot = ("--snapshot", str(EXAMPLES))  # a limit is parsed even when unused
    assert main([*DIAGNOSE, *snapshot, "--read-deadline", value]) == code
    assert main([*DIAGNOSE, *snapshot, "--request-timeout", value]) == code
    err = capsys.readouterr().err
    assert ("--read-deadline" in err and "--request-timeout" in err) == (code == 2)
    assert "Traceback" not in err
