"""Builders for test clusters: `pod("shop/api", app="api")` style, producing the
manifest dicts kubectl would print, so tests exercise the real parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from netpol_doctor.snapshot import Snapshot, load_snapshot


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def _ports(ports: list[str]) -> list[dict[str, Any]]:
    """'http:8080/TCP', '8080', 'dns:53/UDP' -> containerPorts."""
    out = []
    for spec in ports:
        name, _, rest = spec.rpartition(":")
        number, _, proto = rest.partition("/")
        entry: dict[str, Any] = {"containerPort": int(number), "protocol": proto or "TCP"}
        if name:
            entry["name"] = name
        out.append(entry)
    return out


def pod(
    key: str,
    ip: str | None = None,
    *,
    labels: dict[str, str] | None = None,
    ports: list[str] | None = None,
    host_network: bool = False,
    node: str = "node-1",
    **label_kw: str,
) -> dict[str, Any]:
    ns, name = key.split("/")
    spec: dict[str, Any] = {
        "nodeName": node,
        "containers": [{"name": "main", "image": "busybox", "ports": _ports(ports or [])}],
    }
    if host_network:
        spec["hostNetwork"] = True
    status: dict[str, Any] = {"phase": "Running"}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {**(labels or {}), **label_kw}},
        "spec": spec,
        "status": status,
    }


def policy(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    ns, name = key.split("/")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def node(name: str, ip: str, pod_cidr: str | None = None) -> dict[str, Any]:
    spec = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]} if pod_cidr else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": spec,
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def service(
    key: str, selector: dict[str, str] | None, ports: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    ns, name = key.split("/")
    body: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }


def write(tmp: Path, objects: list[dict[str, Any]], name: str = "cluster.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def snapshot_of(tmp: Path, objects: list[dict[str, Any]]) -> Snapshot:
    return load_snapshot([write(tmp, objects)])
