"""Loading on every CPU (snapshot._read_parallel, inputs/forked.py) gives exactly what
loading in one process gives: the same objects in the same order, at the same files,
documents, lines and List indexes, and the same problems, whatever the input shape
(kubectl Lists in JSON and YAML, one object per document, broken documents, keys given
twice, anchors across List entries). Inputs here are small, so the units are forced
small too: every List and stream is cut into many pieces."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import netpol_doctor.inputs.forked as forked
import netpol_doctor.snapshot as snapshot_mod
from netpol_doctor.model import ObjectRef
from netpol_doctor.snapshot import Snapshot, load_snapshot

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"


def _bench(name: str) -> ModuleType:
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def _where(ref: ObjectRef) -> tuple[Any, ...]:
    return (ref.kind, ref.namespace, ref.name, ref.file, ref.document, ref.line)


def _everything(snap: Snapshot) -> tuple[Any, ...]:
    """The snapshot, locations included (ObjectRef equality leaves them out)."""
    return (
        [(p, _where(p.ref)) for p in snap.pods],
        [(p, _where(p.ref)) for p in snap.policies],
        [(k, s, _where(s.ref)) for k, s in snap.services.items()],
        [(k, n, _where(n.ref)) for k, n in snap.namespaces.items()],
        list(snap.nodes.items()),
        snap.endpoints,
        snap.workloads,
        snap.extended,
        snap.events,
        [(f, f.field, tuple(_where(o) for o in f.objects)) for f in snap.problems],
        dict(snap.kinds),
        dict(snap.unknown_kinds),
        [_where(r) for r in snap.rejected_policies],
        sorted(map(repr, snap.unreadable)),
        sorted(snap.unreadable_why.items(), key=repr),
    )


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Force the parallel reader on small inputs; records how many units each child
    sent back (so a test can tell the children really worked)."""
    monkeypatch.setattr(snapshot_mod, "PARALLEL_FROM", 0)
    monkeypatch.setattr(snapshot_mod, "cpus", lambda: 2)
    monkeypatch.setattr(forked, "cpus", lambda: 2)
    sent: list[int] = []
    unpickle = forked._Child.unpickle_into

    def counting(child: Any, results: dict[int, Any]) -> None:
        sent.append(len(child.frames))
        unpickle(child, results)

    monkeypatch.setattr(forked._Child, "unpickle_into", counting)
    return sent


def _one_process(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    with monkeypatch.context() as m:
        m.setenv(forked.JOBS_ENV, "1")
        m.setattr(snapshot_mod, "cpus", lambda: 1)
        return load_snapshot(paths)


def _both(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Snapshot, Snapshot]:
    return _one_process(paths, monkeypatch), load_snapshot(paths)


def _case_files() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))[:60]


def test_a_case_corpus_loads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[int]
) -> None:
    """Every test case's objects, written as one multi-document stream and as one
    kubectl List, plus the bundled example."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_cases import _expand

    objects: list[Any] = []
    for case in _case_files():
        objects += [_expand(o) for o in yaml.safe_load(case.read_text())["objects"]]
    stream = tmp_path / "stream.yaml"
    stream.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    for paths in ([stream], [listed], [ROOT / "examples" / "cluster"], [stream, listed]):
        one, split = _both(paths, monkeypatch)
        assert _everything(split) == _everything(one), paths
    assert sum(children) > 0  # the children did read part of it


@pytest.mark.parametrize("fmt", ["json", "yaml", "stream"])
def test_a_generated_cluster_loads_the_same(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[int]
) -> None:
    gen = _bench("generate")
    gen.write_cluster(gen.generate_cluster(240, 60, 3), tmp_path, fmt)
    one, split = _both([tmp_path], monkeypatch)
    assert len(one.pods) >= 240
    assert _everything(split) == _everything(one)
    assert sum(children) > 0


_POD = """\
- apiVersion: v1
  kind: Pod
  metadata:
    name: p{i}
    namespace: shop
    labels: {{app: web, n: "{i}"}}
  status:
    podIP: 10.0.0.{i}
"""

# Each: a file whose pieces cannot all be read alone, or that reads differently
# in pieces if a piece were read carelessly.
TRAPS: dict[str, str] = {
    "anchor-across-entries": "apiVersion: v1\nitems:\n"
    + _POD.format(i=1).replace("labels: {app: web", "labels: &l {app: web")
    + "".join(_POD.format(i=i) for i in range(2, 30))
    + "- apiVersion: v1\n  kind: Pod\n  metadata: {name: q, namespace: shop, labels: *l}\n"
    + "kind: List\n",
    "duplicate-key-at-the-top": "apiVersion: v1\nkind: List\nitems:\n"
    + "".join(_POD.format(i=i) for i in range(1, 30))
    + "kind: List\n",
    "duplicate-key-in-an-entry": "apiVersion: v1\nitems:\n"
    + "".join(_POD.format(i=i) for i in range(1, 15))
    + _POD.format(i=15).replace("    name: p15\n", "    name: p15\n    name: again\n")
    + "".join(_POD.format(i=i) for i in range(16, 30))
    + "kind: List\n",
    "broken-document-in-a-stream": "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: s{i}, namespace: shop}}\n"
        + ("spec: [unclosed\n" if i == 17 else "")
        for i in range(40)
    ),
    "typed-list-without-kinds": "apiVersion: v1\nkind: PodList\nitems:\n"
    + "".join(_POD.format(i=i).replace("  kind: Pod\n", "") for i in range(1, 30)),
    "indented-entries-and-comments": "apiVersion: v1\nkind: List\nitems:\n"
    + "".join(
        "  # entry\n" + "".join("  " + line + "\n" for line in _POD.format(i=i).splitlines())
        for i in range(1, 30)
    )
    + "metadata: {}\n",
    "risky-tokens-in-entries": "apiVersion: v1\nitems:\n"
    + "".join(
        _POD.format(i=i).replace(f'n: "{i}"', "n: yes" if i % 7 == 0 else "n: 017")
        for i in range(1, 30)
    )
    + "kind: List\n",
    "crlf-and-bom": "\ufeff"
    + ("apiVersion: v1\nitems:\n" + "".join(_POD.format(i=i) for i in range(1, 30)))
    + "kind: List\n",
    "explicit-ends-and-empty-documents": "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: e{i}, namespace: shop}}\n...\n"
        + ("---\n" if i % 5 == 0 else "")
        for i in range(40)
    ),
    "a-list-in-a-stream": "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
    + "apiVersion: v1\nitems:\n"
    + "".join(_POD.format(i=i) for i in range(1, 30))
    + "kind: List\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: last, namespace: shop}\n",
}


def _json_list(items: list[str], indent: int = 4, kind: str = "List") -> str:
    pad = " " * indent
    body = ",\n".join("\n".join(pad * 2 + line for line in item.splitlines()) for item in items)
    return (
        f'{{\n{pad}"apiVersion": "v1",\n{pad}"items": [\n{body}\n{pad}],\n'
        f'{pad}"kind": "{kind}",\n{pad}"metadata": {{}}\n}}\n'
    )


def _json_pod(i: int, extra: str = "") -> str:
    return (
        '{\n    "apiVersion": "v1",\n    "kind": "Pod",\n    "metadata": {\n'
        f'        "name": "j{i}",\n        "namespace": "shop"{extra}\n    }},\n'
        f'    "status": {{"podIP": "10.1.0.{i}"}}\n}}'
    )


JSON_TRAPS: dict[str, str] = {
    "kubectl": _json_list([_json_pod(i) for i in range(1, 40)]),
    "two-space-indent": _json_list([_json_pod(i) for i in range(1, 40)], indent=2),
    "typed-list": _json_list(
        [_json_pod(i).replace('"kind": "Pod",', "") for i in range(1, 40)], kind="PodList"
    ),
    "trailing-comma": _json_list([_json_pod(i) for i in range(1, 40)]).replace(
        "}\n    ],", "},\n    ],"
    ),
    "broken-item": _json_list([_json_pod(i, ', "x": ]' if i == 20 else "") for i in range(1, 40)]),
    "wrong-type-in-an-item": _json_list(
        [_json_pod(i, ', "labels": 7' if i == 31 else "") for i in range(1, 40)]
    ),
    "items-twice": _json_list([_json_pod(i) for i in range(1, 40)]).replace(
        '"kind": "List"', '"items": [], "kind": "List"'
    ),
}


@pytest.mark.parametrize("name", sorted(JSON_TRAPS))
def test_a_json_list_loads_the_same(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[int]
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(JSON_TRAPS[name])
    one, split = _both([path, ROOT / "examples" / "cluster"], monkeypatch)
    assert _everything(split) == _everything(one)
    assert one.pods or one.problems


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_a_trap_loads_the_same(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[int]
) -> None:
    text = TRAPS[name]
    if name == "crlf-and-bom":
        text = text.replace("\n", "\r\n")
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text.encode())
    one, split = _both([path, ROOT / "examples" / "cluster"], monkeypatch)
    assert _everything(split) == _everything(one)
    assert one.pods or one.problems


def test_the_children_share_the_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "cpus", lambda: 2)
    here = os.getpid()

    def unit(k: int) -> tuple[int, int]:
        # Slow enough that the child, started at once, takes some of them.
        sum(range(200_000))
        return k, os.getpid()

    out = forked.run_shared([lambda k=k: unit(k) for k in range(40)])
    assert [k for k, _ in out] == list(range(40))
    assert {pid for _, pid in out} - {here}, "no unit was run by a child"
    assert out[0][1] == here  # the first (costliest) unit stays here


def test_a_child_that_fails_costs_only_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "cpus", lambda: 2)
    here = os.getpid()

    def unit(k: int) -> int:
        sum(range(100_000))
        if os.getpid() != here:
            os._exit(9)  # the child dies mid-way, sending nothing
        return k * k

    assert forked.run_shared([lambda k=k: unit(k) for k in range(20)]) == [k * k for k in range(20)]

    def unpicklable(k: int) -> Any:
        sum(range(100_000))
        return (lambda: k) if os.getpid() != here else k

    out = forked.run_shared([lambda k=k: unpicklable(k) for k in range(20)])
    assert out == list(range(20))


def test_no_fork_beside_other_threads_or_when_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(forked.JOBS_ENV, "1")
    assert forked.cpus() == 1
    monkeypatch.delenv(forked.JOBS_ENV)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert forked.cpus() == 1
    finally:
        stop.set()
        thread.join()


def test_fast_constructors_build_what_the_dataclass_builds() -> None:
    """model.fast_constructor (compact decoding, the loading children's transfer)
    makes objects equal to, hashing like and as frozen as the dataclass's own."""
    import dataclasses

    from netpol_doctor import model
    from netpol_doctor.findings import Finding, Severity

    snap = load_snapshot([ROOT / "examples" / "cluster"])
    objects: list[Any] = [*snap.pods, *snap.policies, *snap.services.values(), *snap.problems]
    objects += [p.ref for p in snap.pods]
    objects.append(Finding("input-invalid", Severity.WARNING, "m", (snap.pods[0].ref,), "f"))
    for obj in objects:
        cls = type(obj)
        values = [getattr(obj, f.name) for f in dataclasses.fields(cls)]
        made = model.fast_constructor(cls)(*values)
        assert made == cls(*values) == obj and hash(made) == hash(obj)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.__setattr__(dataclasses.fields(cls)[0].name, None)


def test_a_list_followed_by_another_sequence_loads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[int]
) -> None:
    """`items` is not the last block sequence at its indent: the pieces' end is found
    from the last dash, so they hold the other key's entries, miscount, and the
    List is read whole."""
    text = (
        "apiVersion: v1\nitems:\n"
        + "".join(_POD.format(i=i) for i in range(1, 30))
        + "extra:\n- a\n- b\nkind: List\n"
    )
    path = tmp_path / "two-sequences.yaml"
    path.write_text(text)
    one, split = _both([path], monkeypatch)
    assert _everything(split) == _everything(one)
    assert len(one.pods) == 29
