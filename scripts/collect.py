#!/usr/bin/python3
"""Collects the results.json files of moqa runs (a sweep's output folder, several experiments) into one
table: Markdown on stdout (or --markdown FILE) and CSV (--csv FILE).

Every argument is a results.json file or a folder searched recursively for them. One row per evaluated
model of each run: the full-precision baseline ("FP") and the quantized model, with the model and the experiment (when the
runs span several), the run (the sweep suffix, else the experiment name), the sweep assignments, the method,
the average code bits (routed experts only and all linear weights) and the stored bits (with f16 scales,
zero points and cached full-precision channels), the perplexity of every perplexity set (its header names
the distribution and the protocol), their averages over the known and novel distributions and overall,
the accuracy (acc, or acc_norm with --acc-norm) of every zero-shot task and its average, and the run's
wall time. A sweep evaluates the same baseline in every run: FP rows equal to an earlier FP row of the
same model are dropped (--all-baselines keeps them).

Seeds: rows of runs that differ only in experiment.seed (same model, experiment, run and method; e.g. the
folders scripts/seeds.sh writes) are merged into one row showing mean ± sd over the seeds (sample standard
deviation, n - 1) and a `seeds` column with the seeds; the CSV then has a `<column>:sd` column after every
numeric column. --per-seed keeps one row per seed instead (with a `seed` column).

The format of results.json is documented in docs/FORMATS.md ("results.json and results.md").
Standard library only.

Examples:
  scripts/collect.py results/allocation_methods
  scripts/collect.py results/seeds/table1_perplexity          # mean ± sd over seeds, one block per model
  scripts/collect.py results/allocation_methods --csv table.csv --markdown table.md
"""
import argparse
import csv
import io
import json
import math
import os
import statistics
import sys

SUPPORTED_VERSION = 1


def find_results(paths):
    """results.json files under the given files/folders, in a stable order."""
    found = []
    for path in paths:
        if os.path.isfile(path):
            found.append(path)
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                if "results.json" in files:
                    found.append(os.path.join(root, "results.json"))
        else:
            sys.exit(f"collect: {path}: no such file or folder")
    return found


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"collect: {path}: cannot read results.json: {e}")
    if summary.get("format") != "moqa-results":
        sys.exit(f"collect: {path}: not a moqa results.json (format {summary.get('format')!r})")
    if summary.get("format_version") != SUPPORTED_VERSION:
        sys.exit(f"collect: {path}: format_version {summary.get('format_version')}, expected {SUPPORTED_VERSION}")
    summary["_path"] = path
    return summary


def order(summary):
    """Models and experiments by name, the runs of one sweep in index order, seeds in order."""
    sweep = summary.get("sweep") or {}
    return (summary["model"]["path"], summary["experiment"]["name"], sweep.get("index", -1),
            summary["experiment"].get("seed", 0), summary["_path"])


def run_name(summary):
    sweep = summary.get("sweep")
    if sweep:
        return sweep["suffix"]
    return summary["experiment"]["name"]


def datasets(summaries, kind):
    """Dataset names of one kind over all runs: known ones first, each group in first-seen order."""
    seen = {}
    for s in summaries:
        for d in s["datasets"]:
            if d["kind"] == kind and d["name"] not in seen:
                # The header names the distribution and, for perplexity, the protocol (windows, gptq-...).
                seen[d["name"]] = d["distribution"] + (f", {d['protocol']}" if d.get("protocol") else "")
    known = [n for n in seen if seen[n].split(",")[0] == "known"]
    return known + [n for n in seen if n not in known], seen


def model_name(summary):
    return os.path.basename(os.path.normpath(summary["model"]["path"]))


def rows(summaries, acc_field="acc", all_baselines=False):
    """The table as a list of dicts (column -> value), and the column order."""
    ppl_sets, ppl_groups = datasets(summaries, "perplexity")
    task_sets, task_groups = datasets(summaries, "zero_shot")
    keys = []
    for s in summaries:
        for k in (s.get("sweep") or {}).get("assignments", {}):
            if k not in keys:
                keys.append(k)
    several_models = len({s["model"]["path"] for s in summaries}) > 1
    columns = (["model"] if several_models else []) + ["run", "experiment"] + keys
    columns += ["method", "bits_experts", "bits_all_linear", "stored_bits_experts", "stored_bits_all_linear"]
    columns += [f"ppl:{n}" for n in ppl_sets]
    if ppl_sets:
        columns += ["ppl:avg_known", "ppl:avg_novel", "ppl:avg"]
    columns += [f"{acc_field}:{n}" for n in task_sets]
    if task_sets:
        columns += [f"{acc_field}:avg_known", f"{acc_field}:avg_novel", f"{acc_field}:avg"]
    columns += ["wall_time_s", "path"]

    out = []
    baselines = []
    for s in summaries:
        assignments = (s.get("sweep") or {}).get("assignments", {})
        for m in s["models"]:
            if m["model"] == "fp" and not all_baselines:
                signature = (s["model"]["path"],
                             json.dumps({k: v.get("ppl") for k, v in m["perplexity"].items()}, sort_keys=True),
                             json.dumps({k: v.get(acc_field) for k, v in m["zero_shot"].items()}, sort_keys=True))
                if signature in baselines:
                    continue
                baselines.append(signature)
            row = {"model": model_name(s),
                   "run": run_name(s),
                   "experiment": s["experiment"]["name"],
                   "method": m["method"],
                   "bits_experts": m["bits_experts"],
                   "bits_all_linear": m["bits_all_linear"],
                   "stored_bits_experts": m.get("stored_bits_experts", m["bits_experts"]),
                   "stored_bits_all_linear": m.get("stored_bits_all_linear", m["bits_all_linear"]),
                   "wall_time_s": s.get("wall_time_s"),
                   "path": os.path.dirname(s["_path"]),
                   "_model_path": s["model"]["path"],
                   "_seed": s["experiment"].get("seed")}
            for k in keys:
                row[k] = assignments.get(k, "") if m["model"] != "fp" else ""
            for n in ppl_sets:
                row[f"ppl:{n}"] = m["perplexity"].get(n, {}).get("ppl")
            if ppl_sets:
                row["ppl:avg_known"] = m["averages"]["ppl"]["known"]
                row["ppl:avg_novel"] = m["averages"]["ppl"]["novel"]
                row["ppl:avg"] = m["averages"]["ppl"]["all"]
            for n in task_sets:
                row[f"{acc_field}:{n}"] = m["zero_shot"].get(n, {}).get(acc_field)
            if task_sets:
                row[f"{acc_field}:avg_known"] = m["averages"][acc_field]["known"]
                row[f"{acc_field}:avg_novel"] = m["averages"][acc_field]["novel"]
                row[f"{acc_field}:avg"] = m["averages"][acc_field]["all"]
            out.append(row)
    groups = dict(ppl_groups)
    groups.update(task_groups)
    return out, columns, groups


def merge_seeds(table, columns):
    """Rows that differ only in their seed become one row: numeric cells are (mean, sd) pairs, the others must
    agree. Returns the merged table (in first-seen order) and the columns with "seeds" after "method"."""
    merged = {}
    for row in table:
        key = (row["_model_path"], row["experiment"], row["run"], row["method"],
               json.dumps({c: row.get(c) for c in columns if c not in SEED_VARYING and not numeric_column(c)},
                          sort_keys=True, default=str))
        merged.setdefault(key, []).append(row)
    out = []
    for group in merged.values():
        row = dict(group[0])
        seeds = [r["_seed"] for r in group]
        row["seeds"] = ",".join(str(x) for x in seeds) if len(group) > 1 else str(seeds[0])
        row["_n"] = len(group)
        for c in columns:
            if not numeric_column(c):
                continue
            values = [r.get(c) for r in group]
            if len(group) > 1 and all(is_number(v) for v in values):
                row[c] = (statistics.fmean(values), statistics.stdev(values))
        out.append(row)
    i = columns.index("method") + 1
    return out, columns[:i] + ["seeds"] + columns[i:]


# Columns that may differ between the seeds of one cell.
SEED_VARYING = ("path", "wall_time_s")


def numeric_column(column):
    return column.startswith(("bits", "stored_bits", "ppl:", "acc", "wall"))


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def plain(value):
    """A value as TOML/JSON spells it (true, not Python's True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def format_cell(column, value):
    if isinstance(value, tuple):  # (mean, sd) over seeds
        return f"{format_cell(column, value[0])} ± {format_cell(column, value[1])}"
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return plain(value)
    if not is_number(value):
        return str(value) if not isinstance(value, (dict, list)) else json.dumps(value)
    if isinstance(value, int) and not numeric_column(column):  # a sweep value such as 3 bits
        return str(value)
    if column.startswith(("acc:", "acc_norm:")):
        return f"{100 * value:.2f}"
    if column.startswith(("bits", "stored_bits")):
        return f"{value:.3f}"
    if column == "wall_time_s":
        return f"{value:.1f}"
    return f"{value:.2f}"


def header_cell(column, groups):
    if ":" not in column:
        return column
    metric, name = column.split(":", 1)
    if name.startswith("avg"):
        return f"{metric} {name.replace('_', ' ')}"
    return f"{metric} {name} ({groups.get(name, '?')})"


def markdown(table, columns, groups):
    several_experiments = len({row["experiment"] for row in table}) > 1
    shown = [c for c in columns if c != "path" and (c != "experiment" or several_experiments)]
    numeric = [numeric_column(c) for c in shown]
    lines = ["| " + " | ".join(header_cell(c, groups) for c in shown) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in table:
        lines.append("| " + " | ".join(format_cell(c, row.get(c)) for c in shown) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table, columns):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    with_sd = [c for c in columns if any(isinstance(row.get(c), tuple) for row in table)]
    header = []
    for c in columns:
        header += [c, f"{c}:sd"] if c in with_sd else [c]
    writer.writerow(header)
    for row in table:
        cells = []
        for c in columns:
            v = row.get(c)
            if c in with_sd:
                mean, sd = v if isinstance(v, tuple) else (v, None)
                cells += ["" if mean is None else plain(mean), "" if sd is None else plain(sd)]
            else:
                cells.append("" if v is None else plain(v))
        writer.writerow(cells)
    return buffer.getvalue()


def write_atomic(path, text):
    temp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(temp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except OSError as e:
        if os.path.exists(temp):
            os.remove(temp)
        sys.exit(f"collect: cannot write {path}: {e.strerror or e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="results.json files or folders holding them (searched recursively)")
    parser.add_argument("--csv", help="also write the table as CSV to this file")
    parser.add_argument("--markdown", help="write the Markdown table to this file instead of stdout")
    parser.add_argument("--acc-norm", action="store_true", help="report acc_norm instead of acc for zero-shot tasks")
    parser.add_argument("--all-baselines", action="store_true", help="keep every run's FP row")
    parser.add_argument("--per-seed", action="store_true",
                        help="one row per seed instead of mean ± sd over runs that differ only in experiment.seed")
    args = parser.parse_args(argv)

    files = find_results(args.paths)
    if not files:
        sys.exit("collect: no results.json found under " + ", ".join(args.paths))
    summaries = sorted((load(f) for f in files), key=order)
    table, columns, groups = rows(summaries, "acc_norm" if args.acc_norm else "acc", args.all_baselines)
    if args.per_seed:
        for row in table:
            row["seed"] = row["_seed"]
        i = columns.index("method") + 1
        columns = columns[:i] + ["seed"] + columns[i:]
    elif len({row["_seed"] for row in table}) > 1:
        table, columns = merge_seeds(table, columns)
    text = markdown(table, columns, groups)
    if args.markdown:
        write_atomic(args.markdown, text)
    else:
        sys.stdout.write(text)
    if args.csv:
        write_atomic(args.csv, to_csv(table, columns))
    print(f"collect: {len(files)} results.json, {len(table)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
