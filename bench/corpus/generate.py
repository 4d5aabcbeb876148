"""Write the labelled invoice corpus (files + truth.json) for bench/accuracy.py.

Usage: .venv/bin/python bench/corpus/generate.py [--out var/corpus] [--count 330] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "keywords"))

from backoffice.invoices.corpus import generate  # noqa: E402


def main() -> None:
    """Generate the corpus and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "corpus")
    parser.add_argument("--count", type=int, default=330)
    parser.add_argument("--seed", type=int, default=20261120)
    args = parser.parse_args()
    started = time.perf_counter()
    entries = generate(args.out, args.count, args.seed)
    by = Counter((e.variant, e.language) for e in entries)
    layouts = Counter(e.layout for e in entries)
    print(f"{len(entries)} invoices in {args.out} ({time.perf_counter() - started:.1f} s)")
    print("by variant/language:", dict(sorted(by.items())))
    print("by layout/format:", dict(sorted(layouts.items())))


if __name__ == "__main__":
    main()
