#!/usr/bin/python3
"""Plots of MoQa's calibration statistics from a moqa results.h5 (docs/FORMATS.md, "results.h5").

Writes PNG files to the output folder:
  activation_<distribution>.png   routed fraction per expert, MoE layers x experts (one per distribution)
  significance.png                expert significance S_exp per layer: one bar per distribution and the
                                  synthesized mean with its standard deviation across distributions
  coactivation_layer_<L>.png      co-activation per MoE layer: share of tokens routed to both experts
                                  (per distribution) and the phi correlation of the pooled counts

Needs numpy, h5py and matplotlib (Debian: python3-numpy python3-h5py python3-matplotlib).

Examples:
  scripts/plot_analysis.py results/quickstart/results.h5                  # PNGs in results/quickstart/plots
  scripts/plot_analysis.py results/quickstart/results.h5 -o figs --layers 1 3 --dpi 200
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_strings(dataset):
    values = dataset.asstr()[()] if hasattr(dataset, "asstr") else dataset[()]
    if isinstance(values, (str, bytes)):
        values = [values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def layer_key(name):
    return int(name.split("_", 1)[1])


def load(path):
    """Everything the plots need, as numpy arrays keyed by distribution and MoE layer."""
    try:
        return read_analysis(path)
    except OSError as e:
        sys.exit(f"plot_analysis: {path}: cannot read it as HDF5: {e}")
    except KeyError as e:
        sys.exit(f"plot_analysis: {path}: /analysis lacks {e} (not a moqa results.h5, or an older format; "
                 "docs/FORMATS.md)")


def read_analysis(path):
    with h5py.File(path, "r") as f:
        if "analysis" not in f:
            sys.exit(f"plot_analysis: {path}: no /analysis group (did the calibrate stage run?)")
        analysis = f["analysis"]
        names = read_strings(analysis["distributions"])
        data = {"distributions": names, "layers": [], "per": {}, "synthesized": {}}
        for name in names:
            group = analysis[name]
            layers = sorted((k for k in group.keys() if k.startswith("layer_")), key=layer_key)
            data["layers"] = [layer_key(k) for k in layers]
            per = {}
            for key in layers:
                g = group[key]
                entry = {
                    "tokens": int(g.attrs["tokens"]),
                    "routed_fraction": g["routed_fraction"][()],
                    "expert_significance": g["expert_significance"][()],
                }
                if "coactivation" in g:
                    entry["coactivation"] = g["coactivation"][()]
                per[layer_key(key)] = entry
            data["per"][name] = per
        if "synthesized" in analysis:
            for key, g in analysis["synthesized"].items():
                entry = {
                    "mean": g["significance_mean"][()],
                    "variance": g["significance_variance"][()],
                }
                if "correlation" in g:
                    entry["correlation"] = g["correlation"][()]
                data["synthesized"][layer_key(key)] = entry
        data["channel_significance"] = analysis.attrs.get("channel_significance", "")
        if isinstance(data["channel_significance"], bytes):
            data["channel_significance"] = data["channel_significance"].decode()
    return data


def safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def save(fig, out, name, dpi):
    """Writes the figure to out/name (under a temporary name, then renamed), closes it, returns the path."""
    path = os.path.join(out, name)
    temp = f"{path}.tmp.{os.getpid()}.png"
    fig.savefig(temp, dpi=dpi)
    plt.close(fig)
    os.replace(temp, path)
    return path


def plot_activation(data, out, dpi):
    paths = []
    for name in data["distributions"]:
        per = data["per"][name]
        layers = data["layers"]
        matrix = np.array([per[l]["routed_fraction"] for l in layers])
        experts = matrix.shape[1]
        fig, ax = plt.subplots(figsize=(max(7, 0.35 * experts + 2), max(3.2, 0.45 * len(layers) + 1.8)))
        image = ax.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_xlabel("expert")
        ax.set_ylabel("MoE layer")
        ax.set_yticks(range(len(layers)), [str(l) for l in layers])
        if experts <= 64:
            ax.set_xticks(range(experts), [str(e) for e in range(experts)], fontsize=7 if experts > 16 else 9)
        uniform = 1.0 / experts
        ax.set_title(f"Expert activation on {name}\nshare of routed slots (uniform = {uniform:.3f})", fontsize=10)
        fig.colorbar(image, ax=ax, label="routed fraction")
        fig.tight_layout()
        paths.append(save(fig, out, f"activation_{safe(name)}.png", dpi))
    return paths


def plot_significance(data, out, dpi):
    layers = data["layers"]
    names = data["distributions"]
    columns = min(2, len(layers))
    rows = (len(layers) + columns - 1) // columns
    experts = len(data["per"][names[0]][layers[0]]["expert_significance"])
    fig, axes = plt.subplots(rows, columns, figsize=(max(7, 0.3 * experts + 3) * columns, 2.8 * rows), squeeze=False)
    series = len(names) + (1 if data["synthesized"] else 0)
    width = 0.8 / series
    x = np.arange(experts)
    for index, layer in enumerate(layers):
        ax = axes[index // columns][index % columns]
        for i, name in enumerate(names):
            ax.bar(x + i * width, data["per"][name][layer]["expert_significance"], width, label=name)
        if layer in data["synthesized"]:
            s = data["synthesized"][layer]
            ax.bar(x + len(names) * width, s["mean"], width, yerr=np.sqrt(s["variance"]), capsize=2,
                   color="0.35", label="synthesized mean ± std")
        ax.set_title(f"layer {layer}")
        ax.set_xlabel("expert")
        ax.set_ylabel("S_exp")
        if experts <= 32:
            ax.set_xticks(x + 0.4 - width / 2, [str(e) for e in range(experts)], fontsize=8)
    for index in range(len(layers), rows * columns):
        axes[index // columns][index % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8)
    kind = f" ({data['channel_significance']} channel significance)" if data["channel_significance"] else ""
    fig.suptitle(f"Expert significance across calibration distributions{kind}")
    fig.tight_layout(rect=(0, 0, 0.9, 0.96))
    return [save(fig, out, "significance.png", dpi)]


def plot_coactivation(data, out, dpi):
    names = data["distributions"]
    paths = []
    for layer in data["layers"]:
        panels = []
        for name in names:
            entry = data["per"][name][layer]
            if "coactivation" in entry and entry["tokens"] > 0:
                # The diagonal (each expert's own routed share) would swamp the pairs' colour scale.
                rate = entry["coactivation"] / entry["tokens"]
                np.fill_diagonal(rate, np.nan)
                panels.append((f"{name}: share of tokens routed to both\n(diagonal omitted)", rate, "viridis", 0.0,
                               None))
        synthesized = data["synthesized"].get(layer, {})
        if "correlation" in synthesized:
            panels.append(("all distributions: phi correlation", synthesized["correlation"], "RdBu_r", -1.0, 1.0))
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
        for ax, (title, matrix, cmap, vmin, vmax) in zip(axes[0], panels):
            image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("expert j")
            ax.set_ylabel("expert i")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.suptitle(f"Co-activation, MoE layer {layer}")
        fig.tight_layout()
        paths.append(save(fig, out, f"coactivation_layer_{layer}.png", dpi))
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="results.h5 written by moqa-pipeline")
    parser.add_argument("-o", "--out", help="output folder (default: 'plots' next to results.h5)")
    parser.add_argument("--layers", type=int, nargs="+", help="only these MoE layers (model layer indices)")
    parser.add_argument("--dpi", type=int, default=110, help="PNG resolution (default 110)")
    args = parser.parse_args()

    data = load(args.results)
    if args.layers:
        missing = sorted(set(args.layers) - set(data["layers"]))
        if missing:
            sys.exit(f"plot_analysis: --layers: {missing} are not MoE layers of this file (it has {data['layers']})")
        data["layers"] = [l for l in data["layers"] if l in args.layers]
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.results)), "plots")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        sys.exit(f"plot_analysis: cannot create the output folder {out}: {e}")
    written = plot_activation(data, out, args.dpi) + plot_significance(data, out, args.dpi)
    written += plot_coactivation(data, out, args.dpi)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
