"""`netpol-doctor mcp` (issue #13 part 3) driven by the official SDK's own client over
stdio: the server runs as a subprocess, the client lists the tools and calls each; the
answers are the CLI's `--output json` plus the text rendering. A live run goes to the
fake API server and sends only GETs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from fakeapi import FakeApiServer, load_manifests

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "cluster"
EXE = str(Path(sys.executable).parent / "netpol-doctor")
CONTRACT = """\
flows:
  - name: prometheus scrapes api
    from: {namespace: monitoring, pods: {app: prometheus}}
    to: {namespace: shop, pods: {app: api}}
    port: 9090
    expect: allowed
"""


def _cli_json(*args: str) -> Any:
    r = subprocess.run([EXE, *args, "-o", "json"], capture_output=True, text=True, cwd=ROOT)
    return json.loads(r.stdout)


def _session(args: list[str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    async def go() -> tuple[Any, list[Any]]:
        params = StdioServerParameters(command=EXE, args=["mcp", *args], cwd=str(ROOT))
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            results = [await session.call_tool(name, arguments) for name, arguments in calls]
            return tools, results

    return anyio.run(go)


def _payload(result: Any) -> tuple[dict[str, Any], str]:
    assert not result.is_error, result.content
    first, second = result.content
    data = json.loads(first.text)
    assert data == result.structured_content
    return data, second.text


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def test_tools_over_stdio_on_a_snapshot(tmp_path: Path) -> None:
    contract = tmp_path / "contract.yaml"
    contract.write_text(CONTRACT)
    calls = [
        ("diagnose", {"source": "monitoring/prometheus-0", "destination": "deploy/api",
                      "port": 9090, "namespace": "shop"}),
        ("pod", {"pod": "shop/db-0"}),
        ("matrix", {"port": 8080, "namespaces": ["shop"]}),
        ("lint", {}),
        ("verify", {"contract": CONTRACT}),
        ("diagnose", {"source": "shop/nope", "destination": "dns"}),
        ("matrix", {"port": 0}),
    ]  # fmt: skip
    tools, results = _session(["--snapshot", str(EXAMPLES)], calls)
    by_name = {t.name: t for t in tools.tools}
    assert sorted(by_name) == ["diagnose", "flows", "lint", "matrix", "pod", "verify"]
    for t in by_name.values():
        assert t.input_schema["type"] == "object" and t.description
        assert t.annotations.read_only_hint is True
        assert t.annotations.destructive_hint is False
    assert by_name["diagnose"].input_schema["required"] == ["source", "destination"]
    assert by_name["matrix"].input_schema["properties"]["port"]["maximum"] == 65535

    where = {"snapshot": [str(EXAMPLES)]}
    diag, text = _payload(results[0])
    assert diag["read_from"] == where
    cli = _cli_json("diagnose", "monitoring/prometheus-0", "deploy/shop/api", "--port", "9090",
                    "--snapshot", str(EXAMPLES))  # fmt: skip
    assert _without(diag, "read_from") == cli
    assert diag["verdict"] == "denied" and text.startswith("DENIED")

    pods, text = _payload(results[1])
    assert pods["pods"] == _cli_json("pod", "shop/db-0", "--snapshot", str(EXAMPLES))
    assert "shop/db-0" in text

    matrix, text = _payload(results[2])
    assert matrix["pods"] == 6 and sum(matrix["totals"].values()) == 36
    assert matrix["namespace_pairs"][0]["source"] == "shop"
    assert text.startswith("TCP 8080: 6 pods")

    found, text = _payload(results[3])
    assert _without(found, "read_from") == _cli_json("lint", "--snapshot", str(EXAMPLES))
    assert "dns-egress-missing" in text

    checked, text = _payload(results[4])
    cli = _cli_json("verify", str(contract), "--snapshot", str(EXAMPLES))
    assert _without(checked, "read_from", "problems") == _without(cli, "problems")

    # Bad questions: one sentence back, the server keeps serving.
    assert results[5].is_error and "shop/nope" in results[5].content[0].text
    assert results[6].is_error


def test_live_context_only_gets(tmp_path: Path) -> None:
    with FakeApiServer(load_manifests(EXAMPLES)) as server:
        cfg = tmp_path / "kubeconfig"
        server.write_kubeconfig(cfg, context="prod-eu")
        calls = [
            ("diagnose", {"source": "shop/frontend-6b8f9c7d4-x2vqp", "destination": "svc/shop/api",
                          "port": 80}),
            ("lint", {}),
        ]  # fmt: skip
        _, results = _session(["--kubeconfig", str(cfg)], calls)
        diag, _ = _payload(results[0])
        assert diag["read_from"] == {"context": "prod-eu", "server": server.url}
        assert diag["verdict"] == "allowed"
        _payload(results[1])
        assert {req.method for req in server.requests} == {"GET"}


@pytest.mark.parametrize("args", [["--snapshot", "/nonexistent/path"]])
def test_bad_start_is_one_sentence(args: list[str]) -> None:
    r = subprocess.run([EXE, "mcp", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr


FLOWS = ROOT / "tests" / "data" / "flows"


def test_flows_tool_answers_as_the_cli() -> None:
    log = (FLOWS / "hubble.jsonl").read_text()
    calls = [
        ("flows", {"log": log}),
        ("flows", {"log": log, "since": "0m"}),
        ("flows", {"log": log, "format": "nope"}),
        ("flows", {"log": log, "format": "hubble"}),  # a given format tells the plugin too
    ]
    _, results = _session(["--snapshot", str(FLOWS / "cluster.yaml")], calls)
    data, text = _payload(results[0])
    forced, _ = _payload(results[3])
    assert forced["groups"] == data["groups"]
    cli = _cli_json("flows", str(FLOWS / "hubble.jsonl"), "--snapshot", str(FLOWS / "cluster.yaml"))
    for ours, theirs in zip(data["groups"], cli["groups"], strict=True):
        line = theirs.pop("first_record").rsplit(":", 1)[1]
        assert ours.pop("first_record") == f"log:{line}"  # the log is "log", not a temp path
        assert ours == theirs
    assert any(g["mismatch"] for g in data["groups"])
    assert "observed-drop-policy-allows" in text
    assert "flows.log" not in json.dumps(data)  # the temporary file is never named
    assert results[1].is_error and "above zero" in results[1].content[0].text
    assert results[2].is_error and "nope" in results[2].content[0].text
