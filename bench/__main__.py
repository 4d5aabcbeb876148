"""``python -m bench [NAME...]``: run the benchmarks (all by default) and print ratios."""

from __future__ import annotations

import importlib
import sys

#: Benchmark modules in bench/, each with ``run() -> list[str]`` (the lines to print).
BENCHMARKS = ["intake", "ocr", "textpdf", "documents", "statements", "review_queue", "contracts"]


def main(names: list[str]) -> int:
    """Run the named benchmarks (all when none) and print their result lines."""
    failed = 0
    for name in names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        for line in module.run():
            print(f"   {line}", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
