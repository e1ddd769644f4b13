"""What yamlload costs beyond yaml-rs's own parse, phase by phase, in CPU time, as the
parallel load runs it (a stream cut into runs of documents, a List into pieces); with
`--old FILE`, an older yamlload.py alternated with today's in the same process, and
their outputs compared.

    .venv/bin/python bench/yaml_overhead.py --stream S.yaml --list L.yaml \\
        [--old /tmp/yamlload_old.py] [--runs 3]

(`git show 887a175:src/netpol_doctor/yamlload.py > /tmp/yamlload_old.py` gives the
code before the per-region checks.) The machine is shared and noisy: compare the
two columns of one run, not figures of different runs.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from bisect import bisect_left
from collections.abc import Callable
from itertools import pairwise
from types import ModuleType
from typing import Any

import numpy  # noqa: F401  (imported first, as the parallel load does)

from netpol_doctor import yamlload

PARTS = 128  # what the parallel load makes of one 45 MB file on two CPUs


def _cpu(f: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    start = time.process_time()
    try:
        result = f()
    finally:
        gc.enable()
    return time.process_time() - start, result


def _key(docs: list[Any]) -> list[tuple[Any, ...]]:
    return [(d.value, d.line, d.item_lines, d.error, d.duplicate_keys) for d in docs]


def _pieces(split: Any) -> list[Any]:
    """A ListSplit's pieces: made by `piece(k)` since they are copied where loaded (an
    older yamlload, given by --old, held them in `pieces`)."""
    if hasattr(split, "pieces"):
        return list(split.pieces)
    return [split.piece(k) for k in range(len(split.counts))]


def phases(mod: ModuleType, stream: str, listed: str) -> tuple[dict[str, float], Any]:
    out: dict[str, float] = {}
    out["stream_chunks"], chunks = _cpu(lambda: mod.stream_chunks(stream))
    starts = [c.offset for c in chunks]
    cuts = {bisect_left(starts, len(stream) * k // PARTS) for k in range(1, PARTS)}
    runs = list(pairwise(sorted({0, len(chunks)} | cuts)))
    out["load_chunks"], docs = _cpu(
        lambda: [d for a, b in runs for d in mod.load_chunks(stream, chunks[a:b])]
    )
    one = mod.stream_chunks(listed)[0]
    out["split_list"], split = _cpu(lambda: mod.split_list(listed, one, PARTS))
    texts = _pieces(split)
    out["load_piece"], pieces = _cpu(lambda: [mod.load_piece(p) for p in texts])
    out["_item_spans"], _ = _cpu(lambda: [mod._item_spans(p) for p in texts])
    out["_risky_ascii"], _ = _cpu(lambda: [mod._risky_ascii(p.text) for p in texts])
    return out, (_key(docs), _key(pieces), split.counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", required=True, help="a one-object-per-document YAML")
    parser.add_argument("--list", required=True, help="a `kubectl get -o yaml` List")
    parser.add_argument("--old", help="an older yamlload.py to compare with")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stream = open(args.stream, encoding="utf-8").read()  # noqa: SIM115
    listed = open(args.list, encoding="utf-8").read()  # noqa: SIM115
    mods = {"new": yamlload}
    if args.old:
        spec = importlib.util.spec_from_file_location("yamlload_old", args.old)
        assert spec is not None and spec.loader is not None
        old = importlib.util.module_from_spec(spec)
        sys.modules["yamlload_old"] = old  # dataclasses look their module up
        spec.loader.exec_module(old)
        mods["old"] = old
    times: dict[str, list[dict[str, float]]] = {name: [] for name in mods}
    outputs = {}
    texts = [c.text for c in yamlload.stream_chunks(stream) if c.content_line is not None]
    split = yamlload.split_list(listed, yamlload.stream_chunks(listed)[0], PARTS)
    assert split is not None
    rs: list[tuple[float, float]] = []
    for r in range(args.runs):
        order = list(mods.items()) if r % 2 == 0 else list(reversed(mods.items()))
        for name, mod in order:
            figures, outputs[name] = phases(mod, stream, listed)
            times[name].append(figures)
        # yaml-rs alone on the same documents and pieces, between the two
        rs_stream, _ = _cpu(lambda: [yamlload._fast(t) for t in texts])
        rs_list, _ = _cpu(lambda: [yamlload._fast(p.text) for p in _pieces(split)])
        rs.append((rs_stream, rs_list))
    rs_stream = statistics.median(r[0] for r in rs)
    rs_list = statistics.median(r[1] for r in rs)
    print(f"yaml-rs alone: stream {rs_stream:.3f} s, list pieces {rs_list:.3f} s")
    for phase in times["new"][0]:
        row = f"{phase:14s}"
        for name in mods:
            row += f" {name} {statistics.median(t[phase] for t in times[name]):7.3f} s"
        print(row)
    for name in mods:
        loads = statistics.median(t["load_chunks"] for t in times[name]) - rs_stream
        pieces = statistics.median(t["load_piece"] for t in times[name]) - rs_list
        print(
            f"{name}: beyond yaml-rs: stream {loads:.3f} s ({loads / len(texts) * 1e6:.0f} us per "
            f"document), list pieces {pieces:.3f} s"
        )
    if "old" in outputs:
        print("outputs identical" if outputs["old"] == outputs["new"] else "OUTPUTS DIFFER")


if __name__ == "__main__":
    main()
