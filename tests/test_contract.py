"""`verify`: contracts parse with clear errors, flows are checked on every pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from builders import namespace, pod, policy, snapshot_of
from netpol_doctor.contract import ContractError, load_contract, parse_contract, verify
from netpol_doctor.snapshot import load_snapshot
from test_cli import EXAMPLES, run

ROOT = Path(__file__).resolve().parent.parent


def test_example_contract_on_examples() -> None:
    results = verify(load_snapshot([EXAMPLES]), load_contract(ROOT / "examples" / "contract.yaml"))
    by_name = {r.flow.name: r for r in results}
    assert by_name["frontend may reach api"].ok
    assert by_name["nothing outside payments reaches payments-db"].ok
    scrape = by_name["prometheus scrapes the shop api"]
    assert not scrape.ok and scrape.pairs == 2
    assert scrape.explained[0].verdict.value == "denied"
    assert "namespace-label-mismatch" in [f.id for f in scrape.explained[0].findings]
    dns = by_name["every shop and payments pod can resolve DNS"]
    assert {s for s, _, _ in dns.violations} == {
        "payments/payments-api-5f6d7c8b9-r7vzl",
        "payments/payments-api-5f6d7c8b9-tq8wn",
        "payments/payments-db-0",
    }


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    r = run("verify", str(ROOT / "examples" / "contract.yaml"), "--snapshot", str(EXAMPLES))
    assert r.returncode == 1
    assert "FAIL prometheus scrapes the shop api" in r.stdout
    assert "--- why (prometheus scrapes the shop api) ---" in r.stdout
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        yaml.safe_dump(
            {
                "flows": [
                    {
                        "name": "frontend may reach api",
                        "from": {"namespace": "shop", "pods": {"app": "frontend"}},
                        "to": {"namespace": "shop", "pods": {"app": "api"}},
                        "port": 8080,
                        "expect": "allowed",
                    }
                ]
            }
        )
    )
    r2 = run("verify", str(ok), "--snapshot", str(EXAMPLES), "-o", "json")
    assert r2.returncode == 0, r2.stdout
    assert json.loads(r2.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        ({"from": {}, "to": {}, "port": 80}, "field expect: must be allowed or denied"),
        ({"from": {}, "to": {}, "expect": "allowed"}, "field port: required"),
        ({"from": {}, "to": {}, "port": 70000, "expect": "allowed"}, "70000 is not a port number"),
        (
            {
                "from": {
                    "pods": {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}
                },
                "to": {},
                "port": 80,
                "expect": "denied",
            },
            "from.pods.matchExpressions[0].values",
        ),
        (
            {"from": {"namspace": "x"}, "to": {}, "port": 80, "expect": "denied"},
            "field from.namspace: unknown field",
        ),
        (
            {"from": {}, "to": {}, "port": 80, "protocol": "ICMPX", "expect": "denied"},
            "is not TCP, UDP or SCTP",
        ),
        (
            {"from": {"service": "a/b"}, "to": {}, "port": 80, "expect": "denied"},
            "destinations only",
        ),
    ],
)
def test_contract_errors_name_flow_and_field(flow: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError) as err:
        parse_contract({"flows": [{"name": "x", **flow}]}, "c.yaml")
    text = str(err.value)
    assert text.startswith("c.yaml: flow 1 ('x'), field ")
    assert message in text


def test_cli_contract_error_is_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("flows:\n  - {from: {}, to: {}, port: 80}\n")
    r = run("verify", str(bad), "--snapshot", str(EXAMPLES))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "field expect" in r.stderr


def test_denied_flow_counts_unknown_as_violation(tmp_path: Path) -> None:
    snap = snapshot_of(
        tmp_path,
        [
            namespace("shop"),
            pod("shop/a", "10.0.0.1", app="a"),
            pod("shop/b", "10.0.0.2", app="b"),
            pod("ghost/c", "10.0.9.1", app="c"),
            policy(
                "shop/b",
                {
                    "podSelector": {"matchLabels": {"app": "b"}},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}],
                },
            ),
        ],
    )
    contract = parse_contract(
        {
            "flows": [
                {
                    "name": "only team x",
                    "from": {"namespace": "ghost"},
                    "to": {"pod": "shop/b"},
                    "port": 80,
                    "expect": "denied",
                }
            ]
        },
        "c.yaml",
    )
    (result,) = verify(snap, contract)
    assert result.violations == [("ghost/c", "shop/b", result.violations[0][2])]
    assert result.violations[0][2].value == "unknown"


def test_example_contract_matches_the_json_schema() -> None:
    import jsonschema

    schema = json.loads((ROOT / "docs" / "contract.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load((ROOT / "examples" / "contract.yaml").read_text()), schema)
