"""Print the manifests of a tests/cases file as one multi-document YAML, so a case can
be rerun through the CLI: `python tests/case_manifests.py tests/cases/X.yaml > x.yaml`
then `netpol-doctor diagnose ... --snapshot x.yaml`."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from test_cases import _expand


def main(path: str) -> None:
    case = yaml.safe_load(Path(path).read_text())
    print(yaml.safe_dump_all([_expand(o) for o in case["objects"]], sort_keys=False), end="")


if __name__ == "__main__":
    main(sys.argv[1])
