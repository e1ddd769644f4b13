"""`lint --output sarif` against the OASIS SARIF 2.1.0 schema with formats checked
(issue #13 part 4), and results placed at their object's and field's lines in a kubectl
List dump and in a multi-document stream, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker

from netpol_doctor.lint import RULES
from netpol_doctor.render.sarif import render_sarif

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = Draft4Validator(SCHEMA, format_checker=FormatChecker())

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes:
  - Ingress
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
    - namespaceSelector: {{}}
"""
HEAD = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
"""
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
  labels:
    app: api
spec:
  containers:
  - name: c
    image: x
status:
  podIP: 10.0.0.1
"""


def _indent(doc: str) -> str:
    lines = doc.splitlines()
    return "\n".join(["- " + lines[0], *("  " + line for line in lines[1:])]) + "\n"


def _lines(text: str, needle: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if needle in line]


def _sarif(path: Path) -> dict[str, Any]:
    r = subprocess.run(
        [BIN / "netpol-doctor", "lint", "--snapshot", str(path), "-o", "sarif"],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )
    assert r.returncode in (0, 1), r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    errors = sorted(VALIDATOR.iter_errors(data), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return data


def _broad(data: dict[str, Any]) -> dict[str, int]:
    """policy name -> startLine of its broad-namespace-selector result."""
    out = {}
    for result in data["runs"][0]["results"]:
        if result["ruleId"] == "broad-namespace-selector":
            (name,) = [n["name"].split("/")[1] for n in result["locations"][0]["logicalLocations"]]
            out[name] = result["locations"][0]["physicalLocation"]["region"]["startLine"]
    return out


def test_format_checks_are_on() -> None:
    """The validator used here rejects what GitHub rejects: a relative helpUri."""
    data = json.loads(render_sarif([], RULES))
    assert not list(VALIDATOR.iter_errors(data))
    data["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "docs/lint/x.md"
    assert [e.message for e in VALIDATOR.iter_errors(data)] == ["'docs/lint/x.md' is not a 'uri'"]
    # Without format checks the same log passes: the check is what makes the test bite.
    assert not list(Draft4Validator(SCHEMA).iter_errors(data))


def test_help_uris_are_absolute_or_absent() -> None:
    with pytest.raises(ValueError, match="absolute"):
        render_sarif([], RULES, help_base="docs/lint/")
    base = "https://github.com/example/netpol-doctor/blob/main/docs/lint/"
    data = json.loads(render_sarif([], RULES, help_base=base, information_uri=base))
    assert not list(VALIDATOR.iter_errors(data))
    rules = data["runs"][0]["tool"]["driver"]["rules"]
    assert all(r["helpUri"] == f"{base}{r['id']}.md" for r in rules)
    plain = json.loads(render_sarif([], RULES))["runs"][0]["tool"]["driver"]
    assert "informationUri" not in plain
    for rule in plain["rules"]:
        assert "helpUri" not in rule
        page = (ROOT / "docs" / "lint" / f"{rule['id']}.md").read_text()
        assert rule["help"] == {"text": page, "markdown": page}


def test_list_dump_results_at_item_and_field_lines(tmp_path: Path) -> None:
    items = [HEAD, POD, POLICY.format(name="first"), POLICY.format(name="second")]
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(_indent(d) for d in items)
    path = tmp_path / "dump.yaml"
    path.write_text(text)
    found = _broad(_sarif(path))
    assert list(found) == ["first", "second"]
    # The field's line inside each item: the `- namespaceSelector` entry of that item.
    assert sorted(found.values()) == _lines(text, "namespaceSelector: {}")
    names = _lines(text, "name: first") + _lines(text, "name: second")
    assert names[0] < found["first"] < names[1] < found["second"]


def test_stream_results_at_document_and_field_lines(tmp_path: Path) -> None:
    docs = [HEAD, POD, POLICY.format(name="first"), POLICY.format(name="second")]
    text = "---\n".join(docs)
    path = tmp_path / "stream.yaml"
    path.write_text(text)
    data = _sarif(path)
    assert sorted(_broad(data).values()) == _lines(text, "namespaceSelector: {}")
    # A finding about a missing field points at its parent; a finding with no field at
    # its object: both inside the right document.
    text2 = text.replace("  policyTypes:\n  - Ingress\n", "", 1)
    path.write_text(text2)
    data = _sarif(path)
    missing = [r for r in data["runs"][0]["results"] if r["ruleId"] == "policy-types-missing"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in missing] == [
        _lines(text2, "spec:")[1]
    ]


def test_json_list_dump_lines(tmp_path: Path) -> None:
    """kubectl get -o json: items in a JSON List, each result on its own item's lines."""
    import yaml

    items = [yaml.safe_load(d) for d in (HEAD, POD, POLICY.format(name="first"))]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2)
    path = tmp_path / "dump.json"
    path.write_text(text)
    found = _broad(_sarif(path))
    assert found["first"] in _lines(text, '"namespaceSelector": {}')
