"""`flows`: each log format read from its sample (tests/data/flows/, provenance in
README.md there), grouping, the two disagreement findings triggered and near-missed on
a small cluster, the policy-name check, --since/--namespace/--top, and stdin streamed
through the real command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from builders import namespace, pod, policy, snapshot_of
from netpol_doctor.analysis.flows import (
    ALLOW_ID,
    DROP_ID,
    MISSING_ID,
    FlowWindow,
    GroupFolder,
    analyse,
)
from netpol_doctor.cni import CniInfo, profile_named
from netpol_doctor.engine import Verdict
from netpol_doctor.inputs.flowlogs import (
    FlowPeer,
    FlowRecord,
    Format,
    LineProblem,
    Observed,
    detect_format,
    read_records,
)
from netpol_doctor.snapshot import Snapshot, load_snapshot
from test_cli import _exe, run

DATA = Path(__file__).parent / "data" / "flows"
CLUSTER = str(DATA / "cluster.yaml")
CILIUM = CniInfo(profile_named("cilium"), forced=True)


def _read(name: str) -> tuple[Format | None, list[FlowRecord], list[LineProblem]]:
    fmt, records, problems = None, [], []
    with open(DATA / name) as f:
        for item in read_records(f):
            if isinstance(item, Format):
                fmt = item
            elif isinstance(item, LineProblem):
                problems.append(item)
            else:
                records.append(item[1])
    return fmt, records, problems


# --- each format, from its sample ------------------------------------------------


def test_hubble_sample() -> None:
    fmt, records, problems = _read("hubble.jsonl")
    assert fmt is Format.HUBBLE
    # 9 flows: the reply and the node_status line are not records; the cut line is
    assert len(records) == 7
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [(10, "not valid JSON")]
    first = records[0]
    assert first.source == FlowPeer("10.244.1.10", "shop", "web-5d8f7c6b9-x2vqp")
    assert first.destination.pod == "api-7c9d8b6f5-x4kzp"
    assert (first.protocol, first.port, first.observed) == ("TCP", 8080, Observed.DROPPED)
    assert first.reason == "POLICY_DENIED"
    assert first.policies == ("CiliumNetworkPolicy shop/lockdown",)
    assert first.node == "node-1" and first.direction == "INGRESS"
    assert first.time == pytest.approx(1796407200.123456)
    # the bare Flow object (legacy -o json) reads the same
    assert records[5].observed is Observed.ALLOWED and records[5].port == 5432


def test_hubble_accepts_protojson_camel_case_and_enum_numbers() -> None:
    line = json.dumps(
        {
            "time": "2026-12-04T18:00:00Z",
            "verdict": 2,
            "dropReasonDesc": 133,
            "IP": {"source": "10.0.0.1", "destination": "10.0.0.2"},
            "l4": {"UDP": {"sourcePort": 4000, "destinationPort": 53}},
            "source": {"namespace": "a", "podName": "x"},
            "destination": {"namespace": "b", "podName": "y"},
            "egressDeniedBy": [{"name": "p", "namespace": "a", "kind": "NetworkPolicy"}],
        }
    )
    items = list(read_records([line]))
    assert items[0] is Format.HUBBLE
    _, rec = items[1]
    assert isinstance(rec, FlowRecord)
    assert (rec.protocol, rec.port, rec.reason) == ("UDP", 53, "POLICY_DENIED")
    assert rec.source.pod == "x" and rec.policies == ("NetworkPolicy a/p",)


def test_hubble_icmp_has_no_port_and_trace_verdicts_are_not_records() -> None:
    icmp = {"verdict": "DROPPED", "IP": {"source": "1.1.1.1", "destination": "2.2.2.2"}}
    icmp["l4"] = {"ICMPv4": {"type": 8}}
    traced = {**icmp, "verdict": "TRACED"}
    items = [
        i for i in read_records([json.dumps(icmp), json.dumps(traced)]) if isinstance(i, tuple)
    ]
    assert len(items) == 1 and items[0][1].protocol == "ICMP" and items[0][1].port is None


def test_calico_sample() -> None:
    fmt, records, problems = _read("calico.jsonl")
    assert fmt is Format.CALICO
    assert len(records) == 4
    assert [p.line for p in problems] == [5] and "action" in problems[0].message
    web = records[0]
    assert web.source == FlowPeer(None, "shop", None, "web-5d8f7c6b9-*")
    assert (web.count, web.port, web.observed) == (12, 8080, Observed.ALLOWED)
    assert web.time == 1796407500
    assert records[2].observed is Observed.DROPPED
    assert records[2].policies == ("Calico security.block-db (deny)",)
    assert records[3].destination.outside == "pub"


def test_antrea_sample() -> None:
    fmt, records, problems = _read("antrea.log")
    assert fmt is Format.ANTREA
    assert len(records) == 4
    assert [p.line for p in problems] == [5] and "16" in problems[0].message
    default_drop, allow, drop, dedup = records
    assert default_drop.observed is Observed.DROPPED and default_drop.policies == ()
    assert default_drop.destination == FlowPeer("10.244.2.12", "shop", "db-0")
    assert allow.policies == ("NetworkPolicy shop/db-ingress",)
    assert drop.policies == ("AntreaNetworkPolicy shop/quarantine",)
    assert drop.reason == "rule DropAll" and dedup.count == 3


def test_aws_sample() -> None:
    fmt, records, problems = _read("aws.log")
    assert fmt is Format.AWS  # told from line 2: line 1 is another of the agent's lines
    assert len(records) == 5
    assert [p.line for p in problems] == [7] and "not valid JSON" in problems[0].message
    deny = records[0]
    assert deny.source == FlowPeer("10.244.1.10") and deny.destination == FlowPeer("10.244.2.12")
    assert (deny.protocol, deny.port, deny.observed) == ("TCP", 5432, Observed.DROPPED)
    assert deny.time == pytest.approx(1796408401.12) and deny.direction == "INGRESS"
    assert records[1].observed is Observed.ALLOWED
    cloudwatch = records[4]
    assert cloudwatch.node == "node-2" and cloudwatch.time is None
    assert cloudwatch.reason == "tier NETWORK_POLICY"


def test_aws_ipv6_wording_and_expired_entries() -> None:
    v6 = (
        "Flow Info: Src IP: fd00::1 Src Port: 1 Dest IP: fd00::2 Dest Port: 53 "
        "Proto: UDP Verdict: DENY Direction: egress Tier: ADMIN"
    )
    expired = (
        "Node: n;SIP: 1.1.1.1;SPORT: 1;DIP: 2.2.2.2;DPORT: 80;PROTOCOL: TCP;"
        "PolicyVerdict: EXPIRED/DELETED"
    )
    items = [i for i in read_records([v6, expired]) if isinstance(i, tuple)]
    assert len(items) == 1
    rec = items[0][1]
    assert (rec.destination.ip, rec.protocol, rec.port) == ("fd00::2", "UDP", 53)
    assert rec.direction == "EGRESS" and rec.reason == "tier ADMIN"


def test_detection_and_an_unknown_format() -> None:
    assert detect_format('{"flow": {"verdict": "FORWARDED"}}') is Format.HUBBLE
    assert detect_format('{"action": "deny", "reporter": "src"}') is Format.CALICO
    assert detect_format("2026/01/02 03:04:05.000001 IngressRule ...") is Format.ANTREA
    assert (
        detect_format(
            "Node: n;SIP: 1.1.1.1;SPORT: 1;DIP: 2.2.2.2;DPORT: 80;PROTOCOL: TCP;PolicyVerdict: DENY"
        )
        is Format.AWS
    )
    assert detect_format('{"hello": 1}') is None
    items = list(read_records(["", "hello world\n", "more\n"]))
    assert len(items) == 1 and isinstance(items[0], LineProblem) and items[0].line == 2


# --- grouping and the verdict per group ------------------------------------------


def _report(snapshot: Snapshot, name: str, **kw: Any) -> Any:
    folder = GroupFolder(snapshot, kw.pop("window", FlowWindow()), kw.pop("namespaces", ()))
    _, records, _ = _read(name)
    for i, r in enumerate(records):
        folder.add(r, name, i + 1)
    return analyse(folder, kw.pop("cni", CILIUM), kw.pop("top", None))


@pytest.fixture(scope="module")
def cluster() -> Snapshot:
    return load_snapshot([CLUSTER])


def _key(g: Any) -> tuple[str, str, str, int | None]:
    return (g.source.label, g.destination.label, g.protocol, g.port)


def test_grouping_counts_times_and_verdicts(cluster: Snapshot) -> None:
    report = _report(cluster, "hubble.jsonl")
    groups = {_key(g): g for g in report.groups}
    assert list(groups) == [
        ("shop/web", "shop/api", "TCP", 8080),  # mismatches first
        ("monitoring/prometheus", "shop/api", "TCP", 8080),
        ("shop/web", "shop/db", "TCP", 5432),
        ("shop/api", "shop/db", "TCP", 5432),
    ]
    web_api = groups[("shop/web", "shop/api", "TCP", 8080)]
    assert web_api.count(Observed.DROPPED) == 3 and web_api.verdict is Verdict.ALLOWED
    assert web_api.last - web_api.first == pytest.approx(2.0)
    assert web_api.nodes == ("node-1",)
    web_db = groups[("shop/web", "shop/db", "TCP", 5432)]
    assert web_db.verdict is Verdict.DENIED
    assert "ingress-not-allowed" in [f.id for f in web_db.diagnosis.findings]
    assert report.records == 7


def test_calico_aggregated_names_and_outside_addresses(cluster: Snapshot) -> None:
    report = _report(cluster, "calico.jsonl", cni=None)
    groups = {_key(g): g for g in report.groups}
    web = groups[("shop/web", "shop/api", "TCP", 8080)]
    assert web.source.spec == "shop/web-5d8f7c6b9-x2vqp" and web.verdict is Verdict.ALLOWED
    out = groups[("monitoring/prometheus", "outside (public)", "TCP", 443)]
    assert out.verdict is Verdict.UNKNOWN and out.unknown == "the log gives no address"


# --- the disagreement findings: trigger and near miss on a small cluster ----------


def _small(tmp_path: Path) -> Snapshot:
    return snapshot_of(
        tmp_path,
        [
            namespace("shop"),
            pod("shop/web", "10.0.0.1", app="web"),
            pod("shop/api", "10.0.0.2", app="api"),
            pod("shop/db", "10.0.0.3", app="db"),
            policy(
                "shop/api-ingress",
                {
                    "podSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
                },
            ),
        ],
    )


NO_MISMATCH = {DROP_ID, ALLOW_ID}
CASES = [
    # (source, observed, policies the log names) -> ids present, ids absent
    pytest.param("10.0.0.1", Observed.DROPPED, (), {DROP_ID}, {ALLOW_ID}, id="drop-but-allowed"),
    pytest.param("10.0.0.3", Observed.DROPPED, (), set(), NO_MISMATCH, id="drop-and-denied"),
    pytest.param("10.0.0.3", Observed.ALLOWED, (), {ALLOW_ID}, {DROP_ID}, id="allow-but-denied"),
    pytest.param("10.0.0.3", Observed.AUDIT, (), {ALLOW_ID}, {DROP_ID}, id="audit-but-denied"),
    pytest.param("10.0.0.1", Observed.ALLOWED, (), set(), NO_MISMATCH, id="allow-and-allowed"),
    pytest.param(
        "10.0.0.1",
        Observed.DROPPED,
        ("CiliumNetworkPolicy shop/lockdown",),
        {DROP_ID, MISSING_ID},
        set(),
        id="named-policy-missing",
    ),
    pytest.param(
        "10.0.0.3",
        Observed.DROPPED,
        ("NetworkPolicy shop/api-ingress",),
        set(),
        {MISSING_ID, DROP_ID},
        id="named-policy-present",
    ),
    # an address the input does not have: unknown, never a disagreement
    pytest.param("192.0.2.9", Observed.DROPPED, (), set(), {DROP_ID, ALLOW_ID}, id="outside"),
]


@pytest.mark.parametrize(("src", "observed", "named", "present", "absent"), CASES)
def test_disagreement_findings(
    tmp_path: Path,
    src: str,
    observed: Observed,
    named: tuple[str, ...],
    present: set[str],
    absent: set[str],
) -> None:
    folder = GroupFolder(_small(tmp_path))
    rec = FlowRecord(
        FlowPeer(src), FlowPeer("10.0.0.2"), "TCP", 8080, observed, 1.0e9, policies=named
    )
    folder.add(rec, "t", 1)
    (group,) = analyse(folder, CILIUM).groups
    ids = {f.id for f in group.findings}
    assert present <= ids and not (absent & ids), ids
    assert group.mismatch is bool({DROP_ID, ALLOW_ID} & ids)


def test_the_audit_message_names_audit_mode(tmp_path: Path) -> None:
    folder = GroupFolder(_small(tmp_path))
    rec = FlowRecord(FlowPeer("10.0.0.3"), FlowPeer("10.0.0.2"), "TCP", 80, Observed.AUDIT, 1.0)
    folder.add(rec, "t", 1)
    (group,) = analyse(folder, CILIUM).groups
    assert "audit mode" in group.findings[0].message


def test_a_pod_replaced_since_the_snapshot_is_answered_for_its_workload(
    cluster: Snapshot,
) -> None:
    folder = GroupFolder(cluster)
    gone = FlowPeer("10.244.9.9", "shop", "web-5d8f7c6b9-zzzzz")
    rec = FlowRecord(gone, FlowPeer("10.244.2.12"), "TCP", 5432, Observed.DROPPED, 1.0)
    folder.add(rec, "t", 1)
    (group,) = analyse(folder, CILIUM).groups
    assert group.source.label == "shop/web"
    assert group.source.spec == "shop/web-5d8f7c6b9-x2vqp"
    assert "not in the input" in (group.source.why or "")
    assert group.verdict is Verdict.DENIED


def test_service_cluster_ip_destination_maps_to_the_service(cluster: Snapshot) -> None:
    folder = GroupFolder(cluster)
    rec = FlowRecord(
        FlowPeer("10.244.1.10"), FlowPeer("10.96.0.50"), "TCP", 80, Observed.ALLOWED, 1.0
    )
    folder.add(rec, "t", 1)
    (group,) = analyse(folder, CILIUM).groups
    assert group.destination.label == "svc/shop/api" and group.verdict is Verdict.ALLOWED


# --- filters ---------------------------------------------------------------------


def test_since_duration_counts_back_from_the_newest_record(cluster: Snapshot) -> None:
    report = _report(cluster, "hubble.jsonl", window=FlowWindow(last=90))
    # newest 18:03:00; 90 s back is 18:01:30: only api->db and prometheus->api remain
    assert {_key(g)[:2] for g in report.groups} == {
        ("shop/api", "shop/db"),
        ("monitoring/prometheus", "shop/api"),
    }
    assert report.records == 2 and report.filtered == 5


def test_since_absolute_and_namespace_and_top(cluster: Snapshot) -> None:
    since = FlowWindow(since=1796407200 + 61)  # 18:01:01
    report = _report(cluster, "hubble.jsonl", window=since)
    assert report.records == 3  # web->db at 18:01:02, api->db, prometheus->api
    only = _report(cluster, "hubble.jsonl", namespaces=("monitoring",))
    assert [_key(g)[0] for g in only.groups] == ["monitoring/prometheus"]
    top = _report(cluster, "hubble.jsonl", top=1)
    assert len(top.groups) == 1 and top.shown == 4 and top.groups[0].mismatch


# --- the command ----------------------------------------------------------------


def test_command_text_json_markdown_and_exit_codes() -> None:
    r = run("flows", str(DATA / "hubble.jsonl"), "--snapshot", CLUSTER)
    assert r.returncode == 1, r.stderr  # a disagreement
    assert r.stdout.splitlines()[3].startswith("MISMATCH  shop/web -> shop/api  TCP 8080")
    assert "hubble.jsonl, line 10: not valid JSON" in r.stderr
    assert "Traceback" not in r.stderr
    j = run("flows", str(DATA / "antrea.log"), "--snapshot", CLUSTER, "-o", "json")
    data = json.loads(j.stdout)
    assert data["inputs"] == [
        {"file": str(DATA / "antrea.log"), "format": "antrea", "records": 4, "malformed": 1}
    ]
    assert data["groups"][0]["mismatch"] and data["groups"][0]["findings"][0]["id"] == DROP_ID
    assert data["problems"][0]["id"] == "input-malformed"
    md = run("flows", str(DATA / "calico.jsonl"), "--snapshot", CLUSTER, "-o", "markdown")
    assert "| MISMATCH | shop/api -> shop/db  TCP 5432 |" in md.stdout
    ok = run("flows", str(DATA / "calico.jsonl"), "--snapshot", CLUSTER, "-n", "monitoring")
    assert ok.returncode == 0, ok.stdout


def test_unreadable_input_exits_2_without_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"\xff\xfe garbage\n{not json\n")
    r = run("flows", str(junk), "--snapshot", CLUSTER)
    assert r.returncode == 2 and "junk.log, line 1" in r.stderr and "Traceback" not in r.stderr
    bad = run("flows", str(DATA / "hubble.jsonl"), "--snapshot", CLUSTER, "--since", "soon")
    assert bad.returncode == 2 and "RFC3339" in bad.stderr


def test_stdin_is_streamed_through_the_real_command(tmp_path: Path) -> None:
    """Records are written to the process while it runs; malformed lines in the middle
    are reported and the rest analysed."""
    proc = subprocess.Popen(
        [*_exe(), "flows", "-", "--snapshot", CLUSTER, "-o", "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    lines = (DATA / "hubble.jsonl").read_text().splitlines()[:-1]
    for i in range(200):
        for line in lines:
            proc.stdin.write(line + "\n")
        if i == 100:
            proc.stdin.write("\x00 not a record\n")
    proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 1, err
    data = json.loads(out)
    assert data["records"] == 7 * 200
    assert data["inputs"][0]["file"] == "stdin" and data["inputs"][0]["malformed"] == 1
    assert "stdin, line" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04T18:00:00.123456789Z", 1796407200.123456789),
        ("2026-12-04T18:00:00Z", 1796407200.0),
        ("2026-12-04T19:00:00+01:00", 1796407200.0),
        ("2026-12-04T18:00:00.5+00:00", 1796407200.5),
        ("2026-12-04T18:00:00.Z", None),
        ("not a time at all, no", None),
    ],
)
def test_rfc3339(text: str, expected: float | None) -> None:
    from netpol_doctor.inputs.flowlogs.timeparse import rfc3339

    assert rfc3339(text) == (pytest.approx(expected) if expected is not None else None)


def test_text_and_markdown_goldens(cluster: Snapshot, update_golden: bool) -> None:
    from netpol_doctor.render.flows import InputStat, render_flows_markdown, render_flows_text

    report = _report(cluster, "hubble.jsonl")
    stats = [InputStat("hubble.jsonl", "hubble", 7, 1)]
    golden = Path(__file__).parent / "golden"
    for name, text in (
        ("flows-hubble.txt", render_flows_text(report, stats)),
        ("flows-hubble.md", render_flows_markdown(report, stats)),
    ):
        path = golden / name
        if update_golden:
            path.write_text(text)
        assert path.exists(), f"missing golden {path}; run pytest --update-golden"
        assert text == path.read_text()


def test_group_and_diagnosis_caps_bound_a_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internet scan makes one group per address: past the caps, records are
    counted (not kept) and the smaller groups are left undiagnosed, said so."""
    import netpol_doctor.analysis.flows as flows_mod

    monkeypatch.setattr(flows_mod, "MAX_DIAGNOSED", 2)
    folder = GroupFolder(_small(tmp_path))
    folder.max_groups = 3
    for i in range(10):
        rec = FlowRecord(
            FlowPeer(f"192.0.2.{i}"), FlowPeer("10.0.0.2"), "TCP", 80, Observed.DROPPED, 1.0
        )
        folder.add(rec, "t", i + 1)
    report = analyse(folder, CILIUM)
    assert len(report.groups) == 3 and report.overflow == 7
    undiagnosed = [g for g in report.groups if g.diagnosis is None]
    assert len(undiagnosed) == 1 and "not diagnosed" in (undiagnosed[0].unknown or "")
