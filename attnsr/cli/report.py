"""Output shared by several subcommands (no arguments, no work): the list of images that failed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def report_failures(results: Sequence[Any]) -> int:
    """Print every failed image of ``results`` (each with ``dataset`` and ``failures``: (name, message)
    pairs) on stderr; the exit status: 1 when any failed, else 0."""
    failures = [(r.dataset, n, e) for r in results for n, e in r.failures]
    if not failures:
        return 0
    print(f"\n{len(failures)} image(s) failed:", file=sys.stderr)
    for dataset, n, e in failures:
        print(f"  {dataset}/{n}: {e}", file=sys.stderr)
    return 1
