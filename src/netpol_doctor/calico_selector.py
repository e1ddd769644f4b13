"""Calico selector expressions (projectcalico.org/v3): parse once, evaluate fast.

Grammar and edge cases follow Calico's own code (projectcalico/calico
`libcalico-go/lib/selector/tokenizer/tokenizer.go`, `parser/parser.go`, `parser/ast.go`) and
[CAL-SEL]: `k != 'v'` and `k not in {..}` match when k is absent; `has`, `==`, `in`,
`contains`, `starts with`, `ends with` need k. Precedence: match operators > `( )` > `!` >
`&&` > `||`; a `!` binds to the next operation only. Strings are '..' or ".." without
escapes; label keys are runs of `[A-Za-z0-9_./-]` (max 512); whitespace is space or tab only
(a newline is an error); `startswith`, `endswith`, `notin`, `{}` and a trailing comma in a
set are accepted. Beyond Calico: parentheses nest at most 100 deep.

Empty text is `all()`, right for `spec.selector`/`spec.serviceAccountSelector` [CAL-NP]; an
empty rule `selector` means "not set" (every packet, where `all()` is only known endpoints
and network sets) [CAL-ENTITY], CAL-20, so callers test for "" first. `global()` evaluates
true (ast.go); it is a scope, "non-namespaced resources", admitted only as the whole of a
rule `namespaceSelector` [CAL-SCOPES]: see `Selector.is_global`, `parse(allow_global=...)`.

Labels Calico adds for selection (constants below): Namespaces and ServiceAccounts carry
`projectcalico.org/name` = their name (docs `calico-labels.mdx`; `NameLabel` in calico
`libcalico-go/lib/backend/k8s/conversion/constants.go`). A pod's WorkloadEndpoint carries
`projectcalico.org/namespace`, `projectcalico.org/orchestrator: k8s` and, if the pod names
one, `projectcalico.org/serviceaccount` (calico `api/pkg/apis/projectcalico/v3/constants.go`,
set in `conversion/workload_endpoint_default.go`); HostEndpoints lack the orchestrator label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Final, NamedTuple, TypeAlias

NAME_LABEL: Final = "projectcalico.org/name"
NAMESPACE_LABEL: Final = "projectcalico.org/namespace"
ORCHESTRATOR_LABEL: Final = "projectcalico.org/orchestrator"
ORCHESTRATOR_K8S: Final = "k8s"
SERVICEACCOUNT_LABEL: Final = "projectcalico.org/serviceaccount"
MAX_LABEL_LENGTH: Final = 512
_MAX_DEPTH: Final = 100

Matcher: TypeAlias = Callable[[Mapping[str, str]], bool]


class CalicoSelectorError(ValueError):
    """A selector Calico would reject; `position` is the 0-based offset of the problem."""

    def __init__(self, source: str, position: int, problem: str) -> None:
        self.source, self.position, self.problem = source, position, problem
        super().__init__(f"invalid Calico selector {source!r}: column {position + 1}: {problem}")


# --- tokens -------------------------------------------------------------------------------
_IDENT: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
_PAIRS: Final = {"=": "==", "&": "&&", "|": "||"}
_WORD_OPS: Final = (("contains",), ("starts", "with"), ("ends", "with"), ("not", "in"), ("in",))
_OPERATORS: Final = "==, !=, in, not in, contains, starts with, ends with"


class _Tok(NamedTuple):
    kind: str  # "label", "string", "has", "all()", "global()", "end" or the operator text
    value: str
    pos: int


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _ident(text: str, i: int) -> int:
    j = i
    while j < len(text) and text[j] in _IDENT:
        j += 1
    if j - i > MAX_LABEL_LENGTH:
        raise CalicoSelectorError(text, i, f"label longer than {MAX_LABEL_LENGTH} characters")
    return j


def _word_operator(text: str, i: int) -> tuple[str, int] | None:
    for words in _WORD_OPS:
        j = i
        for word in words:
            if not text.startswith(word, j):
                break
            j += len(word)
            if len(words) > 1:  # Calico: "starts  with", "startswith", "notin" all accepted
                j = _skip_ws(text, j)
        else:
            if j >= len(text) or text[j] not in _IDENT:
                return " ".join(words), j
            if text[j - 1] in " \t":  # Calico rejects `starts with x` here, `contains x` later
                want = "a quoted string" if words[-1] == "with" else "'{'"
                raise CalicoSelectorError(text, j, f"expected {want} after '{' '.join(words)}'")
    return None


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while (i := _skip_ws(text, i)) < len(text):
        c = text[i]
        if c in "(){},":
            toks.append(_Tok(c, "", i))
            i += 1
        elif c in "'\"":
            end = text.find(c, i + 1)
            if end < 0:
                raise CalicoSelectorError(text, i, f"unterminated string: no closing {c}")
            toks.append(_Tok("string", text[i + 1 : end], i))
            i = end + 1
        elif c in _PAIRS:
            if not text.startswith(_PAIRS[c], i):
                raise CalicoSelectorError(text, i, f"expected '{_PAIRS[c]}', found a lone '{c}'")
            toks.append(_Tok(_PAIRS[c], "", i))
            i += 2
        elif c == "!":
            op = "!=" if text.startswith("!=", i) else "!"
            toks.append(_Tok(op, "", i))
            i += len(op)
        elif toks and toks[-1].kind == "label":
            found = _word_operator(text, i)
            if found is None:
                label = toks[-1].value
                problem = f"expected an operator after label {label!r} ({_OPERATORS})"
                raise CalicoSelectorError(text, i, problem)
            toks.append(_Tok(found[0], "", i))
            i = found[1]
        elif fn := next((f for f in ("has", "all", "global") if text.startswith(f + "(", i)), ""):
            start = _skip_ws(text, i + len(fn) + 1)
            end = _ident(text, start) if fn == "has" else start
            if fn == "has" and end == start:
                raise CalicoSelectorError(text, start, "expected a label name inside has( )")
            close = _skip_ws(text, end)
            if not text.startswith(")", close):
                raise CalicoSelectorError(text, close, f"expected ')' to close {fn}(")
            toks.append(_Tok("has" if fn == "has" else fn + "()", text[start:end], i))
            i = close + 1
        else:
            end = _ident(text, i)
            if end == i:
                problem = f"unexpected character {c!r}; expected a label, has(), all(), '!' or '('"
                raise CalicoSelectorError(text, i, problem)
            toks.append(_Tok("label", text[i:end], i))
            i = end
    toks.append(_Tok("end", "", len(text)))
    return toks


# --- syntax tree: small frozen nodes, each compiled once into a closure -------------------


def _quote(value: str) -> str:
    quote = "'" if '"' in value else '"'
    return quote + value + quote


@dataclass(frozen=True, slots=True)
class _Node:
    op: str  # "all()", "global()", "has", a match operator, "!", "&&" or "||"
    key: str = ""
    values: tuple[str, ...] = ()  # the string, or the set sorted and de-duplicated
    operands: tuple[_Node, ...] = ()

    def compile(self) -> Matcher:
        """One closure per node, built once: evaluating does no parsing and no regex."""
        op, k, vs = self.op, self.key, frozenset(self.values)
        v = self.values[0] if self.values else ""
        if op in ("all()", "global()"):
            return lambda labels: True
        if op == "has":
            return lambda labels: k in labels
        if op == "==":
            return lambda labels: labels.get(k) == v
        if op == "!=":
            return lambda labels: labels.get(k) != v  # absent key: None != v, a match
        if op == "in":
            return lambda labels: labels.get(k) in vs
        if op == "not in":
            return lambda labels: labels.get(k) not in vs  # absent key: a match
        if op == "contains":
            return lambda labels: (x := labels.get(k)) is not None and v in x
        if op == "starts with":
            return lambda labels: (x := labels.get(k)) is not None and x.startswith(v)
        if op == "ends with":
            return lambda labels: (x := labels.get(k)) is not None and x.endswith(v)
        fs = [c.compile() for c in self.operands]
        if op == "!":
            f = fs[0]
            return lambda labels: not f(labels)
        if len(fs) > 8:  # a flat loop: nested closures would recurse once per operand
            test = all if op == "&&" else any
            return lambda labels: test(f(labels) for f in fs)
        if op == "&&":
            return reduce(lambda a, b: lambda labels: a(labels) and b(labels), fs)
        return reduce(lambda a, b: lambda labels: a(labels) or b(labels), fs)

    def __str__(self) -> str:  # Calico's canonical form: collectFragments in ast.go
        if self.op in ("all()", "global()"):
            return self.op
        if self.op == "has":
            return f"has({self.key})"
        if self.op == "!":
            return f"!{self.operands[0]}"
        if self.op in ("&&", "||"):
            return "(" + f" {self.op} ".join(map(str, self.operands)) + ")"
        if self.op in ("in", "not in"):
            return f"{self.key} {self.op} {{{', '.join(map(_quote, self.values))}}}"
        return f"{self.key} {self.op} {_quote(self.values[0])}"

    def keys(self) -> frozenset[str]:
        return frozenset([self.key] if self.key else []).union(*(c.keys() for c in self.operands))


_COMPARE_OPS: Final = frozenset({"==", "!=", "contains", "starts with", "ends with"})


class _Parser:
    """Recursive descent over Calico's grammar: or := and ('||' and)*, and := op ('&&' op)*."""

    def __init__(self, text: str) -> None:
        self.text, self.toks, self.i, self.depth = text, _tokenize(text), 0, 0

    def fail(self, tok: _Tok, expected: str) -> CalicoSelectorError:
        found = {"end": "the end of the selector", "label": f"label {tok.value!r}"}.get(
            tok.kind, f"string {_quote(tok.value)}" if tok.kind == "string" else f"'{tok.kind}'"
        )
        return CalicoSelectorError(self.text, tok.pos, f"expected {expected}, found {found}")

    def root(self) -> _Node:
        if self.toks[0].kind == "end":
            return _Node("all()")
        node = self.expr()
        tok = self.toks[self.i]
        if tok.kind == ")":
            raise CalicoSelectorError(self.text, tok.pos, "unbalanced ')': no '(' to close")
        if tok.kind != "end":
            raise self.fail(tok, "'&&', '||' or the end of the selector")
        return node

    def expr(self, level: int = 0) -> _Node:
        """Level 0 joins level-1 terms with '||', level 1 joins operations with '&&'."""
        op = ("||", "&&")[level]
        parts = [self.operation() if level else self.expr(1)]
        while self.toks[self.i].kind == op:
            self.i += 1
            parts.append(self.operation() if level else self.expr(1))
        return parts[0] if len(parts) == 1 else _Node(op, operands=tuple(parts))

    def operation(self) -> _Node:
        negated = False
        while self.toks[self.i].kind == "!":
            negated, self.i = not negated, self.i + 1
        tok = self.toks[self.i]
        node: _Node
        if tok.kind == "label":
            node = self.match(tok)
        elif tok.kind == "(":
            node = self.group(tok)
        elif tok.kind in ("has", "all()", "global()"):
            self.i += 1
            node = _Node(tok.kind, tok.value)
        else:
            raise self.fail(tok, "a label, has(k), all(), global(), '!' or '('")
        return _Node("!", operands=(node,)) if negated else node

    def match(self, label: _Tok) -> _Node:
        op = self.toks[self.i + 1]
        if op.kind not in _COMPARE_OPS and op.kind not in ("in", "not in"):
            raise self.fail(op, f"an operator after label {label.value!r} ({_OPERATORS})")
        self.i += 2
        nxt = self.toks[self.i]
        if op.kind in _COMPARE_OPS:
            if nxt.kind != "string":
                raise self.fail(nxt, f"a quoted string after '{op.kind}'")
            self.i += 1
            return _Node(op.kind, label.value, (nxt.value,))
        if nxt.kind != "{":
            raise self.fail(nxt, f"'{{' to open the set after '{op.kind}'")
        self.i += 1
        values: set[str] = set()
        while (tok := self.toks[self.i]).kind == "string":
            values.add(tok.value)
            self.i += 1
            if self.toks[self.i].kind != ",":
                break
            self.i += 1  # a trailing comma is accepted, as in Calico
        if (end := self.toks[self.i]).kind != "}":
            after_value = self.toks[self.i - 1].kind == "string"
            raise self.fail(end, "',' or '}'" if after_value else "a quoted string or '}'")
        self.i += 1
        return _Node(op.kind, label.value, tuple(sorted(values)))

    def group(self, paren: _Tok) -> _Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise CalicoSelectorError(self.text, paren.pos, "parentheses nested too deeply")
        self.i += 1
        node = self.expr()
        close = self.toks[self.i]
        if close.kind != ")":
            raise self.fail(close, f"')' to close the '(' at column {paren.pos + 1}")
        self.i += 1
        self.depth -= 1
        return node


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector; `Selector(text)` parses (raising `CalicoSelectorError`)."""

    source: str
    _root: _Node = field(init=False, repr=False, compare=False)
    _match: Matcher = field(init=False, repr=False, compare=False)
    _keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            kind = type(self.source).__name__
            raise CalicoSelectorError(repr(self.source), 0, f"a selector is a string, not {kind}")
        root = _Parser(self.source).root()
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_match", root.compile())
        object.__setattr__(self, "_keys", root.keys())

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self._match(labels)

    @property
    def matcher(self) -> Matcher:
        return self._match

    @property
    def is_global(self) -> bool:
        """True for `global()`: in a rule namespaceSelector, "non-namespaced resources"."""
        return self._root.op == "global()"

    def keys(self) -> frozenset[str]:
        return self._keys

    def __str__(self) -> str:  # Calico's canonical form, `Selector.String()` in ast.go
        return str(self._root)


def parse(text: str, *, allow_global: bool = True) -> Selector:
    """Parse, then apply Calico's admission checks on `global()` (validator/v3, CRD CEL).

    `allow_global=False` for `spec.selector`, `spec.serviceAccountSelector`, a GNP's
    `spec.namespaceSelector`, rule `selector`/`notSelector` (any "global(" is rejected);
    True for a rule `namespaceSelector`, where `global()` must be the whole selector.
    """
    sel = Selector(text)
    at = text.find("global(")
    if at >= 0:
        if not allow_global:
            problem = "global() can only be used in a rule's namespaceSelector"
            raise CalicoSelectorError(text, at, problem)
        toks = _tokenize(text)
        if len(toks) != 2 or toks[0].kind != "global()":
            raise CalicoSelectorError(text, at, "global() cannot be combined with other selectors")
    return sel
