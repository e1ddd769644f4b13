"""Alertmanager webhook payloads (or bare alert label sets) -> the objects to triage.

The webhook body is `{"version": "4", "status": ..., "alerts": [{"status": "firing",
"labels": {"alertname": ..., "namespace": ..., "pod": ...}, ...}]}`
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
A list of alerts, one alert, or one label mapping are accepted too. Resolved alerts are
skipped. Imports only `errors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import NetpolDoctorError

__all__ = ["AlertTarget", "parse_alerts"]


@dataclass(frozen=True, slots=True)
class AlertTarget:
    kind: str  # pod | service
    key: str  # NS/NAME
    alert: str  # alertname


def parse_alerts(text: str, where: str) -> list[AlertTarget]:
    """Targets named by the firing alerts in `text` (read from `where`, for messages)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise NetpolDoctorError(f"{where}: not JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("alerts"), list):
        alerts: list[Any] = data["alerts"]
    elif isinstance(data, list):
        alerts = data
    elif isinstance(data, dict):
        alerts = [data if "labels" in data else {"labels": data}]
    else:
        raise NetpolDoctorError(f"{where}: expected an Alertmanager payload (an object)")
    out: list[AlertTarget] = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise NetpolDoctorError(f"{where}: alerts[{i}] has no labels mapping")
        if alert.get("status", "firing") != "firing":
            continue
        labels = {k: v for k, v in alert["labels"].items() if isinstance(v, str)}
        name = labels.get("alertname", "")
        ns = labels.get("namespace") or labels.get("exported_namespace")
        if not ns:
            continue
        if labels.get("pod"):
            out.append(AlertTarget("pod", f"{ns}/{labels['pod']}", name))
        elif labels.get("service"):
            out.append(AlertTarget("service", f"{ns}/{labels['service']}", name))
    if not out:
        raise NetpolDoctorError(
            f"{where}: no firing alert names a pod or a service (labels namespace and pod, "
            "or namespace and service)"
        )
    return list(dict.fromkeys(out))
