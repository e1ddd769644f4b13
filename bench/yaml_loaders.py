"""YAML -> Python data: each candidate loader against PyYAML's CSafeLoader, on the two
shapes a 20,000-pod cluster comes in, median of several runs.

    python bench/yaml_loaders.py --pods 20000 --runs 3
    python bench/yaml_loaders.py --pods 20000 --runs 3 --only pyyaml,netpol_doctor

Inputs (cached under --data, default /tmp/netpol-doctor-yaml-bench):

- `list`: `kubectl get pods -A -o yaml`, one `kind: List` whose `items` are the pods;
- `stream`: the same pods one per document (`---` separated), as `helm template` or
  `kubectl get pods -o yaml | yq -s` print them.

The pods come from bench/generate.py, made as verbose as a real API server's: each
carries the `managedFields` that `--show-managed-fields` prints (kubelet's status
fields, the controller's spec), volumes, a projected service-account token and
tolerations. Candidates not installed are listed as such; `netpol_doctor` is this
project's `yamlload.load_stream` (the fast path plus its checks, lines and duplicate
keys included). PyPI candidates are installed by hand for the comparison:
`pip install rapidyaml yaml-rs fastyaml-rs libfyaml ryaml pyyaml-rs`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from generate import generate_cluster

Loader = Callable[[str], Any]


def _managed_fields(pod: dict[str, Any]) -> list[dict[str, Any]]:
    created = pod["metadata"]["creationTimestamp"]
    containers = {
        f'k:{{"name":"{c["name"]}"}}': {
            ".": {},
            "f:image": {},
            "f:imagePullPolicy": {},
            "f:name": {},
            "f:ports": {
                f'k:{{"containerPort":{p["containerPort"]},"protocol":"{p["protocol"]}"}}': {
                    ".": {},
                    "f:containerPort": {},
                    "f:name": {},
                    "f:protocol": {},
                }
                for p in c.get("ports", [])
            },
            "f:resources": {"f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
            "f:terminationMessagePath": {},
            "f:terminationMessagePolicy": {},
        }
        for c in pod["spec"]["containers"]
    }
    return [
        {
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {".": {}, **{f"f:{k}": {} for k in pod["metadata"]["labels"]}},
                    "f:ownerReferences": {".": {}, 'k:{"uid":"0"}': {}},
                },
                "f:spec": {
                    "f:containers": containers,
                    "f:dnsPolicy": {},
                    "f:enableServiceLinks": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:serviceAccountName": {},
                    "f:terminationGracePeriodSeconds": {},
                },
            },
            "manager": "kube-controller-manager",
            "operation": "Update",
            "time": created,
        },
        {
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:status": {
                    "f:conditions": {
                        f'k:{{"type":"{t}"}}': {
                            ".": {},
                            "f:lastProbeTime": {},
                            "f:lastTransitionTime": {},
                            "f:status": {},
                            "f:type": {},
                        }
                        for t in ("ContainersReady", "Initialized", "PodScheduled", "Ready")
                    },
                    "f:containerStatuses": {},
                    "f:hostIP": {},
                    "f:hostIPs": {},
                    "f:phase": {},
                    "f:podIP": {},
                    "f:podIPs": {".": {}, f'k:{{"ip":"{pod["status"]["podIP"]}"}}': {}},
                    "f:startTime": {},
                }
            },
            "manager": "kubelet",
            "operation": "Update",
            "subresource": "status",
            "time": created,
        },
    ]


def _verbose(pod: dict[str, Any]) -> dict[str, Any]:
    """What the API server adds on top of the generator's pod."""
    pod["metadata"]["managedFields"] = _managed_fields(pod)
    spec = pod["spec"]
    spec.update(
        enableServiceLinks=True,
        preemptionPolicy="PreemptLowerPriority",
        priority=0,
        securityContext={},
        serviceAccount=spec["serviceAccountName"],
        tolerations=[
            {
                "effect": "NoExecute",
                "key": f"node.kubernetes.io/{k}",
                "operator": "Exists",
                "tolerationSeconds": 300,
            }
            for k in ("not-ready", "unreachable")
        ],
        volumes=[
            {
                "name": "kube-api-access-x7k2p",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                "name": "kube-root-ca.crt",
                            }
                        },
                    ],
                },
            }
        ],
    )
    for c in spec["containers"]:
        c["volumeMounts"] = [
            {
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "name": "kube-api-access-x7k2p",
                "readOnly": True,
            }
        ]
    for cs in pod["status"]["containerStatuses"]:
        cs["containerID"] = "containerd://" + "0123456789abcdef" * 4
        cs["imageID"] = cs["image"] + "@sha256:" + "fedcba9876543210" * 4
        cs["lastState"] = {}
    for cond in pod["status"]["conditions"]:
        cond["lastProbeTime"] = None
    return pod


def make_inputs(pods: int, data: Path) -> dict[str, Path]:
    out = {"list": data / f"pods-{pods}-list.yaml", "stream": data / f"pods-{pods}-stream.yaml"}
    if all(p.is_file() for p in out.values()):
        return out
    data.mkdir(parents=True, exist_ok=True)
    cluster = generate_cluster(pods, max(1, pods // 4), 1)
    items = [_verbose(p) for p in cluster.files["pods"]]
    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    # kubectl never writes anchors; PyYAML would for objects the generator shares
    # (coredns' ports), and a cross-entry alias sends a List to the slow path.
    dumper = type("NoAliases", (base,), {"ignore_aliases": lambda self, data: True})
    doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    opts: dict[str, Any] = {"Dumper": dumper, "sort_keys": True, "default_flow_style": False}
    out["list"].write_text(yaml.dump(doc, **opts), encoding="utf-8")
    out["stream"].write_text(yaml.dump_all(items, explicit_start=True, **opts), encoding="utf-8")
    return out


# --- candidates ------------------------------------------------------------------------


def _pyyaml(text: str) -> Any:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def _netpol_doctor(text: str) -> Any:
    from netpol_doctor.yamlload import load_stream

    return load_stream(text)


def _rapidyaml(text: str) -> Any:
    import orjson
    import ryml  # type: ignore[import-not-found]

    tree = ryml.parse_in_arena(text.encode())
    root = tree.root_id()
    docs = list(ryml.children(tree, root)) if tree.is_stream(root) else [root]
    return [orjson.loads(ryml.emit_json_malloc(tree, d)) for d in docs]


def _yaml_rs(text: str) -> Any:
    import yaml_rs  # type: ignore[import-not-found]

    return yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=None)


def _fastyaml(text: str) -> Any:
    import fast_yaml  # type: ignore[import-not-found]

    return list(fast_yaml.safe_load_all(text))


def _libfyaml(text: str) -> Any:
    import libfyaml  # type: ignore[import-not-found]

    return [d.to_python() for d in libfyaml.loads_all(text, mode="yaml1.1")]


def _ryaml(text: str) -> Any:
    import ryaml  # type: ignore[import-not-found]

    return ryaml.loads_all(text)


def _pyyaml_rs(text: str) -> Any:
    import pyyaml_rs  # type: ignore[import-not-found]

    return list(pyyaml_rs.safe_load_all(text))


CANDIDATES: dict[str, Loader] = {
    "pyyaml": _pyyaml,
    "netpol_doctor": _netpol_doctor,
    "rapidyaml": _rapidyaml,
    "yaml-rs": _yaml_rs,
    "fastyaml-rs": _fastyaml,
    "libfyaml": _libfyaml,
    "ryaml": _ryaml,
    "pyyaml-rs": _pyyaml_rs,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path("/tmp/netpol-doctor-yaml-bench"))
    ap.add_argument("--only", default="", help="comma-separated candidate names")
    ap.add_argument("--shapes", default="list,stream")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    inputs = make_inputs(args.pods, args.data)
    print(f"{'shape':8} {'loader':14} {'MB':>7} {'seconds':>9} {'MB/s':>7} {'vs pyyaml':>9}")
    for shape in args.shapes.split(","):
        text = inputs[shape].read_text(encoding="utf-8")
        mb = len(text.encode()) / 1e6
        base: float | None = None
        for name in names:
            fn = CANDIDATES[name]
            times = []
            try:
                for _ in range(args.runs):
                    start = time.perf_counter()
                    fn(text)
                    times.append(time.perf_counter() - start)
            except ImportError:
                print(f"{shape:8} {name:14} {mb:7.1f} {'not installed':>9}")
                continue
            except Exception as exc:  # a candidate that fails on the input
                print(f"{shape:8} {name:14} {mb:7.1f} failed: {type(exc).__name__}: {exc}"[:200])
                continue
            sec = statistics.median(times)
            if name == "pyyaml":
                base = sec
            ratio = f"{base / sec:8.1f}x" if base else ""
            print(
                f"{shape:8} {name:14} {mb:7.1f} {sec:9.2f} {mb / sec:7.2f} {ratio:>9}", flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
