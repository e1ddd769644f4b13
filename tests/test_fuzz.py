"""Fuzzing (issue #14): one object of every kind the tool reads (tests/data/fuzz-cluster.yaml),
each field in turn replaced by junk or deleted, then `check`, `diagnose`, `matrix`,
`matrix --all-ports` and `lint` run through the CLI's `main`. Every run must end with an
exit code (0 allowed, 1 denied, 3 unknown, or 2 with a message) and never an exception.

Deterministic: the mutations are sampled with a fixed seed, a few per object so every kind
is mutated on each run. NETPOL_FUZZ_PER_OBJECT=N samples N per object; `all` runs every
mutation (about 9,000, half an hour); NETPOL_FUZZ_SEED changes the sample.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netpol_doctor.cli import main

BASE = Path(__file__).parent / "data" / "fuzz-cluster.yaml"
DELETE = object()  # a mutation that removes the key (or list item)
JUNK: tuple[object, ...] = (
    None,
    True,
    [],
    {},
    "",
    "x",
    -1,
    0,
    10**30,
    "999999999999",
    {"a": [{"b": None}, [1, "2"]]},  # nested junk
    DELETE,
)
CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")

Path_ = tuple[str | int, ...]


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every field and list item below a document, parents before children."""
    items: list[tuple[str | int, Any]] = (
        list(node.items()) if isinstance(node, dict) else list(enumerate(node))
    )
    for key, value in items:
        yield (*prefix, key)
        if isinstance(value, dict | list):
            yield from _paths(value, (*prefix, key))


def _mutate(doc: Any, path: Path_, value: object) -> Any:
    out = yaml.safe_load(yaml.safe_dump(doc))  # a deep copy
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


def _show(path: Path_) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def _mutations() -> list[Any]:
    docs = list(yaml.safe_load_all(BASE.read_text()))
    wanted = os.environ.get("NETPOL_FUZZ_PER_OBJECT", "3")
    rng = random.Random(int(os.environ.get("NETPOL_FUZZ_SEED", "14")))
    out = []
    for i, doc in enumerate(docs):
        every = [(path, j) for path in _paths(doc) for j in range(len(JUNK))]
        # Never the kind or apiVersion: those make a different (or no) object, not a bad one.
        every = [(p, j) for p, j in every if p[0] not in ("kind", "apiVersion")]
        chosen = every if wanted == "all" else rng.sample(every, min(int(wanted), len(every)))
        for path, j in chosen:
            what = f"{doc['kind']}.{_show(path)}={'<delete>' if JUNK[j] is DELETE else JUNK[j]!r}"
            out.append(pytest.param(i, path, j, id=what[:120]))
    return out


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize(("index", "path", "junk"), _mutations())
def test_mutated_input_never_crashes(index: int, path: Path_, junk: int, tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(BASE.read_text()))
    docs[index] = _mutate(docs[index], path, JUNK[junk])
    cni = "cilium" if docs[index].get("kind") in CILIUM_KINDS else "calico"
    f = tmp_path / "cluster.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    snap = ["--snapshot", str(f)]
    commands = [
        ["check", *snap],
        ["diagnose", "shop/web", "shop/api", "--port", "8080", "--cni", cni, *snap],
        ["matrix", "--port", "8080", "--cni", cni, *snap],
        ["matrix", "--all-ports", "--output", "summary", "--cni", cni, *snap],
        ["lint", "--cni", cni, *snap],
    ]
    for argv in commands:
        code, output = _run(argv)
        assert code in (0, 1, 2, 3), (argv[0], code, output)
        assert code != 2 or output.strip(), (argv[0], "exit 2 without a message")
        assert "Traceback" not in output
