"""The compact snapshot format: exact round trips, and files made by anyone.

A compact file is loaded whoever made it, so the tests build hostile ones by hand:
pickles (format 1, and behind a format-2 header), truncated and edited files, other
versions, and bodies whose checksum is right but whose values are wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import random
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from builders import snapshot_of
from netpol_doctor.cli import main
from netpol_doctor.cni import CniInfo, profile_named
from netpol_doctor.compact import (
    COMPACT_MAGIC,
    FORMAT_VERSION,
    CompactFormatError,
    encode_snapshot,
    load_compact,
    save_compact,
)
from netpol_doctor.diagnose import diagnose
from netpol_doctor.errors import NetpolDoctorError
from netpol_doctor.matrix import compute_matrix
from netpol_doctor.model import ObjectRef, Protocol
from netpol_doctor.snapshot import Snapshot, load_snapshot
from test_cases import CASES, _expand
from test_cilium import CASES as CILIUM_CASES
from test_cilium import _expand as _cilium_expand
from test_cli import _exe

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cluster"
FIELDS = [
    "namespaces",
    "pods",
    "services",
    "endpoints",
    "policies",
    "rejected_policies",
    "nodes",
    "workloads",
    "extended",
    "events",
    "problems",
    "kinds",
    "unknown_kinds",
    "unreadable",
    "unreadable_why",
]


def _refs(value: Any) -> list[str]:
    """Every ObjectRef inside, in order, with its file and line (equality ignores them)."""
    if isinstance(value, ObjectRef):
        return [repr(value)]
    if dataclasses.is_dataclass(value):
        return [r for f in dataclasses.fields(value) for r in _refs(getattr(value, f.name))]
    if isinstance(value, list | tuple):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _same(a: Snapshot, b: Snapshot) -> None:
    for name in FIELDS:
        left, right = getattr(a, name), getattr(b, name)
        assert left == right, name
        assert _refs(left) == _refs(right), name


def _roundtrip(snap: Snapshot, tmp_path: Path) -> Snapshot:
    path = tmp_path / "c.npds"
    save_compact(snap, path)
    return load_snapshot([path])


def test_examples_round_trip_exactly(tmp_path: Path) -> None:
    snap = load_snapshot([EXAMPLES])
    _same(snap, _roundtrip(snap, tmp_path))


def _case_params() -> list[Any]:
    return [pytest.param(p, id=p.stem) for p in [*CASES, *CILIUM_CASES]]


@pytest.mark.parametrize("path", _case_params())
def test_case_clusters_round_trip_with_the_same_answers(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    expand = _cilium_expand if path in CILIUM_CASES else _expand
    snap = snapshot_of(tmp_path, [expand(o) for o in case["objects"]])
    loaded = _roundtrip(snap, tmp_path)
    _same(snap, loaded)
    cni = CniInfo(profile_named(case["cni"]), forced=True) if case.get("cni") else None
    for q in case["questions"]:
        if "src" not in q or "dst" not in q:
            continue
        port, proto = q.get("port"), Protocol(q.get("protocol", "TCP"))
        want = diagnose(snap, q["src"], q["dst"], port, proto, cni=cni)
        got = diagnose(loaded, q["src"], q["dst"], port, proto, cni=cni)
        assert got.verdict == want.verdict
        assert [f.id for f in got.findings] == [f.id for f in want.findings]


def test_gaps_and_synthesized_namespaces_survive(tmp_path: Path) -> None:
    snap = load_snapshot([EXAMPLES])
    snap.unreadable = {("networkpolicies", "shop"), ("ciliumnetworkpolicies", None)}
    snap.unreadable_why = {("networkpolicies", "shop"): "forbidden (403)"}
    snap.namespace("nowhere")
    loaded = load_compact(_write(tmp_path, encode_snapshot(snap)))
    assert loaded.unreadable == snap.unreadable
    assert loaded.unreadable_why == snap.unreadable_why
    assert loaded.namespaces["nowhere"].synthesized


def test_packing_is_deterministic() -> None:
    snap = load_snapshot([EXAMPLES])
    assert encode_snapshot(snap) == encode_snapshot(load_snapshot([EXAMPLES]))


# --- hostile files ------------------------------------------------------------------


class _Payload:
    """Unpickling this runs `touch`: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _write(tmp_path: Path, data: bytes, name: str = "snap.npds") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _signed(body: dict[str, Any] | bytes, schema: str | None = None) -> bytes:
    """A file whose header matches its body: only the body's values can be wrong."""
    from netpol_doctor.compact import SCHEMA

    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    header = {
        "schema": schema or SCHEMA,
        "length": len(payload),
        "blake2b": hashlib.blake2b(payload, digest_size=32).hexdigest(),
    }
    return COMPACT_MAGIC + _VERSION + b"\n" + orjson.dumps(header) + b"\n" + payload


def _split(data: bytes) -> tuple[bytes, dict[str, Any]]:
    head, _, rest = data.partition(b"\n")
    _, _, payload = rest.partition(b"\n")
    return head, orjson.loads(payload)


@pytest.mark.parametrize("name", ["snap.npds", "cluster.yaml", "pods.json"])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: COMPACT_MAGIC + b"1\n" + pickle.dumps(_Payload(p)), id="v1"),
        pytest.param(lambda p: _signed(pickle.dumps(_Payload(p))), id="v2-header"),
        pytest.param(lambda p: COMPACT_MAGIC + b"2\n" + pickle.dumps(_Payload(p)), id="raw"),
    ],
)
def test_a_pickle_never_runs_whatever_the_file_is_called(
    tmp_path: Path, name: str, make: Any
) -> None:
    marker = tmp_path / "pwned"
    path = _write(tmp_path, make(marker), name)
    for argv in (
        ["check", "--snapshot", str(path)],
        ["lint", "--snapshot", str(path)],
        ["diff", "--before", str(path), "--after", str(EXAMPLES), "--port", "80"],
    ):
        proc = subprocess.run(
            [*_exe(), *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert not marker.exists(), argv
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert str(path) in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_pickle_never_reads_a_file() -> None:
    # The one use of pickle: what a forked loading child sends back over an anonymous
    # pipe (inputs/forked.py). Nothing else in the package may import or call it.
    uses = re.compile(r"^\s*(?:import|from) (?:c?pickle|_pickle)\b|\bpickle\.\w+\(", re.M)
    users = sorted(
        str(p.relative_to(ROOT / "src"))
        for p in (ROOT / "src").rglob("*.py")
        if uses.search(p.read_text())
    )
    assert users == ["netpol_doctor/inputs/forked.py"], users
    forked = (ROOT / "src/netpol_doctor/inputs/forked.py").read_text()
    # loads only ever takes the frames a child wrote to its pipe (_Child.unpickle_into)
    assert forked.count("pickle.loads(") == 1, forked
    start = forked.index("def unpickle_into(")
    assert start < forked.index("pickle.loads(") < forked.index("\n    def ", start + 1)
    assert "pickle.load(" not in forked and "Unpickler" not in forked


@pytest.fixture(scope="module")
def packed() -> bytes:
    return encode_snapshot(load_snapshot([EXAMPLES]))


def _error(tmp_path: Path, data: bytes) -> str:
    with pytest.raises(CompactFormatError) as err:
        load_compact(_write(tmp_path, data))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_truncated_file_is_named(tmp_path: Path, packed: bytes) -> None:
    for cut in (len(COMPACT_MAGIC) + 1, len(packed) // 2, len(packed) - 1):
        message = _error(tmp_path, packed[:cut])
        assert "snap.npds" in message
        assert "cut short" in message or "header" in message


def test_an_edited_body_fails_its_checksum(tmp_path: Path, packed: bytes) -> None:
    edited = packed.replace(b"prometheus", b"prometheuz", 1)
    assert "changed after it was packed" in _error(tmp_path, edited)


def test_other_versions_say_so(tmp_path: Path, packed: bytes) -> None:
    later = packed.replace(COMPACT_MAGIC + _VERSION, COMPACT_MAGIC + b"9", 1)
    assert "format '9'" in _error(tmp_path, later)
    _, body = _split(packed)
    assert "another version" in _error(tmp_path, _signed(body, schema="0" * 24))
    assert "no longer read" in _error(tmp_path, COMPACT_MAGIC + b"1\n" + b"x" * 100)


def test_a_damaged_header(tmp_path: Path, packed: bytes) -> None:
    assert "header" in _error(tmp_path, COMPACT_MAGIC + _VERSION + b"\nnot json\n{}")
    assert "header" in _error(tmp_path, COMPACT_MAGIC + _VERSION + b"\n" + b"{" * 10_000)


_VERSION = str(FORMAT_VERSION).encode()


def _first_pod(body: dict[str, Any], field: int, value: Any) -> None:
    """Set one field of the first pod: pods are written one list per field."""
    body["pods"][field][0] = value


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: _first_pod(b, 3, "yes"), "Pod.host_network: expected a boolean"),
        (lambda b: _first_pod(b, 0, 10**9), "no such table entry"),
        (lambda b: _first_pod(b, 0, -1), "expected a table index"),
        (lambda b: _first_pod(b, 2, None), "expected a table index"),
        (lambda b: _first_pod(b, 5, "10.0.0.300"), "Pod.host_ip: expected an IP address"),
        (lambda b: _first_pod(b, 6, 7), "Pod.phase: expected a string"),
        (lambda b: b["pods"].append([1]), "expected 19 columns"),
        (lambda b: b["pods"][4].append("node"), "columns differ in length"),
        (lambda b: b.__setitem__("pods", {}), "pods: Pod: expected 19 columns"),
        (lambda b: b.__setitem__("kinds", {"Pod": -1}), "counts"),
        (lambda b: b.pop("tables"), "tables"),
        (lambda b: b["tables"].append([]), "tables"),
    ],
)
def test_wrong_values_behind_a_right_checksum(
    tmp_path: Path, packed: bytes, mutate: Any, expected: str
) -> None:
    _, body = _split(packed)
    mutate(body)
    message = _error(tmp_path, _signed(body))
    assert expected in message
    if "Pod." in expected:
        assert "pods[0]" in message


def test_impossible_values_are_refused(tmp_path: Path, packed: bytes) -> None:
    from netpol_doctor.compact import _TABLE_INDEX
    from netpol_doctor.model import Requirement

    _, body = _split(packed)
    # Requirements are written one list per field: key, operator, values, from_match_labels.
    columns = body["tables"][_TABLE_INDEX[Requirement]]
    row = next(
        i
        for i, (_, op, _, labels) in enumerate(zip(*columns, strict=True))
        if op == "In" and labels
    )
    columns[1][row] = "Exists"
    assert "Exists takes no values" in _error(tmp_path, _signed(body))


def _mutations(body: Any, rng: random.Random) -> Any:
    """Replace one leaf of the body with another JSON value, anywhere."""
    junk = [None, True, False, -1, 0, 1, 2**40, "", "x", "TCP", "10.0.0.0/8", [], {}, [0], [[]]]
    node, path = body, []
    while isinstance(node, list | dict) and node and rng.random() < 0.85:
        key = rng.randrange(len(node)) if isinstance(node, list) else rng.choice(list(node))
        path.append((node, key))
        node = node[key]
    if path:
        parent, key = path[-1]
        parent[key] = rng.choice(junk)
    return body


def test_fuzzed_bodies_load_cleanly_or_say_why(tmp_path: Path, packed: bytes) -> None:
    """Whatever a crafted body holds, loading gives a Snapshot or one sentence, and a
    Snapshot that loads can be analysed without a crash."""
    rng = random.Random(7)
    runs = int(os.environ.get("NETPOL_DOCTOR_FUZZ_RUNS", "300"))
    loaded = 0
    for _ in range(runs):
        _, body = _split(packed)
        data = _signed(_mutations(body, rng))
        try:
            snap = load_compact(_write(tmp_path, data))
        except CompactFormatError as exc:
            assert "\n" not in str(exc)
            continue
        loaded += 1
        try:  # a question about a pod the mutation removed is a clean QuestionError
            diagnose(snap, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
        except NetpolDoctorError as exc:
            assert "\n" not in str(exc)
        compute_matrix(snap, 8080, Protocol.TCP)
    assert loaded > 0  # some mutations are harmless: the loop really analysed them


def test_cli_reports_a_bad_compact_file_in_one_line(tmp_path: Path, packed: bytes) -> None:
    path = _write(tmp_path, packed[:-10])
    assert main(["check", "--snapshot", str(path)]) == 2


def test_no_secret_reaches_a_packed_file(tmp_path: Path) -> None:
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "aws-node", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "aws-node"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "aws-node"}},
                "spec": {
                    "containers": [
                        {
                            "name": "agent",
                            "args": ["--enable-network-policy=true", "--token=hunter2"],
                            "command": ["run", "--password", "hunter3"],
                            "env": [{"name": "API_KEY", "value": "hunter4"}],
                        }
                    ]
                },
            },
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        "stringData": {"password": "hunter5"},
    }
    snap = snapshot_of(tmp_path, [daemonset, secret])
    data = encode_snapshot(snap)
    assert b"hunter" not in data
    assert load_compact(_write(tmp_path, data)).workloads[0].container_args == (
        "--enable-network-policy=true",
    )


@pytest.mark.parametrize("where", ["missing/dir/out.npds", "/dev/full"])
def test_pack_that_cannot_be_written_says_so(tmp_path: Path, where: str) -> None:
    target = where if where.startswith("/") else str(tmp_path / where)
    proc = subprocess.run(
        [*_exe(), "snapshot", "pack", target, "--snapshot", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if where.startswith("/dev/") and not stat.S_ISCHR(os.stat(where).st_mode):
        os.unlink(where)  # a regression replaced the device: put it back for the machine
        os.mknod(where, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        pytest.fail("pack replaced /dev/full instead of writing through it")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"cannot write {target}" in proc.stderr


def test_pack_reports_input_problems(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata: {name: [\n")
    proc = subprocess.run(
        [*_exe(), "snapshot", "pack", str(tmp_path / "o.npds"), "--snapshot", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "bad.yaml" in proc.stderr
    loaded = load_compact(tmp_path / "o.npds")
    assert any(p.id == "input-malformed" for p in loaded.problems)


def test_every_snapshot_field_is_packed() -> None:
    """A field added to Snapshot must be added to the format (and so to FIELDS)."""
    assert set(FIELDS) == set(Snapshot.__dataclass_fields__)


def test_fast_ipv4_is_ipaddress_own() -> None:
    """compact._ipv4 skips IPv4Address.__init__: same value, hash, text and range error."""
    from ipaddress import IPv4Address

    from netpol_doctor.compact import _ipv4

    for n in (0, 1, 0x0AF40305, 0xFFFFFFFF):
        made, reference = _ipv4(n), IPv4Address(n)
        assert type(made) is IPv4Address
        assert made == reference and hash(made) == hash(reference)
        assert str(made) == str(reference) and made.is_private == reference.is_private
    for n in (-1, 0x100000000):
        with pytest.raises(ValueError):
            _ipv4(n)
