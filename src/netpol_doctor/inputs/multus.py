"""Multus pod annotations: which secondary interfaces a pod has, and their addresses.

Formats, from the Network Plumbing Working Group's client types
(k8snetworkplumbingwg/network-attachment-definition-client,
`pkg/apis/k8s.cni.cncf.io/v1/types.go`):

- `k8s.v1.cni.cncf.io/network-status` (written by Multus after the pod is wired; the
  older spelling `networks-status` is read too): a JSON list of `NetworkStatus`
  `{name, interface, ips: [string], mac, default: bool, dns, device-info}`. The entry
  with `default: true` is the cluster network (the primary interface NetworkPolicy
  applies to); the others are secondary attachments.
- `k8s.v1.cni.cncf.io/networks` (the request): either a comma-separated list of
  `[namespace/]name[@interface]`, or a JSON list of `NetworkSelectionElement`
  `{name, namespace, ips: [string], interface, mac, ...}`; requested `ips` may carry a
  prefix length (`192.168.1.10/24`).

Reading never raises: a malformed annotation becomes problems `(field, sentence)`.
Imports `model` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from ..model import IPAddress, Pod

__all__ = [
    "NETWORKS",
    "NETWORK_STATUS",
    "Attachment",
    "attachments",
    "problems",
    "read",
    "secondary_attachments",
]

NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
OLD_NETWORK_STATUS = "k8s.v1.cni.cncf.io/networks-status"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One network attached to a pod."""

    #: the NetworkAttachmentDefinition, `namespace/name` (the pod's namespace if unsaid)
    network: str
    interface: str | None
    ips: tuple[IPAddress, ...]
    #: the cluster network (primary interface), per network-status `default`
    default: bool
    #: known from the request only (no network-status for it yet)
    requested: bool = False

    @property
    def label(self) -> str:
        return self.interface or "a secondary interface"


Problem = tuple[str, str]


def _field(annotation: str) -> str:
    return f'metadata.annotations["{annotation}"]'


def _address(text: object) -> IPAddress | None:
    if not isinstance(text, str):
        return None
    try:
        return ip_address(text.split("/", 1)[0].strip())
    except ValueError:
        return None


def _json(text: str, annotation: str, out: list[Problem]) -> list[Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        why = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
        out.append((_field(annotation), f"is not valid JSON ({why}); its networks are ignored"))
        return None
    if not isinstance(value, list):
        out.append((_field(annotation), "is not a JSON list; its networks are ignored"))
        return None
    return value


def _ips(item: dict[str, Any], where: str, out: list[Problem]) -> tuple[IPAddress, ...]:
    raw = item.get("ips")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        out.append((where, "has `ips` that is not a list; ignored"))
        return ()
    ips: list[IPAddress] = []
    for i, text in enumerate(raw):
        ip = _address(text)
        if ip is None:
            shown = repr(text[:64]) if isinstance(text, str) else _kind(text)
            out.append((where, f"ips[{i}] {shown} is not an IP address; ignored"))
        elif ip not in ips:
            ips.append(ip)
    return tuple(ips)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), "a number")


def _name(item: dict[str, Any], where: str, out: list[Problem]) -> str | None:
    name = item.get("name")
    if isinstance(name, str) and name:
        return name
    out.append((where, "has no network `name` (a non-empty string); ignored"))
    return None


def _text(item: dict[str, Any], key: str, where: str, out: list[Problem]) -> str | None:
    value = item.get(key)
    if value is None or (isinstance(value, str) and value):
        return value
    out.append((where, f"has `{key}` that is not a non-empty string; ignored"))
    return None


def _qualified(name: str, namespace: str | None, pod_namespace: str) -> str:
    if "/" in name:
        return name
    return f"{namespace or pod_namespace}/{name}"


def _status(text: str, annotation: str, out: list[Problem]) -> list[Attachment]:
    items = _json(text, annotation, out)
    found: list[Attachment] = []
    for i, item in enumerate(items or ()):
        where = f"{_field(annotation)}[{i}]"
        if not isinstance(item, dict):
            out.append((where, "is not a JSON object; ignored"))
            continue
        name = _name(item, where, out)
        if name is None:
            continue
        default = item.get("default", False)
        if not isinstance(default, bool):
            out.append((where, "has `default` that is not true or false; read as false"))
            default = False
        found.append(
            Attachment(name, _text(item, "interface", where, out), _ips(item, where, out), default)
        )
    return found


def _request(text: str, pod_namespace: str, out: list[Problem]) -> list[Attachment]:
    found: list[Attachment] = []
    if text.lstrip().startswith("["):
        for i, item in enumerate(_json(text, NETWORKS, out) or ()):
            where = f"{_field(NETWORKS)}[{i}]"
            if not isinstance(item, dict):
                out.append((where, "is not a JSON object; ignored"))
                continue
            name = _name(item, where, out)
            if name is None:
                continue
            ns = _text(item, "namespace", where, out)
            iface = _text(item, "interface", where, out)
            found.append(
                Attachment(
                    _qualified(name, ns, pod_namespace),
                    iface,
                    _ips(item, where, out),
                    False,
                    True,
                )
            )
        return found
    for i, part in enumerate(p.strip() for p in text.split(",")):
        name, _, iface = part.partition("@")
        if not name or "@" in iface or name.count("/") > 1:
            out.append((_field(NETWORKS), f"entry {i + 1} {part[:64]!r} is not [namespace/]name"))
            continue
        found.append(
            Attachment(_qualified(name, None, pod_namespace), iface or None, (), False, True)
        )
    return found


def read(
    annotations: tuple[tuple[str, str], ...], pod_namespace: str
) -> tuple[tuple[Attachment, ...], tuple[Problem, ...]]:
    """The pod's attachments (status if Multus wrote it, else the request) and the
    problems met reading them."""
    values = dict(annotations)
    out: list[Problem] = []
    status_text = values.get(NETWORK_STATUS) or values.get(OLD_NETWORK_STATUS)
    status_key = NETWORK_STATUS if NETWORK_STATUS in values else OLD_NETWORK_STATUS
    status = _status(status_text, status_key, out) if status_text else []
    request = _request(values[NETWORKS], pod_namespace, out) if values.get(NETWORKS) else []
    if status:
        return tuple(status), tuple(out)
    return tuple(request), tuple(out)


def attachments(pod: Pod) -> tuple[Attachment, ...]:
    if not any(k in (NETWORKS, NETWORK_STATUS, OLD_NETWORK_STATUS) for k, _ in pod.annotations):
        return ()
    return read(pod.annotations, pod.namespace)[0]


def secondary_attachments(pod: Pod) -> tuple[Attachment, ...]:
    """Attachments other than the cluster network (and not carrying the pod IP)."""
    own = set(pod.ips)
    return tuple(a for a in attachments(pod) if not a.default and not own.intersection(a.ips))


def problems(annotations: tuple[tuple[str, str], ...], pod_namespace: str) -> tuple[Problem, ...]:
    if not any(k in (NETWORKS, NETWORK_STATUS, OLD_NETWORK_STATUS) for k, _ in annotations):
        return ()
    return read(annotations, pod_namespace)[1]
