"""`verify`: contracts parse with clear errors, flows are checked on every pair."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from builders import namespace, pod, policy, snapshot_of, write
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
        # a wrong type is an error, never a default ("every pod", "any namespace")
        ({"from": {"pod": 5}, "to": {}, "port": 80, "expect": "denied"}, "field from.pod: 5"),
        ({"from": {}, "to": {"pod": "x"}, "port": 80, "expect": "denied"}, "field to.pod: 'x'"),
        ({"from": {"pods": None}, "to": {}, "port": 80, "expect": "denied"}, "field from.pods"),
        ({"from": {"pods": {"app": 5}}, "to": {}, "port": 80, "expect": "denied"}, "app"),
        ({"from": {"namespace": []}, "to": {}, "port": 80, "expect": "denied"}, "empty list"),
        ({"from": {"namespace": 5}, "to": {}, "port": 80, "expect": "denied"}, "from.namespace"),
        ({"from": {}, "to": {"service": 5}, "port": 80, "expect": "denied"}, "to.service: 5"),
        ({"from": {}, "to": {"ip": "nope"}, "port": 80, "expect": "denied"}, "not an IP"),
        ({"from": {}, "to": "svc/a", "port": 80, "expect": "denied"}, "svc/namespace/name"),
        ({"from": {}, "to": "ip/x", "port": 80, "expect": "denied"}, "not an IP"),
        ({"from": 5, "to": {}, "port": 80, "expect": "denied"}, "field from: 5"),
        ({"from": {}, "to": {}, "port": "80", "expect": "denied"}, "'80' is not a port"),
        ({"from": {}, "to": {}, "port": True, "expect": "denied"}, "True is not a port"),
        ({"from": {}, "to": {}, "port": 10**5000, "expect": "denied"}, "-bit number is not"),
        ({"from": {}, "to": {}, "port": 80, "protocol": 6, "expect": "denied"}, "6 is not TCP"),
        ({"from": {}, "to": {}, "port": 80, "expect": ["allowed"]}, "not ['allowed']"),
        ({"name": ["x"], "from": {}, "to": {}, "port": 80, "expect": "denied"}, "field name"),
    ],
)
def test_contract_errors_name_flow_and_field(flow: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError) as err:
        parse_contract({"flows": [{"name": "x", **flow}]}, "c.yaml")
    text = str(err.value)
    assert text.startswith(("c.yaml: flow 1 ('x'), field ", "c.yaml: flow 1, field name"))
    assert message in text
    assert "\n" not in text and len(text) < 300


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        ({"flows": [], "extra": 1}, "unknown field extra"),
        ({"apiVersion": "v2", "flows": []}, "apiVersion is 'v2'"),
        ({"kind": ["x"], "flows": []}, "kind is ['x']"),
        ({"flows": {"a": 1}}, "`flows` must be a non-empty list"),
        (["flows"], "a contract is a mapping"),
    ],
)
def test_contract_top_level_errors(contract: object, message: str) -> None:
    with pytest.raises(ContractError, match=re.escape(message)):
        parse_contract(contract, "c.yaml")


_FLOW = "flows:\n  - {name: café, from: {}, to: {}, port: 80, expect: denied}\n"
_DEEP = 100_000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_FLOW.encode("utf-16"), None),  # UTF-16 with a byte-order mark, as Windows writes it
        (_FLOW.encode("utf-8-sig"), None),
        (_FLOW.encode("utf-16-le"), "NUL bytes"),
        (_FLOW.encode("latin-1"), "not UTF-8 text (byte 0xe9"),
        (("flows: " + "[" * _DEEP + "]" * _DEEP).encode(), "nested too deeply"),
        (("flows: " + "{a: " * _DEEP + "1" + "}" * _DEEP).encode(), "nested too deeply"),
        (_FLOW.replace("80", "9" * 5000).encode(), "a number at line 2 is too long"),
        (b"flows: [\n", "not valid YAML"),
    ],
    ids=[
        "utf16-bom",
        "utf8-bom",
        "utf16-no-bom",
        "latin1",
        "deep-list",
        "deep-map",
        "long",
        "yaml",
    ],
)
def test_contract_file_encodings_and_limits(
    content: bytes, message: str | None, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    if message is None:
        assert load_contract(path).flows[0].name == "café"
        return
    with pytest.raises(ContractError) as err:
        load_contract(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_cli_contract_must_be_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path(os.devnull)):
        r = run("verify", str(path), "--snapshot", str(EXAMPLES))  # would block on the FIFO
        assert r.returncode == 2, r.stderr
        assert (
            r.stderr
            == f"netpol-doctor: {path} is not a regular file: give the contract as a file\n"
        )


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


def _one_flow(**flow: object) -> object:
    return parse_contract({"flows": [{"name": "f", "port": 80, "expect": "denied", **flow}]}, "c")


def _shop(tmp_path: Path) -> object:
    return snapshot_of(
        tmp_path,
        [
            namespace("shop"),
            namespace("empty"),
            pod("shop/a", "10.0.0.1", app="a"),
            pod("shop/b", "10.0.0.2", app="b"),
            policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        ],
    )


@pytest.mark.parametrize(
    ("flow", "side", "missing"),
    [
        # a selector typo: the flow "holds" only because it checks nothing
        (
            {"from": {"namespace": "shop", "pods": {"app": "aa"}}, "to": {"pods": {"app": "b"}}},
            "from",
            [],
        ),
        (
            {"from": {"pods": {"app": "a"}}, "to": {"namespace": "shop", "pods": {"app": "c"}}},
            "to",
            [],
        ),
        # a namespace that exists but holds no matching pod
        ({"from": {"namespace": "empty"}, "to": {"pods": {"app": "b"}}}, "from", []),
        # a namespace that does not exist, alone or beside one that does
        ({"from": {"namespace": "shpo"}, "to": {"pods": {"app": "b"}}}, "from", ["shpo"]),
        ({"from": {"namespace": ["shop", "shpo"]}, "to": {"pods": {"app": "b"}}}, "from", ["shpo"]),
        ({"from": "shop/a", "to": {"pod": "nowhere/b"}}, "to", ["nowhere"]),
        ({"from": "shop/zz", "to": {"pods": {"app": "b"}}}, "from", []),
    ],
)
def test_flow_matching_nothing_is_a_violation(
    tmp_path: Path, flow: dict[str, object], side: str, missing: list[str]
) -> None:
    (result,) = verify(_shop(tmp_path), _one_flow(**flow))  # type: ignore[arg-type]
    assert not result.ok
    assert [(u.side, list(u.missing_namespaces)) for u in result.unmatched] == [(side, missing)]


def test_flow_matching_pods_is_not_unmatched(tmp_path: Path) -> None:
    """Near miss: the same shapes, spelled right, match pods and hold."""
    flows = [
        {"from": {"namespace": "shop", "pods": {"app": "a"}}, "to": {"pods": {"app": "b"}}},
        {"from": {"namespace": ["shop", "empty"]}, "to": {"pod": "shop/b"}},
        {"from": "shop/a", "to": {"namespace": "shop", "notNamespace": "nowhere"}},
    ]
    for flow in flows:
        (result,) = verify(_shop(tmp_path), _one_flow(**flow))  # type: ignore[arg-type]
        assert result.ok and not result.unmatched and result.pairs >= 1, flow


def test_same_pod_on_both_ends_checks_nothing(tmp_path: Path) -> None:
    (result,) = verify(_shop(tmp_path), _one_flow(**{"from": "shop/a", "to": "shop/a"}))  # type: ignore[arg-type]
    assert not result.ok and [u.side for u in result.unmatched] == ["both"]


def test_cli_verify_reports_matches_nothing(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    cluster = write(
        tmp_path / "c",
        [namespace("shop"), pod("shop/a", "10.0.0.1", app="a"), pod("shop/b", "10.0.0.2", app="b")],
    )
    contract = tmp_path / "contract.yaml"
    contract.write_text(
        yaml.safe_dump(
            {
                "flows": [
                    {
                        "name": "typo",
                        "from": {"namespace": "shpo", "pods": {"app": "a"}},
                        "to": {"namespace": "shop", "pods": {"app": "b"}},
                        "port": 80,
                        "expect": "allowed",
                    }
                ]
            }
        )
    )
    r = run("verify", str(contract), "--snapshot", str(cluster))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL typo: expect allowed, TCP 80, 0 pairs" in r.stdout
    assert (
        "from: pods app=a in namespace shpo matches nothing "
        "(namespace shpo does not exist in the input)" in r.stdout
    )
    r2 = run("verify", str(contract), "--snapshot", str(cluster), "-o", "json")
    assert r2.returncode == 1
    (flow,) = json.loads(r2.stdout)["flows"]
    assert flow["ok"] is False
    assert flow["unmatched"] == [
        {
            "side": "from",
            "selects": "pods app=a in namespace shpo",
            "namespaces": ["shpo"],
            "missing_namespaces": ["shpo"],
            "message": "from: pods app=a in namespace shpo matches nothing "
            "(namespace shpo does not exist in the input)",
        }
    ]


def test_cli_verify_json_carries_input_problems(tmp_path: Path) -> None:
    bad = policy("shop/bad", {"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]})
    (tmp_path / "c").mkdir()
    cluster = write(tmp_path / "c", [namespace("shop"), pod("shop/a", "10.0.0.1", app="a"), bad])
    contract = tmp_path / "contract.yaml"
    flow = {"from": "shop/a", "to": {"namespace": "shop"}, "port": 80, "expect": "denied"}
    contract.write_text(yaml.safe_dump({"flows": [flow]}))
    r = run("verify", str(contract), "--snapshot", str(cluster), "-o", "json")
    assert "policy-invalid" in r.stderr
    assert [p["id"] for p in json.loads(r.stdout)["problems"]] == ["policy-invalid"]
