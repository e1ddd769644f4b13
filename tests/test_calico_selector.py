"""Calico selector language (SEMANTICS.md §5.3, CAL-SEL / CAL-20 / CAL-21).

Sources for the expected values:
- [DOC-SEL] tigera/docs `calico/_includes/content/_selectors.mdx` (the "Selectors" section of
  docs.tigera.io reference/resources/networkpolicy and globalnetworkpolicy).
- [DOC-LABELS] tigera/docs `calico/network-policy/get-started/calico-policy/calico-labels.mdx`.
- [DOC-NP] tigera/docs `calico/reference/resources/networkpolicy.mdx` (sample YAML, defaults).
- [CAL-PARSER-TEST] projectcalico/calico `libcalico-go/lib/selector/parser/parser_test.go` and
  `tokenizer/tokenizer_test.go`: Calico's own accept/reject and canonical-form tables.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest

from netpol_doctor.calico_selector import (
    MAX_LABEL_LENGTH,
    NAME_LABEL,
    NAMESPACE_LABEL,
    ORCHESTRATOR_K8S,
    ORCHESTRATOR_LABEL,
    SERVICEACCOUNT_LABEL,
    CalicoSelectorError,
    Selector,
    parse,
)

Labels = dict[str, str]

# --- every operator, present and absent keys (the absent-key rows are the traps) ----------
OPERATORS: list[tuple[str, Labels, bool]] = [
    ("k == 'v'", {"k": "v"}, True),
    ("k == 'v'", {"k": "w"}, False),
    ("k == 'v'", {}, False),
    ("k == ''", {"k": ""}, True),
    ("k == ''", {}, False),
    ("k != 'v'", {"k": "v"}, False),
    ("k != 'v'", {"k": "w"}, True),
    ("k != 'v'", {}, True),  # TRAP: absent key matches !=
    ("k != ''", {}, True),
    ("has(k)", {"k": ""}, True),
    ("has(k)", {"other": "k"}, False),  # TRAP: has() needs the key
    ("!has(k)", {}, True),
    ("!has(k)", {"k": "v"}, False),
    ("k in {'a', 'b'}", {"k": "b"}, True),
    ("k in {'a', 'b'}", {"k": "c"}, False),
    ("k in {'a', 'b'}", {}, False),
    ("k in {}", {"k": ""}, False),
    ("k not in {'a', 'b'}", {"k": "a"}, False),
    ("k not in {'a', 'b'}", {"k": "c"}, True),
    ("k not in {'a', 'b'}", {}, True),  # TRAP: absent key matches not in
    ("k not in {}", {}, True),
    ("k contains 'ell'", {"k": "hello"}, True),
    ("k contains 'ell'", {"k": "help"}, False),
    ("k contains ''", {"k": "x"}, True),
    ("k contains ''", {}, False),  # substring tests need the key
    ("k starts with 'he'", {"k": "hello"}, True),
    ("k starts with 'he'", {"k": "ahe"}, False),
    ("k starts with 'he'", {}, False),
    ("k ends with 'lo'", {"k": "hello"}, True),
    ("k ends with 'lo'", {"k": "lol"}, False),
    ("k ends with 'lo'", {}, False),
    ("all()", {}, True),
    ("!all()", {"k": "v"}, False),
    ("global()", {}, True),  # Calico's ast.go: GlobalNode.Evaluate is true; it is a scope
    ("!k == 'v'", {}, True),
    ("!k != 'v'", {}, False),
    ("!k not in {'v'}", {}, False),
]

PRECEDENCE: list[tuple[str, Labels, bool]] = [
    ("a == '1' || b == '1' && c == '1'", {"a": "1"}, True),  # || lowest
    ("a == '1' || b == '1' && c == '1'", {"b": "1"}, False),
    ("a == '1' || b == '1' && c == '1'", {"b": "1", "c": "1"}, True),
    ("(a == '1' || b == '1') && c == '1'", {"a": "1"}, False),
    ("b == '1' && c == '1' || a == '1'", {"a": "1"}, True),
    ("!a == '1' && b == '1'", {"b": "1"}, True),  # ! binds to one operation
    ("!a == '1' && b == '1'", {"a": "1", "b": "1"}, False),
    ("!(a == '1' && b == '1')", {"a": "1"}, True),
    ("!has(a) || has(b)", {}, True),
    ("!!has(a)", {"a": ""}, True),
    ("!!!has(a)", {"a": ""}, False),
    ("! !!has(a)", {}, True),
    ("a == '1' && b == '1' || c == '1' && d == '1'", {"c": "1", "d": "1"}, True),
    ("a == '1' && b == '1' || c == '1' && d == '1'", {"a": "1", "d": "1"}, False),
    ("((((has(a)))))", {"a": "x"}, True),
    ("!(!(has(a)))", {"a": "x"}, True),
    ("(has(a) || (has(b) && !(has(c) || has(d))))", {"b": "", "d": ""}, False),
    ("(has(a) || (has(b) && !(has(c) || has(d))))", {"b": ""}, True),
]

QUOTING_AND_LEXING: list[tuple[str, Labels, bool]] = [
    ('a == "it\'s"', {"a": "it's"}, True),
    ("a == 'say \"hi\"'", {"a": 'say "hi"'}, True),
    ("a == ' spaced  '", {"a": " spaced  "}, True),
    ("a == ' spaced  '", {"a": "spaced"}, False),
    ("a == '&& || ( ) { } , !'", {"a": "&& || ( ) { } , !"}, True),
    ("a == 'é'", {"a": "é"}, True),
    ('a in {"\'", \'"\', "c"}', {"a": '"'}, True),
    ("app.kubernetes.io/name == 'web'", {"app.kubernetes.io/name": "web"}, True),
    ("projectcalico.org/name == 'x'", {"projectcalico.org/name": "x"}, True),
    ("has(calico/k8s_NS-.1/role)", {"calico/k8s_NS-.1/role": ""}, True),
    ('a=="b"', {"a": "b"}, True),
    ("a\t==\t'b'", {"a": "b"}, True),
    ("  has( a )  ", {"a": ""}, True),
    ("a  starts   with 'x'", {"a": "xy"}, True),
    ("a startswith 'x'", {"a": "xy"}, True),
    ("a endswith 'y'", {"a": "xy"}, True),
    ('a contains"y"', {"a": "xy"}, True),
    ("a notin{'x'}", {}, True),
    ("a in {'x',}", {"a": "x"}, True),  # trailing comma accepted by Calico's parser
    ("contains contains 'contains'", {"contains": "contains"}, True),
    ("in in {'in'}", {"in": "in"}, True),
    ("has == 'x' && all == 'y'", {"has": "x", "all": "y"}, True),
    ("", {"any": "thing"}, True),  # empty = all() (spec.selector default)
    (" \t ", {}, True),
]

# [CAL-PARSER-TEST] selectorTests, a representative slice (selector, matches, non-matches).
UPSTREAM: list[tuple[str, list[Labels], list[Labels]]] = [
    ('a == "b"', [{"a": "b"}, {"a": "b", "c": "d"}], [{}, {"a": "c"}, {"c": "d"}]),
    ('a == "b" && c == "d"', [{"a": "b", "c": "d"}], [{}, {"a": "b", "c": "e"}, {"a": "b"}]),
    ('a == "b" || c == "d"', [{"a": "b"}, {"c": "d"}], [{}, {"a": "e", "c": "e"}]),
    ('a not in {"\'", \'"\', "c"}', [{}, {"a": "e"}], [{"a": "c"}, {"a": '"'}, {"a": "'"}]),
    ('a != "a"', [{}], [{"a": "a"}]),
    ('!a in {"a"}', [{"a": "b"}], []),
    ("!(has(b) || !has(a))", [{"a": "a"}], []),
    ("a != 'a1' && !b == 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("! a == 'a1' || ! b == 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("a == 'a1' || b != 'b1'", [{"a": "a1", "b": "b1"}], []),
]


@pytest.mark.parametrize(
    ("text", "labels", "expected"), OPERATORS + PRECEDENCE + QUOTING_AND_LEXING
)
def test_matches(text: str, labels: Labels, expected: bool) -> None:
    sel = parse(text)
    assert sel.matches(labels) is expected
    assert sel.matcher(labels) is expected
    assert parse(str(sel)).matches(labels) is expected  # canonical form means the same


@pytest.mark.parametrize(("text", "good", "bad"), UPSTREAM)
def test_calico_parser_table(text: str, good: list[Labels], bad: list[Labels]) -> None:
    sel = parse(text)
    assert all(sel.matches(labels) for labels in good)
    assert not any(sel.matches(labels) for labels in bad)


# --- docs examples, each quoted with the result the docs state -----------------------------
DOC_PRECEDENCE = "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
WEP = {NAMESPACE_LABEL: "foo", ORCHESTRATOR_LABEL: ORCHESTRATOR_K8S, "color": "red"}
DOC_EXAMPLES: list[tuple[str, str, Labels, bool]] = [
    ("DOC-SEL: all() 'Match all in-scope resources'", "all()", {"x": "y"}, True),
    ("DOC-SEL: '!all()' to match no resources", "!all()", {}, False),
    ("DOC-SEL: k == 'v' 'with the label k and value v'", "k == 'v'", {"k": "v"}, True),
    ("DOC-SEL: k != 'v' 'without label k or ...'", "k != 'v'", {}, True),
    ("DOC-SEL: k != 'v' '... value not equal to v'", "k != 'v'", {"k": "v"}, False),
    ("DOC-SEL: has(k) 'independent of value'", "has(k)", {"k": ""}, True),
    ("DOC-SEL: '!has(k)' for pods without k", "!has(k)", {}, True),
    ("DOC-SEL: k in { 'v1', 'v2' }", "k in { 'v1', 'v2' }", {"k": "v2"}, True),
    ("DOC-SEL: k not in, 'without label k'", "k not in { 'v1', 'v2' }", {}, True),
    ("DOC-SEL: k not in, 'value not in the set'", "k not in { 'v1', 'v2' }", {"k": "v1"}, False),
    ("DOC-SEL: k contains 's'", "k contains 's'", {"k": "ass"}, True),
    ("DOC-SEL: k starts with 's'", "k starts with 's'", {"k": "as"}, False),
    ("DOC-SEL: k ends with 's'", "k ends with 's'", {"k": "as"}, True),
    ("DOC-SEL: 'Any resource that did not have label my-label'", DOC_PRECEDENCE, {}, True),
    ("DOC-SEL: ... even with a role", DOC_PRECEDENCE, {"role": "db"}, True),
    (
        "DOC-SEL: starts with prod and role frontend",
        DOC_PRECEDENCE,
        {"my-label": "prod-1", "role": "frontend"},
        True,
    ),
    (
        "DOC-SEL: starts with prod, role not in set",
        DOC_PRECEDENCE,
        {"my-label": "prod-1", "role": "db"},
        False,
    ),
    (
        "DOC-SEL: role business but not prod",
        DOC_PRECEDENCE,
        {"my-label": "dev", "role": "business"},
        False,
    ),
    (
        "DOC-LABELS: namespaceSelector foo/bar",
        'projectcalico.org/name in {"foo", "bar"}',
        {NAME_LABEL: "bar"},
        True,
    ),
    (
        "DOC-LABELS: namespaceSelector baz",
        'projectcalico.org/name == "baz"',
        {NAME_LABEL: "foo"},
        False,
    ),
    (
        "DOC-LABELS: GNP selector, equivalent form",
        'projectcalico.org/namespace in {"foo", "bar"} && color == "red"',
        WEP,
        True,
    ),
    ("DOC-LABELS: rule selector namespace baz", 'projectcalico.org/namespace == "baz"', WEP, False),
    (
        "DOC-LABELS: has(orchestrator) 'matches only WorkloadEndpoints'",
        "has(projectcalico.org/orchestrator)",
        WEP,
        True,
    ),
    (
        "DOC-LABELS: ... so not HostEndpoints",
        "has(projectcalico.org/orchestrator)",
        {"role": "host"},
        False,
    ),
    (
        "DOC-LABELS: orchestrator == k8s 'matches only Kubernetes Pods'",
        'projectcalico.org/orchestrator == "k8s"',
        {ORCHESTRATOR_LABEL: "openstack"},
        False,
    ),
    (
        "DOC-NP sample: selector role == 'database'",
        "role == 'database'",
        {"role": "database"},
        True,
    ),
    ("DOC-NP sample: source selector", "role == 'frontend'", {"role": "database"}, False),
    (
        "DOC-NP: serviceAccountSelector by name",
        "projectcalico.org/name == 'sa1'",
        {NAME_LABEL: "sa1"},
        True,
    ),
]


@pytest.mark.parametrize(("source", "text", "labels", "expected"), DOC_EXAMPLES)
def test_doc_examples(source: str, text: str, labels: Labels, expected: bool) -> None:
    assert parse(text).matches(labels) is expected, source


def test_doc_precedence_bracketing() -> None:
    # DOC-SEL prints the "bracketed" form two ')' short; Calico rejects it as printed.
    printed = (
        "((!(has(my-label)) || ((my-label starts with 'prod') && (role in {'frontend','business'}))"
    )
    with pytest.raises(CalicoSelectorError, match="expected '\\)' to close the '\\(' at column 2"):
        parse(printed)
    assert str(parse(printed + "))")) == str(parse(DOC_PRECEDENCE))


def test_doc_namespace_selector_equivalence() -> None:
    # DOC-LABELS: namespaceSelector name == "some-namespace" + selector foo == "bar" is
    # equivalent to selector (foo == "bar") && (projectcalico.org/namespace == "some-namespace").
    ns_sel, sel = parse('projectcalico.org/name == "some-namespace"'), parse('foo == "bar"')
    combined = parse('(foo == "bar") && (projectcalico.org/namespace == "some-namespace")')
    for ns in ("some-namespace", "other"):
        for pod in ({"foo": "bar"}, {"foo": "baz"}, {}):
            separate = ns_sel.matches({NAME_LABEL: ns}) and sel.matches(pod)
            assert combined.matches({**pod, NAMESPACE_LABEL: ns}) is separate


def test_label_constants() -> None:
    assert NAME_LABEL == "projectcalico.org/name"
    assert NAMESPACE_LABEL == "projectcalico.org/namespace"
    assert (ORCHESTRATOR_LABEL, ORCHESTRATOR_K8S) == ("projectcalico.org/orchestrator", "k8s")
    assert SERVICEACCOUNT_LABEL == "projectcalico.org/serviceaccount"


# --- canonical form, keys, object behaviour -----------------------------------------------
@pytest.mark.parametrize(
    ("text", "canonical"),
    [  # [CAL-PARSER-TEST] canonicalisationTests and Visitor tests
        ("", "all()"),
        (" all() ", "all()"),
        (" (all() )", "all()"),
        ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
        ('! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")'),
        ('a == "\'"', 'a == "\'"'),
        ("a == '\"'", "a == '\"'"),
        ("a startswith '\"'", "a starts with '\"'"),
        ('a endswith "\'"', 'a ends with "\'"'),
        ("a!='\"'", "a != '\"'"),
        ('a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'),
        ("k == 'v' && x == 'y'", '(k == "v" && x == "y")'),
        ("!(k == 'v')", '!k == "v"'),
        (
            "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
            '!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})',
        ),
        ("a not in {}", "a not in {}"),
        (" global() ", "global()"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical
    assert str(parse(canonical)) == canonical


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("all()", set()),
        ("has(a) && !b == 'x' || c in {'d'} || e not in {} || f contains 'g'", set("abcef")),
        (
            "app.kubernetes.io/name starts with 'w' && !(x ends with 'y')",
            {"app.kubernetes.io/name", "x"},
        ),
    ],
)
def test_keys(text: str, keys: set[str]) -> None:
    assert parse(text).keys() == frozenset(keys)


def test_selector_object() -> None:
    sel = Selector("a == 'b'")
    assert sel == parse("a == 'b'") and hash(sel) == hash(parse("a == 'b'"))
    assert sel.source == "a == 'b'" and "a == 'b'" in repr(sel)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.source = "x"  # type: ignore[misc]
    assert parse("global()").is_global and not parse("all()").is_global
    with pytest.raises(CalicoSelectorError, match="a selector is a string, not NoneType"):
        Selector(None)  # type: ignore[arg-type]


def test_global_admission() -> None:
    # validator/v3 validateEntityRule + CRD CEL: global() only as a whole rule namespaceSelector.
    assert parse(" global() ").is_global
    with pytest.raises(CalicoSelectorError, match="can only be used in a rule's namespaceSelector"):
        parse("global()", allow_global=False)
    for text in ("global() || has(a)", "(global())", "!global()"):
        with pytest.raises(CalicoSelectorError, match="cannot be combined with other selectors"):
            parse(text)
    assert parse("has(global)", allow_global=False).keys() == {"global"}


def test_large_but_valid_selectors() -> None:
    deep = parse("(" * 100 + "!has(a)" + ")" * 100)
    assert deep.matches({}) and not deep.matches({"a": ""})
    wide = parse(" && ".join(f"k{i} != 'x'" for i in range(5000)))
    assert wide.matches({}) and not wide.matches({"k4999": "x"})
    assert parse(" || ".join(f"k{i} == 'x'" for i in range(5000))).matches({"k4999": "x"})


def test_label_length_limit() -> None:
    assert parse("a" * MAX_LABEL_LENGTH + " == 'x'").matches({"a" * MAX_LABEL_LENGTH: "x"})
    with pytest.raises(CalicoSelectorError, match="label longer than 512"):
        parse("a" * (MAX_LABEL_LENGTH + 1) + " == 'x'")


# --- errors: the column, the problem, and only CalicoSelectorError -------------------------
ERRORS: list[tuple[str, int, str]] = [
    ("(a == 'b'", 9, "expected ')' to close the '(' at column 1, found the end of the selector"),
    ("has(a))", 6, "unbalanced ')': no '(' to close"),
    ("((has(a))", 9, "expected ')' to close the '(' at column 1"),
    ("()", 1, "expected a label, has(k), all(), global(), '!' or '(', found ')'"),
    (")", 0, "found ')'"),
    ("a == 'b", 5, "unterminated string: no closing '"),
    ('a in {"x}', 6, 'unterminated string: no closing "'),
    ("a = 'b'", 2, "expected '==', found a lone '='"),
    ("a === 'b'", 4, "expected '==', found a lone '='"),
    ("a & b", 2, "expected '&&', found a lone '&'"),
    ("a <> 'b'", 2, "expected an operator after label 'a' (==, !=, in, not in, contains"),
    ("a like 'b'", 2, "expected an operator after label 'a'"),
    ("a", 1, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, "),
    ("a == b", 5, "expected a quoted string after '==', found label 'b'"),
    ("a contains b", 11, "expected a quoted string after 'contains', found label 'b'"),
    ("a starts with b", 14, "expected a quoted string after 'starts with'"),
    ("a not in x", 9, "expected '{' after 'not in'"),
    ("a in 'x'", 5, "expected '{' to open the set after 'in', found string \"x\""),
    ("a in {'x'", 9, "expected ',' or '}', found the end of the selector"),
    ("a in {'x' 'y'}", 10, "expected ',' or '}', found string \"y\""),
    ("a in {,}", 6, "expected a quoted string or '}', found ','"),
    ("'b1' == b", 0, "expected a label, has(k), all(), global(), '!' or '(', found string \"b1\""),
    ("a == 'b' c == 'd'", 9, "expected '&&', '||' or the end of the selector, found label 'c'"),
    ("has(a) garbage", 7, "expected '&&', '||' or the end of the selector, found label 'garbage'"),
    ("has(a) &&", 9, "found the end of the selector"),
    ("!", 1, "found the end of the selector"),
    ("has(a", 5, "expected ')' to close has("),
    ("has()", 4, "expected a label name inside has( )"),
    ("has (a)", 4, "expected an operator after label 'has'"),
    ("all(", 4, "expected ')' to close all("),
    ("%", 0, "unexpected character '%'"),
    ("a == 'b' || %", 12, "unexpected character '%'"),
    ("a == 'b'\n", 8, "unexpected character '\\n'"),  # newline is not whitespace to Calico
    ("é == 'x'", 0, "unexpected character 'é'"),
    ("(" * 101 + "all()" + ")" * 101, 100, "parentheses nested too deeply"),
]


@pytest.mark.parametrize(("text", "position", "problem"), ERRORS)
def test_errors(text: str, position: int, problem: str) -> None:
    with pytest.raises(CalicoSelectorError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.position, err.source) == (position, text)
    assert problem in err.problem
    assert f"column {position + 1}: " in str(err) and problem in str(err)


# [CAL-PARSER-TEST] badSelectors and tokenizer rejects: every one must be rejected.
@pytest.mark.parametrize(
    "text",
    ["b == b", "b contains b", "b starts with b", "b ends with b", "'b1' == b", "b", "a b", "!",
     'foo == "bar" &', 'foo == "bar" |', "foo != ||", 'foo in {"", ||', 'foo in ""', '"FOO',
     "\"FOO'", "'FOO", "(", '(a == "foo"', ")", "()", "%", 'a == "b" && %', 'a == "b" || %',
     "a ", "has(foo) &&", 'label starts foo "value"', 'label ends foo "value"',
     'label squiggles "value"'],
)  # fmt: skip
def test_calico_rejects(text: str) -> None:
    with pytest.raises(CalicoSelectorError):
        parse(text)


# --- fuzz: random strings from the token alphabet never raise anything else ----------------
ALPHABET = ["a", "b", "app.kubernetes.io/name", "'x'", '"y"', "''", "==", "!=", "!", "&&", "||",
            "(", ")", "{", "}", ",", "in", "not in", "notin", "contains", "starts with",
            "ends with", "has(a)", "has(", "all()", "global()", " ", "\t", "=", "&", "|", "'",
            '"', "%", "\n", "é", "with", "not"]  # fmt: skip
SAMPLES: list[Labels] = [{}, {"a": "x"}, {"a": "y", "b": "x"}, {"app.kubernetes.io/name": ""}]


def test_fuzz_token_soup() -> None:
    rng = random.Random(20260401)
    parsed = 0
    for _ in range(600):
        text = " ".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))
        try:
            sel = parse(text)
        except CalicoSelectorError as err:
            assert 0 <= err.position <= len(text) and "column" in str(err)
            continue
        parsed += 1
        again = parse(str(sel))
        assert [again.matches(s) for s in SAMPLES] == [sel.matches(s) for s in SAMPLES], text
    assert parsed > 20  # the soup does reach valid selectors


Ref = Callable[[Labels], bool]


def _leaf(rng: random.Random) -> tuple[str, Ref]:
    k, v = rng.choice(["a", "b", "x.io/c"]), rng.choice(["", "x", "xy", "yx"])
    vals = set(rng.sample(["", "x", "xy", "yx"], rng.randint(0, 3)))
    lit = "{" + ", ".join(f"'{s}'" for s in sorted(vals)) + "}"
    table: list[tuple[str, Ref]] = [
        (f"{k} == '{v}'", lambda L: k in L and L[k] == v),
        (f"{k} != '{v}'", lambda L: k not in L or L[k] != v),
        (f"has({k})", lambda L: k in L),
        (f"{k} in {lit}", lambda L: k in L and L[k] in vals),
        (f"{k} not in {lit}", lambda L: k not in L or L[k] not in vals),
        (f"{k} contains '{v}'", lambda L: k in L and v in L[k]),
        (f"{k} starts with '{v}'", lambda L: k in L and L[k].startswith(v)),
        (f"{k} ends with '{v}'", lambda L: k in L and L[k].endswith(v)),
        ("all()", lambda L: True),
    ]
    return rng.choice(table)


def _expr(rng: random.Random, depth: int) -> tuple[str, Ref]:
    if depth == 0 or rng.random() < 0.3:
        return _leaf(rng)
    (s1, r1), (s2, r2), (s3, r3) = (_expr(rng, depth - 1) for _ in range(3))
    l1, l2, l3 = _leaf(rng), _leaf(rng), _leaf(rng)
    forms: list[tuple[str, Ref]] = [
        (f"!({s1})", lambda L: not r1(L)),
        (f"({s1}) && ({s2})", lambda L: r1(L) and r2(L)),
        (f"({s1}) || ({s2}) && ({s3})", lambda L: r1(L) or (r2(L) and r3(L))),
        (f"!{l1[0]} && {l2[0]} || {l3[0]}", lambda L: (not l1[1](L) and l2[1](L)) or l3[1](L)),
    ]
    return rng.choice(forms)


def test_differential_against_reference() -> None:
    rng = random.Random(7)
    keys, values = ["a", "b", "x.io/c"], ["", "x", "xy", "yx", "zyx"]
    for _ in range(300):
        text, ref = _expr(rng, 3)
        sel = parse(text)
        for _ in range(8):
            labels = {k: rng.choice(values) for k in keys if rng.random() < 0.6}
            assert sel.matches(labels) is ref(labels), (text, labels)
            assert parse(str(sel)).matches(labels) is ref(labels), (str(sel), labels)
