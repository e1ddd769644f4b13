"""What a pod spec says about the network it needs, read once while parsing: its
kubelet health probes (which port the node connects to) and the addresses its env
names (Service links `$(X_SERVICE_HOST)`, URLs, host:port, cluster DNS names).

Only host and port are kept from an env value: a URL's credentials, path and query
never leave this module (secrets stay out of everything the tool writes).
Imports nothing from the package: it turns raw dicts into tuples of strings.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["env_targets", "health_probes"]

#: well-known default ports of URL schemes an app config names
_SCHEME_PORTS = {
    "http": "80", "https": "443", "ws": "80", "wss": "443", "postgres": "5432",
    "postgresql": "5432", "mysql": "3306", "redis": "6379", "rediss": "6379",
    "amqp": "5672", "amqps": "5671", "mongodb": "27017", "nats": "4222", "grpc": "",
    "tcp": "", "kafka": "9092", "memcached": "11211", "ldap": "389", "ldaps": "636",
}  # fmt: skip
#: env names whose bare value is a host (API_HOST=api, DB_ADDR=db:5432)
_HOST_NAMES = re.compile(r"(_|^)(HOST|HOSTNAME|ADDR|ADDRESS|SERVER|ENDPOINT|URL|URI|DSN)S?$")
_SERVICE_LINK = re.compile(r"\$\(([A-Z0-9_]+)_SERVICE_HOST\)")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KINDS = (
    ("readinessProbe", "readiness"),
    ("livenessProbe", "liveness"),
    ("startupProbe", "startup"),
)


def health_probes(containers: Any) -> tuple[tuple[str, str, str], ...]:
    """(readiness|liveness|startup, httpGet|tcpSocket|grpc, port as written) per probe.

    The kubelet runs these from the pod's node (SEMANTICS NP-90); exec probes run
    inside the container and need no network, so they are not listed."""
    out: list[tuple[str, str, str]] = []
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, dict):
            continue
        for key, kind in _KINDS:
            probe = c.get(key)
            if not isinstance(probe, dict):
                continue
            for handler in ("httpGet", "tcpSocket", "grpc"):
                spec = probe.get(handler)
                if isinstance(spec, dict) and isinstance(spec.get("port"), int | str):
                    if isinstance(spec.get("port"), bool):
                        continue
                    out.append((kind, handler, str(spec["port"])))
    return tuple(out)


def env_targets(containers: Any) -> tuple[tuple[str, str, str], ...]:
    """(env name, host, port or "") for each env value that names an address."""
    out: list[tuple[str, str, str]] = []
    for c in containers if isinstance(containers, list) else []:
        env = c.get("env") if isinstance(c, dict) else None
        for e in env if isinstance(env, list) else []:
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                continue
            value = e.get("value")
            if isinstance(value, str) and value:
                out.extend((e["name"], h, p) for h, p in _addresses(e["name"], value))
    return tuple(dict.fromkeys(out))


def _addresses(name: str, value: str) -> list[tuple[str, str]]:
    links = _SERVICE_LINK.findall(value)
    if links:
        # $(API_SERVICE_HOST): the Service `api` of the pod's namespace (enableServiceLinks)
        return [(link.lower().replace("_", "-"), "") for link in links]
    found: list[tuple[str, str]] = []
    for word in re.split(r"[\s,;]+", value.strip()):
        hit = _address(name, word)
        if hit is not None:
            found.append(hit)
    return found


def _address(name: str, word: str) -> tuple[str, str] | None:
    if "://" in word:
        try:
            split = urlsplit(word)
            host, port = split.hostname, split.port
        except ValueError:
            return None
        if not host:
            return None
        default = _SCHEME_PORTS.get(split.scheme.lower(), "")
        return host, str(port) if port else default
    bare, sep, number = word.rpartition(":") if word.count(":") == 1 else (word, "", "")
    if sep and not number.isdigit():
        return None
    labels = all(_DNS_LABEL.match(p) for p in bare.split("."))
    if _is_ip(bare) or ".svc" in bare or (_HOST_NAMES.search(name.upper()) and labels):
        return bare, number
    return None
    if (
        _is_ip(host)
        or ".svc" in host
        or (_HOST_NAMES.search(name.upper()) and all(_DNS_LABEL.match(p) for p in host.split(".")))
    ):
        return host, port
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
