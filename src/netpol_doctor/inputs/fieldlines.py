"""The line of a field inside an object read from a file, for reports that point at it.

`FieldLines.line(file, object_line, field)` re-reads `file` (once per file), finds the
object whose mapping starts at `object_line` (a document, or an item of a kubectl
`List` dump) and walks `field` (`spec.ingress[0].from[1].podSelector`) down its
nodes. A field that is absent resolves to its deepest present parent (a missing
`spec.policyTypes` points at `spec`); anything unreadable resolves to None and the
caller keeps the object's own line.

PyYAML's `compose` builds nodes with marks and never constructs Python objects, so an
alias bomb costs nothing and no tag can run code; JSON is YAML here, as everywhere in
the loader.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["FieldLines", "field_steps"]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def field_steps(field: str) -> list[str | int]:
    """`spec.ingress[0].ports` -> ["spec", "ingress", 0, "ports"]."""
    return [int(m[2]) if m[2] is not None else m[1] for m in _STEP.finditer(field)]


def _objects(root: Node) -> list[MappingNode]:
    """The document's mapping and, for a `List`, its items' mappings."""
    if not isinstance(root, MappingNode):
        return []
    out = [root]
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "items" and isinstance(value, SequenceNode):
            out.extend(n for n in value.value if isinstance(n, MappingNode))
    return out


def _walk(node: MappingNode, steps: list[str | int]) -> int | None:
    """1-based line of the deepest node along `steps` (the key's line for a mapping
    entry, the entry's line for a sequence index); None when not even the first exists."""
    line: int | None = None
    current: Node = node
    for step in steps:
        nxt: Node | None = None
        if isinstance(step, str) and isinstance(current, MappingNode):
            for key, value in current.value:
                if isinstance(key, ScalarNode) and key.value == step:
                    line, nxt = key.start_mark.line + 1, value
        elif (
            isinstance(step, int)
            and isinstance(current, SequenceNode)
            and step < len(current.value)
        ):
            nxt = current.value[step]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        current = nxt
    return line


class FieldLines:
    """Field lines for objects of files, each file composed at most once."""

    def __init__(self) -> None:
        self._files: dict[str, dict[int, MappingNode] | None] = {}

    def _index(self, file: str) -> dict[int, MappingNode] | None:
        if file not in self._files:
            try:
                text = Path(file).read_text(encoding="utf-8")
                roots = list(yaml.compose_all(text, Loader=_Loader))
            except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
                self._files[file] = None
            else:
                self._files[file] = {
                    obj.start_mark.line + 1: obj
                    for root in roots
                    if root is not None
                    for obj in _objects(root)
                }
        return self._files[file]

    def line(self, file: str, object_line: int | None, field: str | None) -> int | None:
        """The field's line, or None (keep the object's line) when it cannot be told."""
        if not field or object_line is None:
            return None
        index = self._index(file)
        node = index.get(object_line) if index else None
        if node is None:
            return None
        return _walk(node, field_steps(field))
