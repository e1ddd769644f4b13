"""Lint findings -> SARIF 2.1.0, as GitHub code scanning ingests it.

One run; `tool.driver.rules` lists every rule given (id, descriptions, help link,
default level); each result carries its rule id and index, level, message, the file
and line of the object it is about, and a partial fingerprint that survives line
moves (rule, object, field). Output is deterministic: no timestamps, no absolute
paths unless the input had them outside `base_dir`. Imports `model`, `findings`,
`lint`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from ..findings import Finding, Severity
from ..lint import LintRule
from ..model import ObjectRef

__all__ = ["SARIF_SCHEMA", "render_sarif"]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_FINGERPRINT = "netpolDoctor/v1"


def _version() -> str:
    try:
        return version("netpol-doctor")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _uri(file: str, base_dir: str | None) -> str:
    """A relative, forward-slash URI when the file is under base_dir (or was given
    relative and no base_dir is set); otherwise an absolute file URI."""
    path = Path(file)
    if base_dir is not None:
        absolute = Path(os.path.abspath(file))
        try:
            path = absolute.relative_to(os.path.abspath(base_dir))
        except ValueError:
            return absolute.as_uri()
    elif path.is_absolute():
        return path.as_uri()
    parts = [p for p in PurePath(os.path.normpath(path)).parts if p != "."]
    return quote("/".join(parts), safe="/")


def _location(ref: ObjectRef, base_dir: str | None) -> dict[str, Any]:
    assert ref.file is not None
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(ref.file, base_dir)},
            "region": {"startLine": ref.line or 1},
        },
        "logicalLocations": [
            {"name": ref.key, "fullyQualifiedName": f"{ref.kind}/{ref.key}", "kind": "resource"}
        ],
    }


def _rule(rule: LintRule, help_base: str) -> dict[str, Any]:
    uri = f"{help_base}{rule.id}.md"
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.id.split("-")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {
            "text": f"{rule.summary} What it flags, why, an example and the fix: {uri}"
        },
        "helpUri": uri,
        "help": {
            "text": f"{rule.summary} See {uri}.",
            "markdown": f"{rule.summary} See [{rule.id}]({uri}).",
        },
        "defaultConfiguration": {"level": _LEVEL[rule.severity], "enabled": rule.default_enabled},
        "properties": {"tags": ["kubernetes", "networkpolicy"]},
    }


def _result(
    f: Finding, index: dict[str, int], seen: Counter[str], base_dir: str | None
) -> dict[str, Any]:
    ref = f.objects[0] if f.objects else None
    text = f.message.rstrip(".") + "."
    if f.fix is not None:
        text += f" Fix: {f.fix.summary}."
    key = "|".join([f.id, *(f"{r.kind}/{r.key}" for r in f.objects[:1]), f.field or ""])
    seen[key] += 1  # the same rule, object and field twice: tell them apart by order
    digest = hashlib.sha256(f"{key}|{seen[key]}".encode()).hexdigest()
    out: dict[str, Any] = {"ruleId": f.id}
    if f.id in index:
        out["ruleIndex"] = index[f.id]
    out["level"] = _LEVEL[f.severity]
    out["message"] = {"text": text}
    located = next((r for r in f.objects if r.file is not None), None)
    if located is not None:
        out["locations"] = [_location(located, base_dir)]
    out["partialFingerprints"] = {_FINGERPRINT: digest}
    props: dict[str, Any] = {"objects": [f"{r.kind}/{r.key}" for r in f.objects]}
    if f.field:
        props["field"] = f.field
    if ref is not None and ref.document is not None:
        props["document"] = ref.document
    if f.fix is not None:
        props["fix"] = {
            k: v
            for k, v in (
                ("summary", f.fix.summary),
                ("snippet", f.fix.snippet),
                ("caution", f.fix.caution),
            )
            if v
        }
    out["properties"] = props
    return out


def render_sarif(
    findings: Sequence[Finding],
    rules: Sequence[LintRule],
    *,
    base_dir: str | None = None,
    help_base: str = "docs/lint/",
    information_uri: str = "docs/lint/README.md",
) -> str:
    """SARIF 2.1.0 for `findings` from `rules` (pass every rule: the driver lists them).

    `base_dir`: absolute file paths under it become relative URIs (give the repository
    root, as GitHub resolves URIs against it). `help_base` prefixes each rule's page
    `<id>.md`; `information_uri` is the tool's home page.
    """
    index = {rule.id: i for i, rule in enumerate(rules)}
    seen: Counter[str] = Counter()
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "netpol-doctor",
                        "version": _version(),
                        "informationUri": information_uri,
                        "rules": [_rule(rule, help_base) for rule in rules],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index, seen, base_dir) for f in findings],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
