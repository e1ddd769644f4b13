"""Lint findings -> SARIF 2.1.0, as GitHub code scanning ingests it.

One run; `tool.driver.rules` lists every rule given (id, descriptions, the rule's
page docs/lint/<id>.md as `help.markdown`, default level); each result carries its
rule id and index, level, message, the file and line of the object it is about (the
line of the finding's field inside it when the file shows it), the other objects as
related locations, and a partial fingerprint that survives line moves (rule, object,
field). Output is deterministic: no timestamps, no absolute paths unless the input had
them outside `base_dir`.

The schema (OASIS SARIF 2.1.0, errata 01) gives `helpUri` and `informationUri` the
format "uri", which is an absolute URI (RFC 3986 section 3): a repository-relative
page path is invalid there, so without an absolute `help_base` both are left out and
the page text rides in `help` instead, which GitHub code scanning shows as the rule's
help. Imports `model`, `findings`, `lint`, `inputs.fieldlines`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote, urlsplit

from ..findings import Finding, Severity
from ..inputs.fieldlines import FieldLines
from ..lint import LintRule
from ..model import ObjectRef

__all__ = ["SARIF_SCHEMA", "render_sarif", "rule_page"]

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


def _location(ref: ObjectRef, base_dir: str | None, line: int | None = None) -> dict[str, Any]:
    assert ref.file is not None
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(ref.file, base_dir)},
            "region": {"startLine": line or ref.line or 1},
        },
        "logicalLocations": [
            {"name": ref.key, "fullyQualifiedName": f"{ref.kind}/{ref.key}", "kind": "resource"}
        ],
    }


@cache
def rule_page(rule_id: str) -> str | None:
    """docs/lint/<id>.md as shipped in the package (`lint_docs` links to docs/lint)."""
    try:
        page = files("netpol_doctor").joinpath("lint_docs").joinpath(f"{rule_id}.md")
        return page.read_text("utf-8")
    except (OSError, ValueError):
        return None


def _absolute(uri: str) -> bool:
    parts = urlsplit(uri)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def _rule(rule: LintRule, help_base: str | None) -> dict[str, Any]:
    page = rule_page(rule.id)
    out: dict[str, Any] = {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.id.split("-")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
    }
    if help_base is not None:
        out["helpUri"] = f"{help_base}{rule.id}.md"
    # The page is Markdown written to be read as it is, so it serves as the plain text too.
    text = page if page is not None else f"{rule.summary} (page docs/lint/{rule.id}.md)"
    out["help"] = {"text": text, "markdown": text}
    out["defaultConfiguration"] = {
        "level": _LEVEL[rule.severity],
        "enabled": rule.default_enabled,
    }
    out["properties"] = {"tags": ["kubernetes", "networkpolicy"]}
    return out


def _result(
    f: Finding,
    index: dict[str, int],
    seen: Counter[str],
    base_dir: str | None,
    fields: FieldLines,
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
    located = [r for r in f.objects if r.file is not None]
    if located:
        first = located[0]
        # The field path is about the finding's first object; only there can it be looked up.
        line = fields.line(first.file, first.line, f.field) if first is ref and first.file else None
        out["locations"] = [_location(first, base_dir, line)]
        if len(located) > 1:
            out["relatedLocations"] = [
                {"id": i, **_location(r, base_dir)} for i, r in enumerate(located[1:], 1)
            ]
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
    help_base: str | None = None,
    information_uri: str | None = None,
) -> str:
    """SARIF 2.1.0 for `findings` from `rules` (pass every rule: the driver lists them).

    `base_dir`: absolute file paths under it become relative URIs (give the repository
    root, as GitHub resolves URIs against it). `help_base`, an absolute URI, prefixes
    each rule's page `<id>.md` as `helpUri`; `information_uri`, absolute too, is the
    tool's home page. Either, when not absolute, is a ValueError: the schema's "uri"
    format admits only absolute URIs.
    """
    for given in (help_base, information_uri):
        if given is not None and not _absolute(given):
            raise ValueError(f"{given!r} is not an absolute URI (SARIF needs one)")
    index = {rule.id: i for i, rule in enumerate(rules)}
    seen: Counter[str] = Counter()
    fields = FieldLines()
    driver: dict[str, Any] = {"name": "netpol-doctor", "version": _version()}
    if information_uri is not None:
        driver["informationUri"] = information_uri
    driver["rules"] = [_rule(rule, help_base) for rule in rules]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index, seen, base_dir, fields) for f in findings],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
