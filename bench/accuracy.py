"""Per-field extraction accuracy over the labelled corpus, per variant (text / scan / xml).

Usage: .venv/bin/python bench/accuracy.py [--corpus var/corpus] [--workers N] [--only text]
       [--show-errors FIELD]
Generate the corpus first: .venv/bin/python bench/corpus/generate.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "keywords"))

from backoffice.invoices import extract  # noqa: E402
from backoffice.invoices.decide import decide  # noqa: E402
from backoffice.invoices.rules import RuleContext, run_rules  # noqa: E402

KEY_FIELDS = ("invoice_number", "issue_date", "total_gross", "currency", "seller_tax_id")
OTHER_FIELDS = (
    "sale_date",
    "due_date",
    "total_net",
    "total_tax",
    "amount_due",
    "seller_name",
    "buyer_name",
    "buyer_tax_id",
    "iban",
    "tax_breakdown",
)
TARGETS = {"text": 0.99, "scan": 0.95, "xml": 1.0}


def _norm(value: object) -> object:
    if isinstance(value, str):
        return " ".join(value.replace("«", '"').replace("»", '"').split()).casefold()
    if isinstance(value, list):
        return sorted(
            (
                str(float(r["rate"])) if r["rate"].replace(".", "").isdigit() else r["rate"],
                r["net"],
                r["tax"],
            )
            for r in value
        )
    return value


def _run(path: str) -> tuple[str, dict, float]:
    started = time.perf_counter()
    read = extract(Path(path))
    result = read.to_json()
    # The decision the invoice robot would take (no earlier invoices, no known accounts;
    # "today" the issue date, so date rules judge the document as it arrives).
    issue = read.value("issue_date")
    context = RuleContext(today=issue if isinstance(issue, dt.date) else None)
    result["outcome"] = decide(read, run_rules(read, context)).outcome
    return path, result, time.perf_counter() - started


def main() -> None:
    """Run extract over the corpus and print accuracy per variant and field."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT / "var" / "corpus")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=sorted(TARGETS))
    parser.add_argument("--show-errors", metavar="FIELD", default=None)
    args = parser.parse_args()
    entries = json.loads((args.corpus / "truth.json").read_text(encoding="utf-8"))
    if args.only:
        entries = [e for e in entries if e["variant"] == args.only]
    paths = [str(args.corpus / e["file"]) for e in entries]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = {path: (result, seconds) for path, result, seconds in pool.map(_run, paths)}
    elapsed = time.perf_counter() - started
    hits: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    seconds: dict[str, list[float]] = defaultdict(list)
    errors = []
    accepted: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry, path in zip(entries, paths, strict=True):
        result, took = results[path]
        variant = entry["variant"]
        seconds[variant].append(took)
        # Wrongly auto-accepted: accepted although a key field was read wrong, the kind is
        # wrong, or the invoice carries a deliberately wrong tax ID or IBAN.
        wrong = result["kind"] != entry["kind"] or not all(entry["flags"].values())
        for name in KEY_FIELDS:
            expected = entry["truth"].get(name)
            got = result["fields"].get(name, {}).get("value")
            wrong |= expected is not None and _norm(got) != _norm(expected)
        if result["outcome"] == "accepted":
            accepted[variant][0] += 1
            accepted[variant][1] += wrong
            if wrong:
                errors.append((entry["file"], "ACCEPTED", "review or correction", "accepted"))
        accepted[variant][2] += 1
        kind_ok = result["kind"] == entry["kind"]
        hits[(variant, "kind")][0] += kind_ok
        hits[(variant, "kind")][1] += 1
        for name in (*KEY_FIELDS, *OTHER_FIELDS):
            expected = entry["truth"].get(name)
            if expected is None or (name == "tax_breakdown" and not expected):
                continue
            got = result["fields"].get(name, {}).get("value")
            ok = _norm(got) == _norm(expected)
            hits[(variant, name)][0] += ok
            hits[(variant, name)][1] += 1
            if not ok and args.show_errors in (name, "all"):
                errors.append((entry["file"], name, expected, got))
        if entry["lines"]:
            got_lines = result["lines"]
            ok = len(got_lines) == len(entry["lines"]) and all(
                g["net"] == e["net"] and _norm(g["description"]) == _norm(e["description"])
                for g, e in zip(got_lines, entry["lines"], strict=False)
            )
            hits[(variant, "lines")][0] += ok
            hits[(variant, "lines")][1] += 1
            if not ok and args.show_errors in ("lines", "all"):
                errors.append((entry["file"], "lines", len(entry["lines"]), len(got_lines)))
    variants = sorted({variant for variant, _ in hits})
    print(f"{len(entries)} files in {elapsed:.1f} s with {args.workers} workers")
    header = f"{'field':<16}" + "".join(f"{v:>16}" for v in variants)
    print(header)
    print("-" * len(header))
    for name in ("kind", *KEY_FIELDS, "|", *OTHER_FIELDS, "lines"):
        if name == "|":
            print("-" * len(header))
            continue
        row = f"{name + (' *' if name in KEY_FIELDS else ''):<16}"
        for variant in variants:
            ok, total = hits.get((variant, name), (0, 0))
            row += f"{(f'{ok / total:6.1%} ({ok}/{total})' if total else '-'):>16}"
        print(row)
    print("-" * len(header))
    timing = "".join(f"{f'{sum(seconds[v]) / len(seconds[v]):.2f} s/file':>16}" for v in variants)
    print(f"{'mean time':<16}{timing}")
    auto = "".join(f"{f'{accepted[v][0]}/{accepted[v][2]}':>16}" for v in variants)
    print(f"{'auto-accepted':<16}{auto}")
    wrongly = "".join(f"{accepted[v][1]:>16}" for v in variants)
    print(f"{'wrongly accepted':<16}{wrongly}   (target 0)")
    print("* key field; targets: " + ", ".join(f"{k} >= {v:.0%}" for k, v in TARGETS.items()))
    for file, name, expected, got in errors[:60]:
        print(f"  {file}: {name}: expected {expected!r} got {got!r}")


if __name__ == "__main__":
    main()
