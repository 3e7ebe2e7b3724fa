#!/usr/bin/python3
"""Plots perplexity against average bits, one series per method, from the results.json files of moqa
runs (typically a sweep's output folder; see scripts/collect.py for how runs are found and read).

x: the quantized model's average bits over the routed experts (--bits all_linear: over all linear
weights counted). y: the perplexity averaged over all perplexity sets (--group known / novel: over that
group; --dataset NAME: one set). Each method ("moqa/gptq", "uniform/rtn", ...) is one line through its
runs sorted by bits; the full-precision baseline is a dashed horizontal line. Log-scaled y by default
(--linear to switch off). Runs without the requested numbers are skipped with a note.

Needs matplotlib (Debian: python3-matplotlib).

Examples:
  scripts/plot_sweep.py results/allocation_methods -o ppl_vs_bits.png
  scripts/plot_sweep.py results/allocation_methods --group novel --bits all_linear -o novel.png
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collect  # noqa: E402


def ppl_of(model, dataset, group):
    if dataset:
        return model["perplexity"].get(dataset, {}).get("ppl")
    return model["averages"]["ppl"][group]


def points(summaries, bits_field, dataset, group):
    """{method: [(bits, ppl, run)]} for quantized models, and the FP perplexities seen."""
    series, baselines, skipped = {}, [], []
    for s in summaries:
        for m in s["models"]:
            y = ppl_of(m, dataset, group)
            if not collect.is_number(y):
                skipped.append(f"{collect.run_name(s)} ({m['model']})")
                continue
            if m["model"] == "fp":
                if y not in baselines:
                    baselines.append(y)
                continue
            x = m.get(bits_field)
            if not collect.is_number(x):
                skipped.append(f"{collect.run_name(s)} ({m['model']}: no {bits_field})")
                continue
            series.setdefault(m["method"], []).append((x, y, collect.run_name(s)))
    for values in series.values():
        values.sort()
    return series, baselines, skipped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="results.json files or folders holding them (searched recursively)")
    parser.add_argument("-o", "--output", default="ppl_vs_bits.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--bits", choices=["experts", "all_linear"], default="experts",
                        help="which average bits go on the x axis (default: %(default)s)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--group", choices=["all", "known", "novel"], default="all",
                      help="average perplexity over this group of sets (default: %(default)s)")
    what.add_argument("--dataset", help="the perplexity of this one set instead of an average")
    parser.add_argument("--linear", action="store_true", help="linear instead of logarithmic y axis")
    parser.add_argument("--title", help="plot title (default: the experiment names)")
    args = parser.parse_args(argv)

    summaries = sorted((collect.load(f) for f in collect.find_results(args.paths)), key=collect.order)
    if not summaries:
        sys.exit("plot_sweep: no results.json found under " + ", ".join(args.paths))
    bits_field = "bits_" + args.bits
    series, baselines, skipped = points(summaries, bits_field, args.dataset, args.group)
    for s in skipped:
        print(f"plot_sweep: skipped {s}: no value to plot", file=sys.stderr)
    if not series:
        sys.exit("plot_sweep: no quantized run has both the perplexity and the bits to plot")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = "osD^v<>pP*Xh"
    for i, (method, values) in enumerate(sorted(series.items())):
        ax.plot([v[0] for v in values], [v[1] for v in values], marker=markers[i % len(markers)], label=method)
    for i, y in enumerate(baselines):
        ax.axhline(y, color="black", linestyle="--", linewidth=1, label="FP" if i == 0 else None)
    if not args.linear:
        ax.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("average bits (" + ("routed experts" if args.bits == "experts" else "all linear weights") + ")")
    what = f"perplexity on {args.dataset}" if args.dataset else f"perplexity ({args.group} sets, mean)"
    ax.set_ylabel(what)
    names = sorted({s["experiment"]["name"] for s in summaries})
    ax.set_title(args.title or ", ".join(names))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    temp = f"{args.output}.tmp.{os.getpid()}.png"
    try:
        fig.savefig(temp, dpi=120)
        os.replace(temp, args.output)
    except OSError as e:
        if os.path.exists(temp):
            os.remove(temp)
        sys.exit(f"plot_sweep: cannot write {args.output}: {e.strerror or e}")
    finally:
        plt.close(fig)
    print(f"plot_sweep: {sum(len(v) for v in series.values())} runs of {len(series)} methods -> {args.output}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
