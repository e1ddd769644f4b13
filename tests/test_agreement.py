"""One answer everywhere: `diagnose`, `matrix --port P` and `matrix --all-ports` give
the same verdict for the same pair, port and `--cni`, on every case cluster (NetworkPolicy,
Cilium and the admin tiers included) and whatever plugin is assumed."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import snapshot_of
from netpol_doctor.cni import KNOWN_CNIS, CniInfo, profile_named
from netpol_doctor.diagnose import diagnose
from netpol_doctor.errors import NetpolDoctorError
from netpol_doctor.matrix import CODES, all_ports, compute_matrix, compute_port_sweep
from test_cases import CASES, _expand
from test_cilium import CASES as CILIUM_CASES
from test_cilium import _expand as _cilium_expand

#: detected, and plugins with different semantics (none enforcing, ipBlock on pod IPs
#: or not, admin tiers or not, Cilium's own kinds)
PLUGINS = [None, "flannel", "calico", "cilium", "aws-vpc-cni", "antrea"]
assert all(profile_named(p) for p in PLUGINS if p)
assert {p.name for p in KNOWN_CNIS} >= {p for p in PLUGINS if p}
PAIRS = int(os.environ.get("NETPOL_DOCTOR_AGREEMENT_PAIRS", "9"))


def _clusters() -> list[Any]:
    out = []
    for path in [*CASES, *CILIUM_CASES]:
        out.append(pytest.param(path, id=path.stem))
    return out


@pytest.mark.parametrize("path", _clusters())
def test_diagnose_matrix_and_sweep_agree(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    expand = _cilium_expand if path in CILIUM_CASES else _expand
    snap = snapshot_of(tmp_path, [expand(o) for o in case["objects"]])
    ports = all_ports(snap)[:2]
    compared = 0
    for plugin in PLUGINS:
        cni = CniInfo(profile_named(plugin), forced=True) if plugin else None
        sweep = compute_port_sweep(snap, cni=cni)
        swept = set(sweep.ports)
        for proto, port in ports:
            m = compute_matrix(snap, port, proto, cni=cni)
            index = {p.key: i for i, p in enumerate(m.pods)}
            live = [p for p in m.pods if not p.is_template][:4]
            for src, dst in itertools.islice(itertools.product(live, live), PAIRS):
                i, j = index[src.key], index[dst.key]
                want = m.verdict(i, j)
                try:
                    diag = diagnose(snap, src.key, dst.key, port, proto, cni=cni)
                except NetpolDoctorError:
                    continue  # e.g. a port the destination does not serve by that name
                got = diag.verdict
                assert got is want, (path.name, plugin, src.key, dst.key, proto, port)
                compared += 1
                if (proto, port) in swept:
                    by_verdict = sweep.pair(i, j)
                    (code,) = [v for v in CODES if (proto, port) in by_verdict[v]]
                    assert code is want, ("sweep", path.name, plugin, src.key, dst.key, port)
    live_pods = sum(1 for p in snap.pods if not p.is_template)
    assert compared or not ports or live_pods < 1, "nothing was compared"


AWS_CASE = Path(__file__).parent / "cases" / "finding-aws-vpc-cni-port-limit.yaml"


@pytest.mark.parametrize("plugin", ["aws-vpc-cni", "calico"])
def test_aws_port_limit_every_pair_and_port(plugin: str, tmp_path: Path) -> None:
    """CNI-10 holds per peer address, which the pod classes of the fast path cannot
    see: every pair and port of the port-limit case, through all three commands."""
    case = yaml.safe_load(AWS_CASE.read_text())
    snap = snapshot_of(tmp_path, [_expand(o) for o in case["objects"]])
    cni = CniInfo(profile_named(plugin), forced=True)
    sweep = compute_port_sweep(snap, cni=cni)
    unknown = 0
    for proto, port in [(p, n) for p, n in all_ports(snap) if n in (8001, 8024, 8025, 8029, 8080)]:
        m = compute_matrix(snap, port, proto, cni=cni)
        for i, src in enumerate(m.pods):
            for j, dst in enumerate(m.pods):
                want = m.verdict(i, j)
                got = diagnose(snap, src.key, dst.key, port, proto, cni=cni).verdict
                assert got is want, (plugin, src.key, dst.key, port)
                (code,) = [v for v in CODES if (proto, port) in sweep.pair(i, j)[v]]
                assert code is want, ("sweep", plugin, src.key, dst.key, port)
                unknown += want.value == "unknown"
    # The limit makes answers unknown on AWS only (a -> many, trainer -> api).
    assert (unknown > 0) is (plugin == "aws-vpc-cni")
