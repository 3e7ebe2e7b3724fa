#!/usr/bin/python3
"""scripts/collect.py on synthetic results.json files: seeds merged into mean ± sd (checked against values
computed here by hand), one block per model, stored-bits and protocol columns, --per-seed, CSV sd columns."""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.environ.get("MOQA_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE, "scripts", "collect.py")


def summary(model, seed, index, method, ppl, fp=None):
    """A results.json as docs/FORMATS.md describes it, with only the fields collect.py reads."""
    def entry(kind, p, bits, stored):
        return {"model": kind, "method": method if kind == "quantized" else "FP",
                "bits_experts": bits, "bits_all_linear": bits, "stored_bits_experts": stored,
                "stored_bits_all_linear": stored,
                "perplexity": {"wiki": {"ppl": p[0]}, "code": {"ppl": p[1]}}, "zero_shot": {},
                "averages": {"ppl": {"known": p[0], "novel": p[1], "all": (p[0] + p[1]) / 2},
                             "acc": {"known": None, "novel": None, "all": None},
                             "acc_norm": {"known": None, "novel": None, "all": None}}}
    models = [] if fp is None else [entry("fp", fp, 16.0, 16.0)]
    if ppl is not None:
        models.append(entry("quantized", ppl, 3.0, 3.1875))
    return {"format": "moqa-results", "format_version": 1,
            "experiment": {"name": "table1", "seed": seed},
            "sweep": {"index": index, "count": 2, "suffix": f"method-{method}",
                      "assignments": {"allocation.method": method}},
            "model": {"path": f"/models/{model}"},
            "datasets": [{"name": "wiki", "kind": "perplexity", "distribution": "known", "protocol": "windows"},
                         {"name": "code", "kind": "perplexity", "distribution": "novel", "protocol": "gptq-c4-new"}],
            "models": models, "wall_time_s": 10.0 + seed}


class CollectSeeds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        root = cls.dir.name
        # Two models; FP once per model; uniform and moqa with seeds 0, 1, 2.
        runs = {("tiny", None, 0, "uniform"): summary("tiny", 0, 0, "uniform", None, fp=(100.0, 10.0)),
                ("small", None, 0, "uniform"): summary("small", 0, 0, "uniform", None, fp=(200.0, 20.0))}
        for model, base in (("tiny", 110.0), ("small", 220.0)):
            for seed in (0, 1, 2):
                runs[(model, seed, 0, "uniform")] = summary(model, seed, 0, "uniform", (base + seed, 11.0))
                runs[(model, seed, 1, "moqa")] = summary(model, seed, 1, "moqa", (base + 2 * seed, 12.0 + seed))
        for (model, seed, index, method), s in runs.items():
            folder = os.path.join(root, model, "fp" if seed is None else f"seed-{seed}", f"method-{method}")
            os.makedirs(folder)
            with open(os.path.join(folder, "results.json"), "w") as f:
                json.dump(s, f)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def collect(self, *args):
        run = subprocess.run([sys.executable, SCRIPT, self.dir.name, *args], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout, run.stderr

    def table(self, text):
        lines = [line for line in text.splitlines() if line.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        return header, [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]

    def test_seeds_become_mean_and_sample_sd(self):
        out, err = self.collect()
        self.assertIn("14 results.json, 6 rows", err)
        header, rows = self.table(out)
        self.assertEqual(header[:4], ["model", "run", "allocation.method", "method"])
        self.assertIn("seeds", header)
        self.assertIn("stored_bits_experts", header)
        self.assertIn("ppl wiki (known, windows)", header)
        self.assertIn("ppl code (novel, gptq-c4-new)", header)
        # Models in path order (small before tiny), FP first, then the sweep's runs in index order.
        self.assertEqual([(r["model"], r["method"]) for r in rows],
                         [("small", "FP"), ("small", "uniform"), ("small", "moqa"),
                          ("tiny", "FP"), ("tiny", "uniform"), ("tiny", "moqa")])
        moqa = rows[5]
        # wiki: 110, 112, 114 -> mean 112, sample sd 2; code: 12, 13, 14 -> 13 ± 1.
        self.assertEqual(moqa["seeds"], "0,1,2")
        self.assertEqual(moqa["ppl wiki (known, windows)"], "112.00 ± 2.00")
        self.assertEqual(moqa["ppl code (novel, gptq-c4-new)"], "13.00 ± 1.00")
        self.assertEqual(moqa["stored_bits_experts"], "3.188 ± 0.000")
        self.assertEqual(rows[4]["ppl wiki (known, windows)"], "111.00 ± 1.00")
        self.assertEqual(rows[3]["ppl wiki (known, windows)"], "100.00")  # one FP run: no ±

    def test_per_seed_keeps_rows(self):
        out, err = self.collect("--per-seed")
        self.assertIn("14 results.json, 14 rows", err)
        header, rows = self.table(out)
        self.assertIn("seed", header)
        tiny_moqa = [r for r in rows if r["model"] == "tiny" and r["method"] == "moqa"]
        self.assertEqual([r["ppl wiki (known, windows)"] for r in tiny_moqa], ["110.00", "112.00", "114.00"])

    def test_csv_has_sd_columns(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.csv")
            self.collect("--csv", path)
            with open(path) as f:
                table = list(csv.DictReader(io.StringIO(f.read())))
        moqa = [r for r in table if r["model"] == "small" and r["method"] == "moqa"][0]
        self.assertAlmostEqual(float(moqa["ppl:wiki"]), 222.0)
        self.assertAlmostEqual(float(moqa["ppl:wiki:sd"]), 2.0)
        fp = [r for r in table if r["model"] == "small" and r["method"] == "FP"][0]
        self.assertEqual(fp["ppl:wiki:sd"], "")


if __name__ == "__main__":
    unittest.main()
