"""Hostile input (issue #14): a YAML alias bomb is small as loaded and huge once printed.
Every place a value is turned into text must refuse a list or mapping first."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from netpol_doctor.snapshot import load_snapshot

#: 9 ** 9 (387 million) strings once expanded; a few kilobytes as PyYAML loads it
#: (aliases are shared references).
_BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
)


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


_POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: shop\n"

# (what, manifest with {bomb} where the bomb goes as a mapping value, field named)
PLACES = [
    (
        "pod label value",
        _POD + "  labels:\n    app: web\n    boom:\n{bomb}\nspec: {{containers: [{{name: c}}]}}\n",
        "metadata.labels",
    ),
    (
        "pod annotation value",
        _POD + "  annotations:\n    boom:\n{bomb}\n",
        None,
    ),
    (
        "namespace label value",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    boom:\n{bomb}\n",
        "metadata.labels",
    ),
    (
        "service selector value",
        "apiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: shop}}\n"
        "spec:\n  selector:\n    boom:\n"
        "{bomb}\n  ports: [{{port: 80}}]\n",
        "spec.selector",
    ),
    (
        "deployment template label value",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: shop}}\nspec:\n"
        "  template:\n    metadata:\n      labels:\n        boom:\n{bomb}\n",
        "spec.template.metadata.labels",
    ),
    (
        "owner reference kind",
        _POD + "  ownerReferences:\n  - name: o\n    controller: true\n    kind:\n{bomb}\n",
        None,
    ),
    (
        "container port protocol",
        _POD + "spec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 80\n"
        "      protocol:\n{bomb}\n",
        "spec.containers[0].ports[0]",
    ),
    (
        "container args",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: shop}}\nspec:\n"
        "  template:\n    spec:\n      containers:\n      - name: c\n        args:\n        - x:\n"
        "{bomb}\n",
        None,
    ),
]


@pytest.mark.parametrize(("what", "manifest", "field"), PLACES, ids=[p[0] for p in PLACES])
def test_alias_bomb_is_refused_before_it_is_printed(
    what: str, manifest: str, field: str | None, tmp_path: Path
) -> None:
    f = tmp_path / "bomb.yaml"
    # Deeper than any key above it: a block mapping value may be indented any amount.
    f.write_text(manifest.format(bomb=_indent(_BOMB, 16)))
    tracemalloc.start()
    started = time.perf_counter()
    snap = load_snapshot([f])
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0, what
    assert peak < 50 * 2**20, (what, peak)
    # Refused by the loader's alias cap (the whole document), or, for a bomb under the
    # cap, at the field before any str(): never expanded into text.
    capped = [p for p in snap.problems if "aliases expand" in p.message]
    if field is not None and not capped:
        problems = [p for p in snap.problems if p.field == field]
        assert problems and "a mapping" in problems[0].message, snap.problems


def test_a_mapping_as_a_label_value_is_refused_at_its_field(tmp_path: Path) -> None:
    """Below the loader's alias cap, the field check is what keeps str() away."""
    f = tmp_path / "pod.yaml"
    f.write_text(_POD + "  labels:\n    app: web\n    boom: {a: [1, 2], b: {c: d}}\n")
    snap = load_snapshot([f])
    problems = [p for p in snap.problems if p.field == "metadata.labels"]
    assert problems and "a mapping" in problems[0].message, snap.problems
    assert dict(snap.pods[0].labels) == {"app": "web"}
