"""Shared test helpers: builders that turn compact case descriptions into real
manifests, written to disk and read back through the same loader users run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
