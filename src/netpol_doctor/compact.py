"""The compact snapshot format (`snapshot pack`): a parsed Snapshot stored as typed
JSON, so a large cluster loads without re-reading and re-validating its manifests.

Loading a compact file must be safe whoever made it: snapshots travel between
colleagues and get attached to tickets. So the body is plain JSON (orjson), and
the decoder builds only the model classes listed here, checking every value
against the field's declared type and the invariants the engine relies on.
Nothing in the file can choose a class or a function. A file from another
version, a truncated or edited one, or one that merely starts with the header
gets one sentence (`CompactFormatError`), never a traceback.

Layout: the magic line with the format number, one JSON header line (schema
fingerprint, body length, BLAKE2b of the body), then the body: a JSON object
with one list per Snapshot field. A model object is written as the list of its
fields in declaration order. Every tuple or object nested inside another is
written once in a table for its type and referred to by its index there: pods
of one workload share their labels, ports and selectors, so a large cluster
stores and decodes each distinct value once. The schema fingerprint changes
whenever a model class changes, so a file never decodes into the wrong shape.

Imports `model`, `findings`, `errors`, `parse` (for Event, ExtendedObject).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import operator
import threading
import types
import typing
from collections import Counter
from collections.abc import Callable, Mapping
from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from pathlib import Path
from typing import Any

import orjson

from .errors import NetpolDoctorError
from .findings import Finding, Fix
from .model import (
    ContainerPort,
    Endpoints,
    IPBlock,
    Namespace,
    NetworkPolicy,
    Node,
    ObjectRef,
    Operator,
    Peer,
    Pod,
    PolicyPort,
    Requirement,
    Rule,
    Service,
    ServicePort,
    Workload,
    fast_constructor,
    model_leaf_types,
)
from .parse import Event, ExtendedObject

if typing.TYPE_CHECKING:
    from .snapshot import Snapshot

__all__ = [
    "COMPACT_MAGIC",
    "FORMAT_VERSION",
    "CompactFormatError",
    "decode_snapshot",
    "encode_snapshot",
    "is_compact",
    "load_compact",
    "save_compact",
]

COMPACT_MAGIC = b"NETPOL-DOCTOR-SNAPSHOT "
FORMAT_VERSION = 3
#: Format 1 was a pickle; it is recognised only to say why it is refused.
_PICKLE_FORMAT = 1
#: A header line longer than this is not ours (and must not be read whole).
_MAX_HEADER = 4096


class CompactFormatError(NetpolDoctorError):
    """The file is not a compact snapshot this version can load; the message says why."""


# --- the schema ------------------------------------------------------------------

#: Every class a compact file may contain. Nothing else is ever built from one.
_MODEL_CLASSES: frozenset[type] = frozenset(
    {
        Pod,
        Namespace,
        NetworkPolicy,
        Node,
        Service,
        Endpoints,
        Workload,
        ObjectRef,
        Event,
        ExtendedObject,
        Finding,
        Fix,
        *model_leaf_types(),
    }
)

#: The element type of every list in the body, in the order they are decoded.
_ELEMENTS: dict[str, Any] = {
    "namespaces": Namespace,
    "synthesized_namespaces": str,
    "pods": Pod,
    "services": Service,
    "endpoints": Endpoints,
    "policies": NetworkPolicy,
    "rejected_policies": ObjectRef,
    "nodes": Node,
    "workloads": Workload,
    "extended": ExtendedObject,
    "events": Event,
    "problems": Finding,
    "unreadable": tuple[str, str | None],
    "unreadable_why": tuple[str, str | None, str],
}

_IP_TYPES = {IPv4Address, IPv6Address}
_NET_TYPES = {IPv4Network, IPv6Network}
_SCALARS = {str: "a string", int: "an integer", bool: "a boolean"}


@functools.cache
def _hints(cls: type) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _is_compound(hint: Any) -> bool:
    """Stored in a table when nested: model objects and tuples."""
    if isinstance(hint, type):
        return hint in _MODEL_CLASSES
    return typing.get_origin(hint) in (tuple, frozenset)


def _parts(hint: Any) -> list[Any]:
    """The types a value of `hint` is made of, one level down."""
    if isinstance(hint, type) and hint in _MODEL_CLASSES:
        return [h for _, h in _hints(hint)]
    return list(typing.get_args(hint))


def _table_types() -> list[Any]:
    """Every compound type that occurs nested, inner types first (post-order), so a
    table's entries only refer to tables decoded before it."""
    order: list[Any] = []

    def visit(hint: Any, nested: bool) -> None:
        if nested and _is_compound(hint):
            if hint in order:
                return
            for part in _parts(hint):
                visit(part, True)
            order.append(hint)
            return
        for part in _parts(hint):
            visit(part, True)

    for hint in _ELEMENTS.values():
        visit(hint, False)
    return order


_TABLES = _table_types()
_TABLE_INDEX = {hint: i for i, hint in enumerate(_TABLES)}


def _schema_fingerprint() -> str:
    """Changes whenever a stored class, enum or table layout changes."""
    parts = [f"format:{FORMAT_VERSION}"]  # names of cached files change with the layout
    parts += [f"{key}:{hint!r}" for key, hint in _ELEMENTS.items()]
    parts += [f"table:{hint!r}" for hint in _TABLES]
    for cls in sorted(_MODEL_CLASSES, key=lambda c: c.__qualname__):
        parts.append(f"{cls.__qualname__}({','.join(f'{n}:{h!r}' for n, h in _hints(cls))})")
        for _, hint in _hints(cls):
            for t in [hint, *typing.get_args(hint)]:
                if isinstance(t, type) and issubclass(t, Enum):
                    parts.append(f"{t.__qualname__}[{','.join(str(m.value) for m in t)}]")
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()


# --- encoding --------------------------------------------------------------------


class _Encoder:
    """Writes values by their declared types, with one function per type built once
    (introspecting type hints per value made packing 20,000 pods take a minute)."""

    def __init__(self) -> None:
        self.tables: list[list[Any]] = [[] for _ in _TABLES]
        # Keyed by the encoded form, not the value: ObjectRefs that differ only in
        # file or line compare equal, and must stay distinct.
        self.seen: list[dict[bytes, int]] = [{} for _ in _TABLES]
        self.values: dict[Any, Callable[[Any], Any]] = {}
        self.bodies: dict[Any, Callable[[Any], Any]] = {}

    def top(self, value: Any, hint: Any) -> Any:
        return value if hint in _SCALARS else self.body(hint)(value)

    def value(self, hint: Any) -> Callable[[Any], Any]:
        """How a field of type `hint` is written (a table index for nested compounds)."""
        fn = self.values.get(hint)
        if fn is None:
            fn = self.values[hint] = self._value(hint)
        return fn

    def _value(self, hint: Any) -> Callable[[Any], Any]:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (types.UnionType, typing.Union):
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                inner = self.value(rest[0])
                return lambda v: None if v is None else inner(v)
            if set(rest) == _IP_TYPES:
                # An IPv4 address as its number: 4x faster to rebuild than to parse.
                return lambda v: None if v is None else int(v) if v.version == 4 else str(v)
            if set(rest) == _NET_TYPES:
                return lambda v: None if v is None else str(v)
            return _same
        if _is_compound(hint):
            body, table, seen = self.body(hint), self.tables[_TABLE_INDEX[hint]], None
            seen = self.seen[_TABLE_INDEX[hint]]

            def intern(v: Any) -> int:
                encoded = body(v)
                key = orjson.dumps(encoded)
                index = seen.get(key)
                if index is None:
                    index = seen[key] = len(table)
                    table.append(encoded)
                return index

            return intern
        if isinstance(hint, type) and issubclass(hint, Enum):
            return lambda v: v.value
        if origin is Mapping:
            return _plain
        return _same

    def body(self, hint: Any) -> Callable[[Any], Any]:
        """How a value of type `hint` is written in full (a table entry, a top item)."""
        fn = self.bodies.get(hint)
        if fn is None:
            fn = self.bodies[hint] = self._body(hint)
        return fn

    def _body(self, hint: Any) -> Callable[[Any], Any]:
        if isinstance(hint, type) and hint in _MODEL_CLASSES:
            fields = [(operator.attrgetter(n), self.value(h)) for n, h in _hints(hint)]
            return lambda v: [enc(get(v)) for get, enc in fields]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is tuple and args[1:] != (Ellipsis,):
            parts = [self.value(a) for a in args]
            return lambda v: [enc(x) for enc, x in zip(parts, v, strict=True)]
        item = self.value(args[0])
        if origin is frozenset:
            return lambda v: sorted((item(x) for x in v), key=repr)
        return lambda v: [item(x) for x in v]


def _same(value: Any) -> Any:
    return value


def _plain(value: Any) -> Any:
    """A raw manifest (extended kinds) as JSON data."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return value
    if isinstance(value, int):
        # JSON numbers here are 64-bit; validation rejects larger ones either way.
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    # YAML timestamps and binaries: what a manifest can hold beyond JSON.
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _as_columns(rows: list[Any], hint: Any) -> list[Any]:
    """A list of model objects is written as one list per field (`_Generator.columns`
    reads it back); other lists as they are."""
    if hint not in _MODEL_CLASSES:
        return rows
    return (
        [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * len(_hints(hint))
    )


def encode_snapshot(snapshot: Snapshot) -> bytes:
    enc = _Encoder()
    lists: dict[str, list[Any]] = {
        "namespaces": [n for n in snapshot.namespaces.values() if not n.synthesized],
        # Synthesised namespaces carry `synthesized=True` (their labels are unknown):
        # kept by name so the loaded snapshot answers exactly as the packed one.
        "synthesized_namespaces": sorted(
            n.name for n in snapshot.namespaces.values() if n.synthesized
        ),
        "pods": snapshot.pods,
        "services": list(snapshot.services.values()),
        "endpoints": snapshot.endpoints,
        "policies": snapshot.policies,
        "rejected_policies": snapshot.rejected_policies,
        "nodes": list(snapshot.nodes.values()),
        "workloads": snapshot.workloads,
        "extended": snapshot.extended,
        "events": snapshot.events,
        "problems": snapshot.problems,
        "unreadable": sorted(snapshot.unreadable, key=repr),
        "unreadable_why": sorted(
            ((r, ns, why) for (r, ns), why in snapshot.unreadable_why.items()), key=repr
        ),
    }
    body: dict[str, Any] = {
        key: _as_columns([enc.top(v, _ELEMENTS[key]) for v in values], _ELEMENTS[key])
        for key, values in lists.items()
    }
    body["kinds"] = dict(snapshot.kinds)
    body["unknown_kinds"] = dict(snapshot.unknown_kinds)
    body["tables"] = [_as_columns(t, hint) for t, hint in zip(enc.tables, _TABLES, strict=True)]
    payload = orjson.dumps(body)
    header = {
        "schema": SCHEMA,
        "length": len(payload),
        "blake2b": hashlib.blake2b(payload, digest_size=32).hexdigest(),
    }
    return COMPACT_MAGIC + f"{FORMAT_VERSION}\n".encode() + orjson.dumps(header) + b"\n" + payload


def save_compact(snapshot: Snapshot, path: str | Path) -> None:
    data = encode_snapshot(snapshot)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        if target.exists() and not target.is_file():
            # /dev/stdout, a pipe: write through it, never replace it.
            target.write_bytes(data)
            return
        # Write beside the target and rename: an interrupted pack never leaves a file
        # that looks like a snapshot but is cut short.
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as exc:
        raise NetpolDoctorError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


# --- decoding --------------------------------------------------------------------
#
# Each type gets a decoder generated from its type hints: straight-line code that
# checks every value's exact type and converts enums, addresses and tuples. The
# source is made from our own class definitions at import time, never from a file;
# a file only supplies values to check. (A closure per field was 3x slower; msgspec
# cannot decode the model's IPv4Address | IPv6Address unions.)


Decode = Callable[[Any], Any]


class _Bad(Exception):
    """A value does not fit; the message names the field by its path in the model."""


class _BadAt(_Bad):
    """A value does not fit, in the object at `index` of a list written as columns."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def _at(index: int, message: str) -> _BadAt:
    return _BadAt(index, message)


def _columns(v: Any, n: int, cls: str) -> None:
    """`v` is `n` lists of one length (the columns of a list of `cls` objects)."""
    if type(v) is not list or len(v) != n or any(type(c) is not list for c in v):
        raise _Bad(f"{cls}: expected {n} columns, one per field")
    if len({len(c) for c in v}) > 1:
        raise _Bad(f"{cls}: the columns differ in length")


def _types(c: list[Any], allowed: frozenset[type], where: str, words: str) -> None:
    if not set(map(type, c)) <= allowed:
        i = next(i for i, x in enumerate(c) if type(x) not in allowed)
        raise _BadAt(i, f"{where}: expected {words}")


def _index(c: list[Any], table: list[Any], where: str, optional: bool) -> list[Any]:
    """Table indexes -> the table's values (None stays None where allowed)."""
    allowed = {int, type(None)} if optional else {int}
    if not set(map(type, c)) <= allowed:
        i = next(i for i, x in enumerate(c) if type(x) not in allowed)
        raise _BadAt(i, f"{where}: expected a table index")
    present = [x for x in c if x is not None] if optional else c
    if present and min(present) < 0:
        raise _BadAt(c.index(min(present)), f"{where}: expected a table index")
    if present and max(present) >= len(table):
        raise _BadAt(c.index(max(present)), f"{where}: no such table entry")
    if optional:
        return [None if x is None else table[x] for x in c]
    return list(map(table.__getitem__, c))


def _each(c: list[Any], convert: Callable[[Any], Any], where: str, optional: bool) -> list[Any]:
    """Each value converted (an address, a network, an enum member)."""
    try:
        if optional:
            return [None if x is None else convert(x) for x in c]
        return list(map(convert, c))
    except _Bad:
        pass
    for i, x in enumerate(c):  # only on failure: find which one, for the message
        if x is None and optional:
            continue
        try:
            convert(x)
        except _Bad as bad:
            raise _BadAt(i, f"{where}: {bad}") from None
    raise AssertionError("unreachable")  # pragma: no cover


_new_object = object.__new__
_set_ipv4 = IPv4Address._ip.__set__  # type: ignore[attr-defined]


def _ipv4(number: int) -> IPv4Address:
    """IPv4Address(number) without its __init__'s generic checks: two of them per pod
    were a tenth of loading 100,000 pods. The same range check, the same ValueError."""
    if not 0 <= number <= 0xFFFFFFFF:
        raise ValueError(f"{number} does not fit in 32 bits")
    address: IPv4Address = _new_object(IPv4Address)
    _set_ipv4(address, number)
    return address


def _ip(x: Any) -> IPv4Address | IPv6Address:
    """An IPv4 address as its number, IPv6 as text (`_Encoder._value`)."""
    try:
        if type(x) is int:
            return _ipv4(x)
        if type(x) is str:
            return IPv6Address(x)
    except ValueError:
        pass
    raise _Bad("expected an IP address")


def _cidr(x: Any) -> IPv4Network | IPv6Network:
    if type(x) is str:
        try:
            return ip_network(x)
        except ValueError:
            pass
    raise _Bad("expected a CIDR")


def _member(members: dict[str, Any], words: str) -> Callable[[Any], Any]:
    def pick(x: Any) -> Any:
        if type(x) is str and x in members:
            return members[x]
        raise _Bad(f"expected {words}")

    return pick


class _Generator:
    """Writes one decoder function per table type and per top-level element type."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {
            "_Bad": _Bad,
            "_ip4": _ipv4,
            "_ip6": IPv6Address,
            "_net": ip_network,
            "_T": [],  # the tables of the file being decoded, set by decode_snapshot
            "_columns": _columns,
            "_types": _types,
            "_index": _index,
            "_each": _each,
            "_at": _at,
        }
        self.sources: list[str] = []
        self.counter = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def bind(self, value: Any, stem: str) -> str:
        name = self.fresh(f"_{stem}_")
        self.names[name] = value
        return name

    def function(self, hint: Any, where: str) -> str:
        """A function decoding the full body of one value of `hint`."""
        name = self.fresh("_dec")
        if isinstance(hint, type) and hint in _MODEL_CLASSES:
            lines = self._model(hint)
        else:
            args = typing.get_args(hint)
            build = "frozenset" if typing.get_origin(hint) is frozenset else "tuple"
            if args[1:] not in ((Ellipsis,), ()):
                lines = self.fixed("v", args, where)
            elif args[0] in _SCALARS:
                lines = [f"if type(v) is not list: raise _Bad({where!r} + ': expected a list')"]
                lines += ["for e in v:", *_indent(self.check("e", args[0], f"{where}[]"))]
                lines.append(f"v = {build}(v)")
            else:
                lines = [f"if type(v) is not list: raise _Bad({where!r} + ': expected a list')"]
                e_lines = self.check("e", args[0], f"{where}[]")
                lines += ["out = []", "for e in v:", *_indent(e_lines), "    out.append(e)"]
                lines.append(f"v = {build}(out)")
            lines.append("return v")
        self.sources.append(
            "\n".join(
                [
                    f"def {name}(v):",
                    "    try:",
                    *_indent(lines, 8),
                    "    except IndexError:",
                    f"        raise _Bad({where!r} + ': no such table entry') from None",
                ]
            )
        )
        return name

    def _model(self, cls: type) -> list[str]:
        fields = _hints(cls)
        n = len(fields)
        lines = [
            f"if type(v) is not list or len(v) != {n}:",
            f"    raise _Bad('{cls.__name__}: expected a list of its {n} fields')",
            f"{', '.join(f'f_{f}' for f, _ in fields)}{',' if n == 1 else ''} = v",
        ]
        for fname, hint in fields:
            lines += self.check(f"f_{fname}", hint, f"{cls.__name__}.{fname}")
        ctor = self.bind(fast_constructor(cls), cls.__name__)
        lines.append(f"obj = {ctor}({', '.join(f'f_{f}' for f, _ in fields)})")
        if cls in _INVARIANTS:
            check = self.bind(_INVARIANTS[cls], f"inv_{cls.__name__}")
            lines += [
                f"problem = {check}(obj)",
                f"if problem: raise _Bad('{cls.__name__}: ' + problem)",
            ]
        return [*lines, "return obj"]

    def columns(self, cls: type) -> str:
        """A function decoding a list of `cls` objects written as one list per field
        (`_as_columns`): each field is checked for all objects at once, by C loops
        (`set(map(type, ...))`, `min`, `map`), and the objects built by one `map` of
        the constructor: several times faster than row by row at 100,000 pods."""
        name = self.fresh("_cols")
        fields = _hints(cls)
        names = [f"c_{f}" for f, _ in fields]
        lines = [
            f"_columns(v, {len(fields)}, {cls.__name__!r})",
            f"{', '.join(names)}{',' if len(names) == 1 else ''} = v",
        ]
        for (fname, hint), c in zip(fields, names, strict=True):
            lines += self.column(c, hint, f"{cls.__name__}.{fname}")
        ctor = self.bind(fast_constructor(cls), cls.__name__)
        lines.append(f"objs = list(map({ctor}, {', '.join(names)}))")
        if cls in _INVARIANTS:
            check = self.bind(_INVARIANTS[cls], f"inv_{cls.__name__}")
            lines += [
                "for i, obj in enumerate(objs):",
                f"    problem = {check}(obj)",
                f"    if problem: raise _at(i, '{cls.__name__}: ' + problem)",
            ]
        self.sources.append("\n".join([f"def {name}(v):", *_indent([*lines, "return objs"])]))
        return name

    def column(self, c: str, hint: Any, where: str) -> list[str]:
        """Statements that check the column `c` against `hint` and rebind it to the
        model values (the column counterpart of `check`)."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        optional = type(None) in args
        rest = tuple(a for a in args if a is not type(None)) if optional else (hint,)
        if origin in (types.UnionType, typing.Union) and not optional:
            rest = args
        kinds = set(rest)
        if origin is Mapping and args == (str, Any):
            # Raw manifests of extended kinds: JSON already built only plain data.
            return [
                f"_types({c}, {self.bind(frozenset({dict}), 'allowed')}, {where!r}, 'a mapping')"
            ]
        if kinds <= set(_SCALARS):
            allowed = frozenset(rest) | ({type(None)} if optional else set())
            words = " or ".join(_SCALARS[k] for k in rest)
            return [f"_types({c}, {self.bind(allowed, 'allowed')}, {where!r}, {words!r})"]
        if kinds == _IP_TYPES:
            return [f"{c} = _each({c}, {self.bind(_ip, 'ip')}, {where!r}, {optional})"]
        if kinds == _NET_TYPES:
            return [f"{c} = _each({c}, {self.bind(_cidr, 'cidr')}, {where!r}, {optional})"]
        if len(rest) == 1 and isinstance(rest[0], type) and issubclass(rest[0], Enum):
            members = {m.value: m for m in rest[0]}
            allowed_words = ", ".join(str(m.value) for m in rest[0])
            pick = self.bind(_member(members, f"one of {allowed_words}"), "member")
            return [f"{c} = _each({c}, {pick}, {where!r}, {optional})"]
        if len(rest) == 1 and _is_compound(rest[0]):
            table = _TABLE_INDEX[rest[0]]
            return [f"{c} = _index({c}, _T[{table}], {where!r}, {optional})"]
        raise TypeError(f"compact format: cannot decode a column of {hint!r}")  # pragma: no cover

    def check(self, x: str, hint: Any, where: str) -> list[str]:
        """Statements that check `x` against `hint` and rebind it to the model value."""
        fail = f"raise _Bad({where!r} + ': expected "
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint in _SCALARS:
            return [f"if type({x}) is not {hint.__name__}: {fail}{_SCALARS[hint]}')"]
        if isinstance(hint, type) and issubclass(hint, Enum):
            members = self.bind({m.value: m for m in hint}, hint.__name__)
            allowed = ", ".join(str(m.value) for m in hint)
            return [
                f"if type({x}) is not str or {x} not in {members}: {fail}one of {allowed}')",
                f"{x} = {members}[{x}]",
            ]
        if _is_compound(hint):
            table = _TABLE_INDEX[hint]
            return [
                f"if type({x}) is not int or {x} < 0: {fail}a table index')",
                f"{x} = _T[{table}][{x}]",
            ]
        if origin in (types.UnionType, typing.Union):
            rest = tuple(a for a in args if a is not type(None))
            if set(rest) == _IP_TYPES:  # IPv4 as its number, IPv6 as text
                inner = [
                    "try:",
                    f"    if type({x}) is int: {x} = _ip4({x})",
                    f"    elif type({x}) is str: {x} = _ip6({x})",
                    f"    else: {fail}an IP address')",
                    "except ValueError:",
                    f"    {fail}an IP address') from None",
                ]
            elif set(rest) == _NET_TYPES:
                inner = [
                    f"if type({x}) is not str: {fail}a CIDR')",
                    "try:",
                    f"    {x} = _net({x})",
                    "except ValueError:",
                    f"    {fail}a CIDR') from None",
                ]
            elif all(r in _SCALARS for r in rest):
                test = " and ".join(f"type({x}) is not {r.__name__}" for r in rest)
                words = " or ".join(_SCALARS[r] for r in rest)
                inner = [f"if {test}: {fail}{words}')"]
            elif len(rest) == 1:
                inner = self.check(x, rest[0], where)
            else:  # pragma: no cover - a model change the generator must learn
                raise TypeError(f"compact format: cannot decode {hint!r}")
            if len(rest) == len(args):
                return inner
            return [f"if {x} is not None:", *_indent(inner)]
        if origin is Mapping and args == (str, Any):
            # Raw manifests of extended kinds: JSON already built only plain data.
            return [f"if type({x}) is not dict: {fail}a mapping')"]
        raise TypeError(f"compact format: cannot decode {hint!r}")  # pragma: no cover

    def fixed(self, x: str, args: tuple[Any, ...], where: str) -> list[str]:
        """A fixed-length tuple, e.g. a (key, value) label pair."""
        parts = [self.fresh(f"{x}_") for _ in args]
        lines = [
            f"if type({x}) is not list or len({x}) != {len(args)}: "
            f"raise _Bad({where!r} + ': expected a list of {len(args)} values')",
            f"{', '.join(parts)} = {x}",
        ]
        for i, (part, a) in enumerate(zip(parts, args, strict=True)):
            lines += self.check(part, a, f"{where}[{i}]")
        return [*lines, f"{x} = ({', '.join(parts)},)"]

    def compile(self) -> dict[str, Any]:
        namespace = dict(self.names)
        exec(compile("\n\n".join(self.sources), "<compact decoders>", "exec"), namespace)
        return namespace


def _indent(lines: list[str], by: int = 4) -> list[str]:
    return [" " * by + ln for ln in lines]


# What the parser guarantees and the engine relies on; a crafted file must not break it.
def _requirement_problem(r: Any) -> str | None:
    if r.operator in (Operator.IN, Operator.NOT_IN) and not r.values:
        return f"{r.operator.value} needs values"
    if r.operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and r.values:
        return f"{r.operator.value} takes no values"
    if r.from_match_labels and (r.operator is not Operator.IN or len(r.values) != 1):
        return "a matchLabels entry has exactly one value"
    return None


def _port_number_problem(port: Any) -> str | None:
    if isinstance(port, int) and not 0 < port < 65536:
        return f"port {port} is outside 1-65535"
    if isinstance(port, str) and not 0 < len(port) <= 63:
        return "port name must be 1-63 characters"
    return None


def _policy_port_problem(p: Any) -> str | None:
    problem = _port_number_problem(p.port)
    if problem or p.end_port is None:
        return problem
    if not isinstance(p.port, int) or not p.port <= p.end_port < 65536:
        return "endPort needs a numeric port and must be between it and 65535"
    return None


def _ip_block_problem(b: Any) -> str | None:
    for e in b.excepts:
        if e.version != b.cidr.version or not e.subnet_of(b.cidr):
            return f"except {e} is not inside {b.cidr}"
    return None


def _peer_problem(p: Any) -> str | None:
    if p.ip_block is not None and (p.pod_selector or p.namespace_selector):
        return "an ipBlock peer takes no selector"
    if p.ip_block is None and p.pod_selector is None and p.namespace_selector is None:
        return "a peer needs a selector or an ipBlock"
    return None


def _rule_problem(r: Any) -> str | None:
    return None if r.peers is None or r.peers else "an empty peer list must be null"


def _policy_problem(p: Any) -> str | None:
    bad = [r for r in p.ingress if r.direction.value != "Ingress"]
    bad += [r for r in p.egress if r.direction.value != "Egress"]
    return "a rule sits under the other direction" if bad else None


_INVARIANTS: dict[type, Callable[[Any], str | None]] = {
    Requirement: _requirement_problem,
    PolicyPort: _policy_port_problem,
    ContainerPort: lambda p: _port_number_problem(p.port),
    ServicePort: lambda p: _port_number_problem(p.port),
    IPBlock: _ip_block_problem,
    Peer: _peer_problem,
    Rule: _rule_problem,
    NetworkPolicy: _policy_problem,
}


# --- the file --------------------------------------------------------------------
# --- the file --------------------------------------------------------------------


def is_compact(path: str | Path) -> bool:
    """Does the file start like a compact snapshot (of any format version)?"""
    p = Path(path)
    try:
        if not p.is_file():  # a FIFO or a device is never opened here
            return False
        with p.open("rb") as f:
            return f.read(len(COMPACT_MAGIC)) == COMPACT_MAGIC
    except OSError:
        return False  # the reader reports what cannot be read


def load_compact(path: str | Path) -> Snapshot:
    """Load a compact snapshot; CompactFormatError (one sentence) when it cannot be."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.readline(len(COMPACT_MAGIC) + 16)
            header_line = f.readline(_MAX_HEADER)
            header = _header(p, head, header_line)
            length = header["length"]
            payload = f.read(length + 1)
    except OSError as exc:
        raise CompactFormatError(f"cannot read {p}: {exc.strerror or exc}") from None
    if len(payload) != length:
        raise CompactFormatError(
            f"{p} is cut short or has extra bytes ({len(payload)} of {length} body bytes): "
            "it was not copied whole; make it again with `netpol-doctor snapshot pack`"
        )
    if hashlib.blake2b(payload, digest_size=32).hexdigest() != header["blake2b"]:
        raise CompactFormatError(
            f"{p} was changed after it was packed (its checksum does not match); make it "
            "again with `netpol-doctor snapshot pack`"
        )
    return decode_snapshot(payload, str(p))


def _header(p: Path, head: bytes, line: bytes) -> dict[str, Any]:
    if not head.startswith(COMPACT_MAGIC):
        raise CompactFormatError(f"{p} is not a compact netpol-doctor snapshot")
    version = head[len(COMPACT_MAGIC) :].strip()
    if version == str(_PICKLE_FORMAT).encode():
        raise CompactFormatError(
            f"{p} is a compact snapshot in format 1, which is no longer read because "
            "loading it could run code; make it again with `netpol-doctor snapshot pack`"
        )
    if version != str(FORMAT_VERSION).encode():
        shown = version[:20].decode("ascii", "replace")
        raise CompactFormatError(
            f"{p} is a compact snapshot in format {shown!r}, made by another version of "
            f"netpol-doctor (this one reads format {FORMAT_VERSION}); make it again with "
            "`netpol-doctor snapshot pack`"
        )
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        header = None
    if (
        not isinstance(header, dict)
        or type(header.get("length")) is not int
        or header["length"] < 0
        or not isinstance(header.get("blake2b"), str)
    ):
        raise CompactFormatError(f"{p} has a damaged compact-snapshot header")
    if header.get("schema") != SCHEMA:
        raise CompactFormatError(
            f"{p} was packed by another version of netpol-doctor (its model differs from "
            "this one's); make it again with `netpol-doctor snapshot pack`"
        )
    return header


def decode_snapshot(payload: bytes, name: str = "<compact>") -> Snapshot:
    from .snapshot import Snapshot

    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CompactFormatError(f"{name}: the body is not valid JSON ({exc})") from None
    if type(body) is not dict:
        raise CompactFormatError(f"{name}: the body is not a snapshot")
    raw_tables = body.get("tables")
    if type(raw_tables) is not list or len(raw_tables) != len(_TABLES):
        raise CompactFormatError(f"{name}: tables: expected {len(_TABLES)} lists")
    code, table_decoders, decoders = _decoders()
    with _DECODING:  # the generated decoders read the tables through one global
        tables: list[list[Any]] = []
        code["_T"] = tables
        try:
            for i, (hint, decode) in enumerate(zip(_TABLES, table_decoders, strict=True)):
                tables.append(_decoded(raw_tables[i], hint, decode, f"tables[{i}]", name))
            got = {
                key: _decoded(body.get(key), hint, decoders[key], key, name)
                for key, hint in _ELEMENTS.items()
            }
        finally:
            code["_T"] = []
    snap = Snapshot()
    snap.namespaces = {ns.name: ns for ns in got["namespaces"]}
    for ns_name in got["synthesized_namespaces"]:
        snap.namespace(ns_name)
    snap.pods = got["pods"]
    snap.services = {s.key: s for s in got["services"]}
    snap.endpoints = got["endpoints"]
    snap.policies = got["policies"]
    snap.rejected_policies = got["rejected_policies"]
    snap.nodes = {n.ref.name: n for n in got["nodes"]}
    snap.workloads = got["workloads"]
    snap.extended = got["extended"]
    snap.events = got["events"]
    snap.problems = got["problems"]
    snap.unreadable = set(got["unreadable"])
    snap.unreadable_why = {(r, ns): why for r, ns, why in got["unreadable_why"]}
    for key in ("kinds", "unknown_kinds"):
        counts = body.get(key)
        if type(counts) is not dict or not all(type(n) is int and n >= 0 for n in counts.values()):
            raise CompactFormatError(f"{name}: {key}: expected counts by kind")
        setattr(snap, key, Counter(counts))
    return snap


def _decoded(values: Any, hint: Any, decode: Decode, where: str, name: str) -> list[Any]:
    if hint not in _MODEL_CLASSES:
        return _items(values, decode, where, name)
    try:
        result: list[Any] = decode(values)
    except _BadAt as bad:
        raise CompactFormatError(f"{name}: {where}[{bad.index}]: {bad}") from None
    except _Bad as bad:
        raise CompactFormatError(f"{name}: {where}: {bad}") from None
    return result


def _items(values: Any, decode: Decode, where: str, name: str) -> list[Any]:
    if type(values) is not list:
        raise CompactFormatError(f"{name}: {where}: expected a list")
    try:
        return [decode(v) for v in values]
    except _Bad:
        pass
    for i, v in enumerate(values):  # only on failure: find which one, for the message
        try:
            decode(v)
        except _Bad as bad:
            raise CompactFormatError(f"{name}: {where}[{i}]: {bad}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _generate() -> tuple[
    dict[str, Any], list[Callable[[Any], Any]], dict[str, Callable[[Any], Any]]
]:
    gen = _Generator()
    table_fns = [
        gen.columns(hint) if hint in _MODEL_CLASSES else gen.function(hint, f"table {i}")
        for i, hint in enumerate(_TABLES)
    ]
    element_fns = {
        k: gen.columns(h) if h in _MODEL_CLASSES else gen.function(h, k)
        for k, h in _ELEMENTS.items()
        if h not in _SCALARS
    }
    code = gen.compile()
    elements = {k: code[f] for k, f in element_fns.items()}
    elements.update({k: _scalar(h, k) for k, h in _ELEMENTS.items() if h in _SCALARS})
    return code, [code[f] for f in table_fns], elements


def _scalar(t: type, where: str) -> Decode:
    def check(v: Any) -> Any:
        if type(v) is not t:
            raise _Bad(f"{where}: expected {_SCALARS[t]}")
        return v

    return check


#: generated on the first load, not at import (40 ms a run that reads YAML or JSON need
#: not pay)
_decoders = functools.cache(_generate)
_DECODING = threading.Lock()
SCHEMA = _schema_fingerprint()
