"""API-server validation (SEMANTICS.md §2): one triggering manifest and one near miss per rule."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from ipaddress import ip_network
from typing import Any

import pytest

from netpol_doctor.validation import (
    Level,
    Violation,
    parse_cidr,
    valid_dns_subdomain,
    valid_label_key,
    valid_label_value,
    valid_port_name,
    validate_label_selector,
    validate_network_policy,
)

E, W = Level.ERROR, Level.WARNING
PEER, PORT, SEL = "spec.ingress[0].from[0]", "spec.ingress[0].ports[0]", "spec.podSelector"
REQ = f"{SEL}.matchExpressions[0]"
Doc = dict[str, Any]


# --- builders ------------------------------------------------------------------------------------


def policy(body: Any = None, **metadata: Any) -> Doc:
    meta = {"name": "np", **metadata}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {k: v for k, v in meta.items() if v is not None},
        "spec": {"podSelector": {}} if body is None else body,
    }


def spec(**fields: Any) -> Doc:
    return policy({"podSelector": {}, **fields})


def rule(**fields: Any) -> Doc:
    return spec(ingress=[fields])


def peer(**fields: Any) -> Doc:
    return rule(**{"from": [fields]})


def port(**fields: Any) -> Doc:
    return rule(ports=[fields])


def ip_block(cidr: Any, *excepts: Any) -> Doc:
    return peer(ipBlock={"cidr": cidr, **({"except": list(excepts)} if excepts else {})})


def selector(**fields: Any) -> Doc:
    return spec(podSelector=fields)


def expr(**requirement: Any) -> Doc:
    return selector(matchExpressions=[{"key": "app", "operator": "In", **requirement}])


def found(doc: Any) -> list[tuple[str, str, Level]]:
    return [(v.path, v.rule, v.level) for v in validate_network_policy(doc)]


# --- one case per rule: (rule and variant, triggering manifest, path reported, clean near miss) --

CIDR, EXC = f"{PEER}.ipBlock.cidr", f"{PEER}.ipBlock.except[0]"
NAME, LABELS, MATCH_LABELS = "metadata.name", "metadata.labels", f"{SEL}.matchLabels"
WARNINGS = {"VAL-17", "VAL-50", "UNKNOWN-FIELD"}
LOWER_IN = {"key": "a", "operator": "in", "values": ["b"]}
TEN = "10.0.0.0/8"
# fmt: off
CASES = [
    ("VAL-1 syntax", policy(name="Web_1"), NAME, policy(name="web-1")),
    ("VAL-1 length", policy(name="a" * 254), NAME, policy(name="a" * 253)),
    ("VAL-1 missing", {"spec": {}}, NAME, {"metadata": {"generateName": "np-"}}),
    ("VAL-2", policy(namespace="Shop"), "metadata.namespace", policy(namespace="shop")),
    ("VAL-3 key", policy(labels={"a b": "x"}), LABELS, policy(labels={"a.io/b": "x"})),
    ("VAL-3 value", policy(labels={"app": "x y"}), LABELS, policy(labels={"app": ""})),
    ("VAL-3 annotation", policy(annotations={"a b": "x"}), "metadata.annotations", policy()),
    ("VAL-40 via VAL-10", peer(namespaceSelector={"matchExpressions": [LOWER_IN]}),
     f"{PEER}.namespaceSelector.matchExpressions[0].operator", peer(namespaceSelector={})),
    ("VAL-11", peer(), PEER, peer(podSelector={})),
    ("VAL-11 null peer", rule(**{"from": [None]}), PEER, rule(**{"from": []})),
    ("VAL-11 null fields", peer(podSelector=None, ipBlock=None), PEER, peer(namespaceSelector={})),
    ("VAL-13", peer(ipBlock={"cidr": "10.0.0.0/8"}, namespaceSelector={}), PEER, ip_block("::/0")),
    ("VAL-14 empty", ip_block(""), CIDR, ip_block("0.0.0.0/0")),
    ("VAL-14 missing", peer(ipBlock={}), CIDR, peer(ipBlock=None, podSelector={})),
    ("VAL-15 cidr", ip_block("10.0.0.0"), CIDR, ip_block("10.0.0.0/32")),
    ("VAL-15 except", ip_block(TEN, "10.1.0.0"), EXC, ip_block(TEN, "10.1.0.0/16")),
    ("VAL-16 equal", ip_block(TEN, "10.0.0.0/8"), EXC, ip_block(TEN, "10.0.0.0/9")),
    ("VAL-16 outside", ip_block(TEN, "11.0.0.0/16"), EXC, ip_block(TEN, "10.9.0.0/16")),
    ("VAL-16 family", ip_block(TEN, "2001:db8::/64"), EXC, ip_block("::/0", "2001:db8::/64")),
    ("VAL-17 host bits", ip_block("10.0.0.5/24"), CIDR, ip_block("10.0.0.0/24")),
    ("VAL-17 leading zero", ip_block("010.1.2.3/8"), CIDR, ip_block("10.1.2.3/32")),
    ("VAL-17 mapped", ip_block("::ffff:1.2.3.4/128"), CIDR, ip_block("1.2.3.4/32")),
    ("VAL-20", spec(policyTypes=["Ingress", "Egress", "Ingress"]), "spec.policyTypes",
     spec(policyTypes=["Ingress", "Ingress"])),
    ("VAL-21", spec(policyTypes=["Ingress", "egress"]), "spec.policyTypes[1]",
     spec(policyTypes=["Ingress", "Egress"])),
    ("VAL-30 case", port(protocol="tcp"), f"{PORT}.protocol", port(protocol="SCTP")),
    ("VAL-30 icmp", port(protocol="ICMP"), f"{PORT}.protocol", port(protocol=None)),
    ("VAL-31 zero", port(port=0), f"{PORT}.port", port(port=1)),
    ("VAL-31 high", port(port=70000), f"{PORT}.port", port(port=65535)),
    ("VAL-32 order", port(port=90, endPort=80), f"{PORT}.endPort", port(port=80, endPort=80)),
    ("VAL-32 range", port(port=80, endPort=70000), f"{PORT}.endPort", port(port=80, endPort=65535)),
    ("VAL-33 quoted", port(port="80"), f"{PORT}.port", port(port=80)),
    ("VAL-33 charset", port(port="http_web"), f"{PORT}.port", port(port="http-web")),
    ("VAL-33 dashes", port(port="a--b"), f"{PORT}.port", port(port="a-b")),
    ("VAL-33 length", port(port="a" * 16), f"{PORT}.port", port(port="a" * 15)),
    ("VAL-34", port(port="http", endPort=90), f"{PORT}.endPort", port(port=80, endPort=90)),
    ("VAL-35", port(endPort=90), f"{PORT}.endPort", port(protocol="UDP")),
    ("VAL-40", expr(operator="in", values=["a"]), f"{REQ}.operator", expr(values=["a"])),
    ("VAL-40 missing", selector(matchExpressions=[{"key": "a"}]), f"{REQ}.operator",
     expr(operator="NotIn", values=["a"])),
    ("VAL-41", expr(values=[]), f"{REQ}.values", expr(values=[""])),
    ("VAL-41 missing", expr(), f"{REQ}.values", expr(operator="Exists")),
    ("VAL-42", expr(operator="Exists", values=["a"]), f"{REQ}.values",
     expr(operator="DoesNotExist", values=[])),
    ("VAL-43 label", selector(matchLabels={"-app": "a"}), MATCH_LABELS,
     selector(matchLabels={"app.kubernetes.io/name": "a"})),
    ("VAL-43 expression", expr(key="a/b/c", values=["x"]), f"{REQ}.key",
     expr(key="a.b/c", values=["x"])),
    ("VAL-43 missing", selector(matchExpressions=[{"operator": "Exists"}]), f"{REQ}.key",
     expr(operator="Exists")),
    ("VAL-44", selector(matchLabels={"app": "web app"}), MATCH_LABELS,
     selector(matchLabels={"app": "web_app"})),
    ("VAL-45", expr(values=["web", "a" * 64]), f"{REQ}.values[1]", expr(values=["web", "a" * 63])),
    ("VAL-50", ip_block("2001:DB8::/32"), CIDR, ip_block("2001:db8::/32")),
    # Decoding (TYPE) and strict field validation, beyond the VAL table.
    ("TYPE spec", policy("x"), "spec", policy(None)),
    ("TYPE podSelector", spec(podSelector=[]), SEL, spec(podSelector=None)),
    ("TYPE ingress", spec(ingress={}), "spec.ingress", spec(ingress=None)),
    ("TYPE from", rule(**{"from": "x"}), "spec.ingress[0].from", rule(**{"from": None})),
    ("TYPE ports", rule(ports=80), "spec.ingress[0].ports", rule(ports=[{"port": 80}])),
    ("TYPE policyTypes", spec(policyTypes="Ingress"), "spec.policyTypes", spec(policyTypes=[])),
    ("TYPE except item", ip_block(TEN, ["10.1.0.0/16"]), EXC, ip_block(TEN)),
    ("TYPE except", peer(ipBlock={"cidr": TEN, "except": "10.1.0.0/16"}),
     f"{PEER}.ipBlock.except", peer(ipBlock={"cidr": TEN, "except": None})),
    ("TYPE cidr", ip_block(10), CIDR, ip_block(TEN)),
    ("TYPE matchLabels", selector(matchLabels=["app"]), MATCH_LABELS, selector(matchLabels=None)),
    ("TYPE label bool", selector(matchLabels={"on": True}), MATCH_LABELS,
     selector(matchLabels={"on": "true"})),
    ("TYPE port bool", port(port=True), f"{PORT}.port", port(port=1)),
    ("TYPE port float", port(port=80.0), f"{PORT}.port", port(port=80)),
    ("TYPE endPort", port(port=80, endPort="90"), f"{PORT}.endPort", port(port=80, endPort=90)),
    ("TYPE protocol", port(protocol=6), f"{PORT}.protocol", port(protocol="UDP")),
    ("UNKNOWN-FIELD spec", spec(ingres=[]), "spec.ingres", spec(ingress=[])),
    ("UNKNOWN-FIELD rule", rule(podSelector={}), "spec.ingress[0].podSelector",
     rule(**{"from": [{"podSelector": {}}]})),
    ("UNKNOWN-FIELD port", port(port=80, name="http"), f"{PORT}.name", port(port=80)),
    ("UNKNOWN-FIELD selector", selector(app="web"), f"{SEL}.app", selector(matchLabels={"a": "b"})),
    ("NP-12", selector(matchLabels={"app": "a"}, ingress=[{}]), f"{SEL}.ingress",
     spec(podSelector={"matchLabels": {"app": "a"}}, ingress=[{}])),
    ("NP-12 peer", peer(namespaceSelector={"policyTypes": ["Egress"]}),
     f"{PEER}.namespaceSelector.policyTypes", peer(namespaceSelector={})),
]
# fmt: on


@pytest.mark.parametrize(("case", "bad", "path", "near_miss"), CASES, ids=[c[0] for c in CASES])
def test_rule(case: str, bad: Doc, path: str, near_miss: Doc) -> None:
    rule_id = case.split()[0]
    assert found(bad) == [(path, rule_id, W if rule_id in WARNINGS else E)]
    assert found(near_miss) == []


def test_typo_in_peer_is_unknown_and_leaves_the_peer_empty() -> None:
    assert found(peer(podselector={})) == [
        (PEER, "VAL-11", E),
        (f"{PEER}.podselector", "UNKNOWN-FIELD", W),
    ]


def test_mapped_except_inside_ipv4_cidr_is_admitted_as_go_does() -> None:
    assert found(ip_block("10.0.0.0/8", "::ffff:10.1.0.0/112")) == [(EXC, "VAL-17", W)]


TWO_BLOCKS = [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"ipBlock": {"cidr": "10.1.0.0/16"}}]
# fmt: off
ADMITTED = [  # what the API server takes without a word (lint.py may still have an opinion)
    pytest.param(policy(namespace=None), id="VAL-2 no namespace in a file"),
    pytest.param(peer(podSelector={"matchLabels": {"a": "b"}}, namespaceSelector={}), id="VAL-12"),
    pytest.param(spec(ingress=[{}, {}], policyTypes=["Egress"]), id="VAL-46 duplicate rules"),
    pytest.param(rule(**{"from": TWO_BLOCKS}), id="VAL-46 overlapping ipBlocks"),
    pytest.param(expr(values=["a", "a"]), id="VAL-46 duplicate values"),
    pytest.param(spec(egress=[], ingress=None, policyTypes=None), id="NP-23 nulls"),
    pytest.param(rule(ports=[None, {}, {"protocol": "UDP"}]), id="NP-61 zero ports"),
    pytest.param(policy(labels={"app": None}, annotations={"note": ""}), id="null label is empty"),
]
# fmt: on


@pytest.mark.parametrize("doc", ADMITTED)
def test_admitted(doc: Doc) -> None:
    assert found(doc) == []


# --- messages ------------------------------------------------------------------------------------


def messages(doc: Any) -> list[str]:
    return [v.message for v in validate_network_policy(doc)]


def test_quoted_port_message_says_how_to_fix() -> None:
    expected = 'quoted port "80" is a port name, not a number; write 80 without quotes'
    assert messages(port(port="80")) == [expected]


def test_type_message_names_expected_and_actual() -> None:
    assert messages(spec(egress="x")) == ['expected a list, got a string ("x")']


def test_np12_message_says_mis_indented() -> None:
    (message,) = messages(selector(egress=[]))
    assert "mis-indented" in message and "spec.podSelector" in message


def test_cidr_message_quotes_value_and_masked_network() -> None:
    (message,) = messages(ip_block("10.0.0.5/24"))
    assert '"10.0.0.5/24"' in message and "10.0.0.0/24" in message and "host bits" in message


def test_violations_come_in_document_order() -> None:
    doc = {
        "spec": {
            "policyTypes": ["ingress"],
            "ingress": [{"ports": [{"port": 0, "protocol": "tcp"}], "from": [{}]}],
        },
        "metadata": {"name": "A"},
    }
    assert [(path, rule_id) for path, rule_id, _ in found(doc)] == [
        ("spec.policyTypes[0]", "VAL-21"),
        (PORT + ".port", "VAL-31"),
        (PORT + ".protocol", "VAL-30"),
        (PEER, "VAL-11"),
        ("metadata.name", "VAL-1"),
    ]


def test_root_that_is_not_a_mapping() -> None:
    assert found(None) == [("<root>", "TYPE", E)]
    assert found([]) == [("<root>", "TYPE", E)]


def test_label_selector_alone() -> None:
    assert validate_label_selector(None, "x") == []
    assert [v.rule for v in validate_label_selector({"matchLabels": {"a": "b c"}}, "x")] == [
        "VAL-44"
    ]


# --- syntax helpers and the CIDR parser ----------------------------------------------------------


# fmt: off
SYNTAX = [  # (checker, accepted, refused)
    (valid_label_key,
     ["app", "a.io/b", "A_b.c-d", "a" * 63, f"{'a' * 253}/b"],
     ["", "a/", "/a", "a/b/c", "Exa.com/b", "a" * 64, "app\n", "-a", f"{'a' * 254}/b"]),
    (valid_label_value,
     ["", "a", "a-b_c.d", "a" * 63],
     ["a" * 64, "-a", "a b", "a\n", "é"]),
    (valid_port_name,
     ["http", "web-80", "a" * 15],
     ["a" * 16, "80", "", "Http", "a--b", "-a", "a-", "a_b"]),
    (valid_dns_subdomain,
     ["web", "a.b-c", "a" * 253],
     ["a" * 254, "Web", "a..b", "-a", "a\n", ""]),
]
# fmt: on


@pytest.mark.parametrize(("check", "good", "bad"), SYNTAX, ids=[c[0].__name__ for c in SYNTAX])
def test_syntax(check: Callable[[str], bool], good: list[str], bad: list[str]) -> None:
    assert [x for x in good if not check(x)] == []
    assert [x for x in bad if check(x)] == []


# fmt: off
SLOPPY = [  # (text, network Go reads, warnings)
    ("10.0.0.0/8", "10.0.0.0/8", []), ("10.0.0.5/24", "10.0.0.0/24", ["VAL-17"]),
    ("010.1.2.3/8", "10.0.0.0/8", ["VAL-17"]), ("10.001.0.0/16", "10.1.0.0/16", ["VAL-17"]),
    ("10.0.0.0/08", "10.0.0.0/8", ["VAL-17"]), ("1.2.3.4/032", "1.2.3.4/32", ["VAL-17"]),
    ("::ffff:1.2.3.4/128", "::ffff:102:304/128", ["VAL-17"]),
    ("::ffff:010.1.2.3/120", "::ffff:a01:200/120", ["VAL-17"]),  # sloppy embedded IPv4 too
    ("2001:db8::/32", "2001:db8::/32", []), ("2001:0db8::/32", "2001:db8::/32", ["VAL-50"]),
    ("0.0.0.0/0", "0.0.0.0/0", []), ("::/0", "::/0", []),
]
UNPARSEABLE = ["", "10.0.0.0", "10.0.0.0/33", "256.0.0.0/8", "10.0.0/8", "10.0.0.0/255.0.0.0",
               "10.0.0.0/-1", "10.0.0.0/8/8", " 10.0.0.0/8", "fe80::1%eth0/64", "::/129", "x/8",
               "١٠.0.0.0/8", "10.0.0.0/", "::ffff:01.2.3.400/120"]
# fmt: on


@pytest.mark.parametrize(("text", "network", "rules"), SLOPPY)
def test_parse_cidr_sloppy(text: str, network: str, rules: list[str]) -> None:
    net, problems = parse_cidr(text, "p")
    assert net == ip_network(network, strict=False)
    assert [(v.rule, v.level, v.path) for v in problems] == [(r, W, "p") for r in rules]


@pytest.mark.parametrize("text", UNPARSEABLE)
def test_parse_cidr_rejects(text: str) -> None:
    net, problems = parse_cidr(text, "p")
    assert net is None
    assert [(v.path, v.rule, v.level) for v in problems] == [("p", "VAL-15", E)]


# --- totality: junk anywhere never raises ------------------------------------------------------

# fmt: off
VALID: Doc = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "api", "namespace": "shop", "labels": {"a": "b"}, "annotations": {}},
    "spec": {
        "podSelector": {"matchLabels": {"app": "api"},
                        "matchExpressions": [{"key": "t", "operator": "In", "values": ["a"]}]},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {"matchLabels": {"t": "x"}}},
                              {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}, {"port": "http"}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"protocol": "UDP"}]}],
    },
}
STRINGS = ["", "In", "TCP", "Ingress", "80", "http", "010.1.2.3/8", "::ffff:1.2.3.4/120", "x" * 300,
           "a/b/c", "10.0.0.0/8", "é", "{}", "%s", "\n"]
KNOWN_RULE = re.compile(r"VAL-\d+|TYPE|UNKNOWN-FIELD|NP-12")
# fmt: on


def junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    scalars = [
        None,
        rng.choice([0, -1, 70000, 10**5000, True, False]),
        rng.random() * 1e5,
        rng.choice(STRINGS),
        float("nan"),
        80.0,
    ]
    if kind < len(scalars):
        return scalars[kind]
    if kind == 6:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [*STRINGS[:8], "matchLabels", "ipBlock", "from", "ingress", 1, None, True]
    return {rng.choice(keys): junk(rng, depth + 1) for _ in range(rng.randrange(4))}


def slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in node, so junk can land at any depth."""
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return []
    return [slot for key, child in items for slot in [(node, key), *slots(child)]]


def test_junk_anywhere_never_raises() -> None:
    rng = random.Random(20260424)
    assert validate_network_policy(VALID) == []
    for _ in range(400):
        doc = copy.deepcopy(VALID)
        for _ in range(rng.randint(1, 4)):
            container, key = rng.choice(slots(doc))
            if isinstance(container, dict) and rng.random() < 0.2:
                key = rng.choice(["extra", "ingress", "podSelector", "except", 7])
            container[key] = junk(rng)
        assert all(valid_violation(v) for v in validate_network_policy(doc))
    for _ in range(100):
        assert all(valid_violation(v) for v in validate_network_policy(junk(rng)))


def valid_violation(v: object) -> bool:
    return isinstance(v, Violation) and KNOWN_RULE.fullmatch(v.rule) is not None and bool(v.message)
