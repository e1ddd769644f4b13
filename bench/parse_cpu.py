"""CPU per object of `parse.parse_object`, the fast path against the reference path,
on the pods and policies of a cluster `make bench` generated:

    python bench/parse_cpu.py --data bench/.data/standard-p20000-n5000-s1-yaml/cluster

Each file (`-o yaml` read with yaml_rs, as the loader's fast path does, or `-o json`)
is read once; then every item is parsed, with the collector off, alternating
reference and fast rounds in one process:
CPU time (not wall time) and the minimum of the rounds, because the bench machine is
shared and noisy. Both paths' results are compared first: they must be equal.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml_rs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from netpol_doctor.parse import Origin, parse_object

DEFAULT = Path(__file__).resolve().parent / ".data/standard-p20000-n5000-s1-yaml/cluster"
FILES = {"Pod": "pods", "NetworkPolicy": "networkpolicies"}


def _items(folder: Path, stem: str) -> list[Any]:
    """The items of a kubectl List dump, `-o yaml` or `-o json`."""
    yaml_file = folder / f"{stem}.yaml"
    if yaml_file.exists():
        return list(yaml_rs.loads(yaml_file.read_text(), parse_datetime=False)["items"])
    return list(json.loads((folder / f"{stem}.json").read_text())["items"])


def _cpu_per_item(items: list[Any], fast: bool) -> float:
    origin = Origin("f", 1, 1)
    start = time.process_time()
    for raw in items:
        parse_object(raw, origin, "default", fast=fast)
    return (time.process_time() - start) / len(items) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT, help="a generated cluster/ folder")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    origin = Origin("f", 1, 1)
    for kind, name in FILES.items():
        items = _items(args.data, name)
        for raw in items:
            fast = parse_object(raw, origin, "default")
            if fast != parse_object(raw, origin, "default", fast=False):
                print(f"{kind}: the paths disagree on {raw['metadata']['name']}")
                return 1
        runs: dict[bool, list[float]] = {False: [], True: []}
        gc.disable()
        for _ in range(args.rounds):
            for fast_path in (False, True):
                runs[fast_path].append(_cpu_per_item(items, fast_path))
        gc.enable()
        ref, fast = runs[False], runs[True]
        print(
            f"{kind} ({len(items)}): reference {min(ref):.1f} us (median "
            f"{statistics.median(ref):.1f}), fast {min(fast):.1f} us (median "
            f"{statistics.median(fast):.1f}): {min(ref) / min(fast):.1f}x less CPU per object"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
