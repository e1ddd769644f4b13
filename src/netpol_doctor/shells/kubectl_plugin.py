"""`kubectl netpol-doctor`: the tool with kubectl's argument habits.

kubectl runs any executable named `kubectl-<name>` on the PATH as `kubectl <name>`,
with `_` in the file name standing for `-` in the command
(https://kubernetes.io/docs/tasks/extend-kubectl/kubectl-plugins/), so the wheel's
`kubectl-netpol_doctor` script is `kubectl netpol-doctor`. Differences from
`netpol-doctor`:

- `TYPE/NAME` (`deploy/api`, `deployment/api`, `sts/db`, `ds/x`, `svc/api`, `pod/x`,
  `po/x`) and a bare NAME (a pod), in the namespace of `-n`; `NS/NAME` still works;
- without `-n`, a live read uses the namespace of the kubeconfig context (kubectl's
  default; in a pod, its service account's namespace), and `default` with
  `--snapshot`; `matrix` and `lint` on a snapshot cover all of it, as files carry
  their own namespaces;
- `-A/--all-namespaces` and `-l/--selector` for the commands that list (`pod`,
  `matrix`; `lint` takes `-A` and `-n`);
- every output names what it read: a `read from:` first line in text, a `read_from`
  field in JSON (`source` is taken: a diagnosis's source endpoint); SARIF and CSV
  stay as their consumers expect them. `pod -o json` is therefore an object,
  `{"read_from": ..., "pods": [...]}`, where netpol-doctor prints the bare list.

Other commands (`check`, `verify`, `diff`, `snapshot`, ...) are `netpol-doctor`'s.
As there, each command imports the library it runs when it runs.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import cli as base

if TYPE_CHECKING:
    from ..live import Scope
    from ..model import LabelSelector, Pod
    from ..snapshot import Snapshot

__all__ = ["kubectl_cli", "main", "parse_label_selector", "read_input", "to_spec"]

_SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


# --- kubectl's habits -------------------------------------------------------------


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace kubectl would use without -n: the context's, else `default`."""
    try:
        from kubernetes import config as kube_config

        loader: Any = kube_config  # the loaders carry no type hints
        contexts, active = loader.list_kube_config_contexts(config_file=kubeconfig)
        chosen = active if context is None else next(c for c in contexts if c["name"] == context)
        ns = (chosen or {}).get("context", {}).get("namespace")
        return ns if isinstance(ns, str) and ns else "default"
    except Exception:  # no kubeconfig: in a pod, or the read itself will say what is wrong
        try:
            return Path(_SA_NAMESPACE).read_text().strip() or "default"
        except OSError:
            return "default"


def to_spec(arg: str, namespace: str) -> str:
    """kubectl's `TYPE/NAME` -> the `TYPE/NS/NAME` the resolver takes; a bare NAME is
    a pod of `namespace`; `NS/NAME` and the tool's own forms pass through."""
    from ..inputs.workloads import KIND_ALIASES

    head, sep, rest = arg.partition("/")
    if not sep or "/" in rest:
        return arg if sep or arg in ("dns", "apiserver") or ".svc" in arg else f"{namespace}/{arg}"
    if head.lower() in KIND_ALIASES:
        kind = "svc" if KIND_ALIASES[head.lower()] == "Service" else head.lower()
        return f"{kind}/{namespace}/{rest}"
    return arg


def _scope(*specs: str) -> Scope:
    """The namespaces a live read needs: `deploy/NS/NAME` lives in NS."""
    from ..inputs.workloads import canonical_kind

    plain = []
    for spec in specs:
        head, _, rest = spec.partition("/")
        kind = canonical_kind(head) if rest.count("/") == 1 else None
        plain.append(rest if kind is not None and kind != "Service" else spec)
    return base._scope_for(*plain)


_TERM = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[^\s=!,()]+)"
    r"|(?P<key>[^\s=!,()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?)\s*$"
)


def parse_label_selector(text: str) -> LabelSelector:
    """kubectl's `-l` syntax (k8s.io/apimachinery labels.Parse): `k=v`, `k==v`, `k!=v`,
    `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by commas."""
    from ..model import LabelSelector, Operator, Requirement

    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    reqs = []
    for term in terms:
        m = _TERM.match(term)
        if m is None or not term.strip():
            raise click.BadParameter(f"{text!r} is not a label selector (at {term.strip()!r})")
        if m["absent"]:
            reqs.append(Requirement(m["absent"], Operator.DOES_NOT_EXIST))
        elif m["op"]:
            op = Operator.NOT_IN if m["op"] == "!=" else Operator.IN
            reqs.append(Requirement(m["key"], op, (m["value"],)))
        elif m["set"]:
            values = tuple(sorted(v.strip() for v in m["values"].split(",") if v.strip()))
            op = Operator.IN if m["set"] == "in" else Operator.NOT_IN
            reqs.append(Requirement(m["key"], op, values))
        else:
            reqs.append(Requirement(m["key"], Operator.EXISTS))
    return LabelSelector(tuple(reqs))


def _by_key(pod: Pod) -> str:
    return pod.key


def _selected(pods: list[Pod], selector: str | None) -> list[Pod]:
    if selector is None:
        return pods
    from ..selectors import Tri, match_selector

    sel = parse_label_selector(selector)
    return [p for p in pods if match_selector(sel, p.label_map).result is Tri.YES]


# --- reading, with what was read ----------------------------------------------------


def read_input(
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    scope: Scope | None = None,
) -> tuple[Snapshot, dict[str, Any]]:
    """The snapshot and where it came from: {"snapshot": [paths]} or {"context": name,
    "server": url} (a live read)."""
    if snapshots:
        return base._load(snapshots), {"snapshot": list(snapshots)}
    from ..live import Scope, to_snapshot

    collection = base._collect(kubeconfig, context, scope or Scope(None))
    source = {"context": collection.context, "server": collection.server}
    return to_snapshot(collection), source


def source_line(source: dict[str, Any]) -> str:
    if "snapshot" in source:
        return "read from: snapshot " + ", ".join(source["snapshot"])
    where = f" ({source['server']})" if source.get("server") else ""
    return f"read from: context {source.get('context') or '?'}{where}"


def _namespace(
    namespace: str | None, snapshots: tuple[str, ...], kubeconfig: str | None, context: str | None
) -> str:
    if namespace is not None:
        return namespace
    return "default" if snapshots else context_namespace(kubeconfig, context)


def _emit_json(data: Any, source: dict[str, Any]) -> None:
    if isinstance(data, dict):
        data = {"read_from": source, **data}
    click.echo(json.dumps(data, indent=2))


def _emit_text(text: str, source: dict[str, Any], use: bool = False) -> None:
    click.echo(source_line(source))
    click.echo(text, nl=False, color=use)


# --- the commands -----------------------------------------------------------------


def _ns_option(f: Any) -> Any:
    return click.option(
        "--namespace",
        "-n",
        default=None,
        help="Namespace (default: the kubeconfig context's; `default` with --snapshot).",
    )(f)


@click.group(
    cls=base._Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    name="kubectl netpol-doctor",
)
@click.version_option(package_name="netpol-doctor")
def kubectl_cli() -> None:
    """Why NetworkPolicy blocks traffic, with kubectl's argument habits. Read-only.

    TYPE/NAME arguments (deploy/api, sts/db, ds/x, svc/api, pod/x, or a bare pod NAME)
    in the namespace of -n, else the kubeconfig context's.
    """


@kubectl_cli.command("diagnose")
@click.argument("source")
@click.argument("destination")
@click.option("--port", "-p", metavar="PORT", callback=base._port_option, default=None)
@click.option("--protocol", default="TCP", show_default=True)
@click.option("--symptom", type=base._LibraryChoice(base._symptom_names), default=None)
@_ns_option
@click.option("--output", "-o", type=click.Choice(["text", "json", "markdown"]), default="text")
@base._common
def diagnose_cmd(
    source: str,
    destination: str,
    port: int | str | None,
    protocol: str,
    symptom: str | None,
    namespace: str | None,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Can SOURCE reach DESTINATION on --port? (TYPE/NAME: deploy/api, svc/api, pod/x.)

    Exit code: 0 allowed, 1 denied, 3 unknown, 2 usage or input error.
    """
    from ..diagnose import Symptom, diagnose

    ns = _namespace(namespace, snapshots, kubeconfig, context)
    src, dst = to_spec(source, ns), to_spec(destination, ns)
    icmp = protocol.upper() == "ICMP"
    if port is None and destination not in ("dns", "apiserver") and not icmp:
        raise click.UsageError("--port is required (except for the dns and apiserver checks)")
    scope = None if snapshots else _scope(src, dst)
    snapshot, where = read_input(snapshots, kubeconfig, context, scope)
    diag = diagnose(
        snapshot,
        src,
        dst,
        port,
        base._protocol(protocol),
        namespace=ns,
        cni=base._cni(snapshot, cni),
        symptom=Symptom(symptom) if symptom else None,
    )
    problems = base._report_problems(snapshot)
    if output == "json":
        from ..render.structured import diagnosis_dict

        _emit_json(diagnosis_dict(diag, problems), where)
    elif output == "markdown":
        from ..render.markdown import render_diagnosis_markdown

        click.echo(f"<!-- {source_line(where)} -->")
        click.echo(render_diagnosis_markdown(diag, problems), nl=False)
    else:
        from ..render.text import render_diagnosis

        use = base._use_color(color)
        _emit_text(render_diagnosis(diag, use), where, use)
    raise SystemExit(base._verdict_exit(diag.verdict))


@kubectl_cli.command("pod")
@click.argument("pod", required=False)
@_ns_option
@click.option("--all-namespaces", "-A", is_flag=True, help="Pods of every namespace.")
@click.option("--selector", "-l", default=None, help="Pods with these labels (k=v,k2 in (a,b)).")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@base._common
def pod_cmd(
    pod: str | None,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Which policies select POD (or every pod -l selects), per direction."""
    if (pod is None) == (selector is None):
        raise click.UsageError("give a POD (TYPE/NAME) or -l SELECTOR, not both")
    from ..podinfo import pod_view
    from ..render.structured import pod_dict
    from ..render.text import render_pod
    from ..targets import resolve

    ns = _namespace(namespace, snapshots, kubeconfig, context)
    if pod is not None:
        spec = to_spec(pod, ns)
        scope = None if snapshots else _scope(spec)
        snapshot, where = read_input(snapshots, kubeconfig, context, scope)
        target = resolve(snapshot, spec, namespace=ns)
        pods = [m.endpoint.pod for m in target.members if m.endpoint.pod]
    else:
        from ..live import Scope

        scope = Scope(None) if all_namespaces else Scope(frozenset({ns}))
        snapshot, where = read_input(snapshots, kubeconfig, context, scope)
        pool = snapshot.pods if all_namespaces else snapshot.pods_by_namespace.get(ns, [])
        pods = sorted(_selected([p for p in pool if not p.finished], selector), key=_by_key)
    views = [pod_view(snapshot, p) for p in pods]
    base._report_problems(snapshot)
    if output == "json":
        data = {"read_from": where, "pods": [pod_dict(v) for v in views]}
        click.echo(json.dumps(data, indent=2))
        return
    use = base._use_color(color)
    text = "\n".join(render_pod(v, use) for v in views) or "no pod matches\n"
    _emit_text(text, where, use)


@kubectl_cli.command("matrix")
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Repeatable.")
@click.option("--all-namespaces", "-A", is_flag=True)
@click.option("--selector", "-l", default=None, help="Only pods with these labels.")
@click.option("--port", "-p", metavar="NUMBER", callback=base._port_number_option, default=None)
@click.option("--protocol", default="TCP", show_default=True)
@click.option("--all-ports", is_flag=True)
@click.option(
    "--output", "-o", type=click.Choice(["text", "json", "csv", "summary"]), default="text"
)
@base._common
def matrix_cmd(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    selector: str | None,
    port: int | None,
    protocol: str,
    all_ports: bool,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """The allowed/denied table for the pods in scope (-n, -A, -l), on one port."""
    if port is None and not all_ports:
        raise click.UsageError("give --port P, or --all-ports")
    from ..live import Scope
    from ..matrix import compute_matrix, compute_port_sweep
    from ..render.matrixout import iter_csv, iter_json, render_summary, render_sweep_summary
    from ..render.structured import finding_dict
    from ..render.text import render_matrix

    if not namespaces and not all_namespaces and not snapshots:
        namespaces = (context_namespace(kubeconfig, context),)
    if all_namespaces:
        namespaces = ()
    scope = Scope(frozenset(namespaces)) if namespaces else Scope(None)
    snapshot, where = read_input(snapshots, kubeconfig, context, scope)
    if selector is not None:
        # Pairs among the chosen pods do not depend on the others: policies select by
        # labels, not by which other pods exist.
        snapshot = replace(snapshot, pods=_selected(snapshot.pods, selector))
    problems = [finding_dict(f) for f in base._report_problems(snapshot)]
    cni_info = base._cni(snapshot, cni)
    if all_ports:
        sw = compute_port_sweep(snapshot, namespaces, cni_info)
        if output == "json":
            from ..render.matrixout import iter_sweep_json

            _emit_json(json.loads("".join(iter_sweep_json(sw, problems))), where)
        else:
            _emit_text(render_sweep_summary(sw), where)
        return
    assert port is not None
    m = compute_matrix(snapshot, port, base._protocol(protocol), namespaces, cni_info)
    if output == "csv":
        sys.stdout.writelines(iter_csv(m))
    elif output == "json":
        _emit_json(json.loads("".join(iter_json(m, problems))), where)
    elif output == "summary" or len(m.pods) > base._GRID_LIMIT:
        _emit_text(render_summary(m), where)
    else:
        use = base._use_color(color)
        _emit_text(render_matrix(m, use), where, use)


@kubectl_cli.command("lint")
@_ns_option
@click.option("--all-namespaces", "-A", is_flag=True)
@click.option("--ignore", multiple=True)
@click.option("--enable", multiple=True)
@click.option(
    "--fail-on", type=click.Choice(["error", "warning", "info"]), default="error", show_default=True
)
@click.option("--output", "-o", type=click.Choice(["text", "json", "sarif"]), default="text")
@base._common
def lint_cmd(
    namespace: str | None,
    all_namespaces: bool,
    ignore: tuple[str, ...],
    enable: tuple[str, ...],
    fail_on: str,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Check policies (docs/lint/) in the namespace (-n, else the context's; -A: all;
    a snapshot: all of it unless -n)."""
    from ..lint import RULES, LintOptions, lint

    known = {r.id for r in RULES}
    for rule_id in (*ignore, *enable):
        if rule_id not in known:
            raise click.BadParameter(f"{rule_id!r} is not a lint rule (see docs/lint/)")
    if namespace is None and not all_namespaces and not snapshots:
        namespace = context_namespace(kubeconfig, context)
    only = None if all_namespaces else namespace
    snapshot, where = read_input(snapshots, kubeconfig, context)
    found = lint(snapshot, LintOptions(frozenset(ignore), frozenset(enable), cni=cni))
    if only is not None:
        found = [f for f in found if any(r.namespace == only for r in f.objects[:1])]
    base.report_lint(snapshot, found, output, fail_on, read_from=where, heading=source_line(where))


for _name, _command in base.cli.commands.items():
    if _name not in kubectl_cli.commands:
        kubectl_cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """`kubectl-netpol_doctor`: the same error handling and exit codes as netpol-doctor."""
    return base.run_group(kubectl_cli, argv, prog_name="kubectl netpol-doctor")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
