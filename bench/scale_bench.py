#!/usr/bin/env python3
"""Scale benchmark: the whole pipeline on a generated real-shape checkpoint (tools/moqa-make-checkpoint) on 1
and 2 ranks. Per stage: wall time, whole-model tokens/s over all ranks, GFLOP/s and its fraction of the
measured sgemm rate (bench/sgemm_bench), peak RssAnon per rank and the bytes each rank handed to the
all-to-all and to reductions (bench/libmoqa_mpi_traffic.so, preloaded). Standard library only.

  build/tools/moqa-make-checkpoint --model olmoe-1b-7b --layers 2 --output /work/scale/olmoe-2l
  python3 bench/scale_bench.py --model /work/scale/olmoe-2l --ranks 1 2 --windows 8 --seq-len 256
  # calibration alone against the FLOP bound, one rank using both cores:
  python3 bench/scale_bench.py --model /work/scale/olmoe-1b-7b --ranks 1 --threads 2 --windows 64 --stages calibrate

FLOPs counted per token of a forward: 2 x (active parameters - embedding table) + 4 x seq_len/2 x the
attention width per layer (QK^T and AV under the causal mask). The quantize stage adds GPTQ's Hessians
(2 x routed rows x cols^2 per expert input) and its solve (about 2 x rows x cols^2 + cols^3 per matrix);
the evaluate stage runs the full-precision and the quantized model (twice the tokens).
"""
import argparse, json, os, re, subprocess, sys, time

def dry_run(pipeline, toml):
    out = subprocess.run([pipeline, toml, "--dry-run"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"parameters\s+([\d.]+) ([MB]) total, ([\d.]+) ([MB]) in routed experts, ([\d.]+) ([MB]) active", out)
    scale = {"M": 1e6, "B": 1e9}
    return float(m.group(5)) * scale[m.group(6)], out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--eval-tokens", type=int, default=4096)
    ap.add_argument("--batch-windows", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="math threads per rank (runtime.threads)")
    ap.add_argument("--stages", nargs="+", default=["calibrate", "allocate", "quantize", "evaluate"])
    ap.add_argument("--text", default="../shared/assets/text/wikitext-2/valid.txt")
    ap.add_argument("--eval-text", default="../shared/assets/text/wikitext-2/test.txt")
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="/tmp/moqa-scale-bench")
    ap.add_argument("--sgemm-gflops", type=float, default=0, help="measured rate; 0 = run sgemm_bench with 1 thread")
    a = ap.parse_args()
    pipeline = os.path.abspath(f"{a.build}/src/moqa-pipeline")
    traffic = os.path.abspath(f"{a.build}/bench/libmoqa_mpi_traffic.so")
    if a.sgemm_gflops <= 0:
        line = subprocess.run([f"{a.build}/bench/sgemm_bench"], capture_output=True, text=True,
                              env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), check=True).stdout
        a.sgemm_gflops = float(re.search(r"([\d.]+) GFLOP/s", line).group(1))
    config = json.load(open(os.path.join(a.model, "config.json")))
    d, vocab, layers = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    head = config.get("qk_nope_head_dim", 0) + config.get("qk_rope_head_dim", 0) or config.get("head_dim") or d // heads
    experts = config.get("num_experts") or config.get("num_local_experts") or config.get("n_routed_experts")
    width = config.get("moe_intermediate_size") or config["intermediate_size"]
    top_k = config["num_experts_per_tok"]
    os.makedirs(a.out, exist_ok=True)
    print(f"model {a.model}: d {d}, {layers} layers, {experts} experts x {width}, top-{top_k}, vocab {vocab}; "
          f"{a.windows} windows x {a.seq_len} tokens, eval {a.eval_tokens} tokens; {a.threads} thread(s) per rank; "
          f"sgemm {a.sgemm_gflops:.1f} GFLOP/s per core; load {os.getloadavg()[0]:.1f}")
    # "of sgemm x cores": the stage's counted GFLOP/s over the one-thread sgemm rate times ranks x threads,
    # i.e. the FLOP bound's share of the wall time (1 / that is the run's distance from the bound).
    print("| ranks | stage | wall s | tokens/s | GFLOP/s | of sgemm x cores | peak RssAnon / rank | all-to-all sent / rank | reductions sent / rank |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for ranks in a.ranks:
        out = os.path.join(a.out, f"np{ranks}")
        toml = os.path.join(a.out, f"np{ranks}.toml")
        text, eval_text = os.path.abspath(a.text), os.path.abspath(a.eval_text)
        with open(toml, "w") as f:
            stage_list = ", ".join(f'"{x}"' for x in a.stages)
            f.write(f"""[experiment]\nname = "scale"\noutput_dir = "{out}"\nstages = [{stage_list}]\n
[model]\npath = "{os.path.abspath(a.model)}"\ntokenizer = "{os.path.abspath(a.model)}/tokenizer.json"\n
[[calibration]]\nname = "wiki"\npath = "{text}"\nsamples = {a.windows}\nseq_len = {a.seq_len}\n
[allocation]\nmethod = "uniform"\ntarget_bits = 4\ncandidate_bits = [4]\n
[quantization]\nmethod = "gptq"\ngroup_size = 128\n
[[evaluation]]\nname = "wiki-test"\nkind = "perplexity"\npath = "{eval_text}"\nseq_len = {a.seq_len}\nmax_tokens = {a.eval_tokens}\n
[runtime]\ndevice = "cpu"\nthreads = {a.threads}\nbatch_windows = {a.batch_windows}\nstream_weights = true\nprogress_interval_s = 0\n""")
        active, _ = dry_run(pipeline, toml)
        attention = layers * 4 * (a.seq_len / 2) * heads * head
        forward_flops = 2 * (active - vocab * d) + attention
        prefix = os.path.join(a.out, f"traffic-np{ranks}")
        # mpirun binds each rank to one core by default; a rank of several threads needs its cores.
        binding = ["--bind-to", "none"] if a.threads > 1 else []
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "--allow-run-as-root", *binding,
               "-x", f"LD_PRELOAD={traffic}", "-x", f"MOQA_TRAFFIC_OUT={prefix}", pipeline, toml]
        t0 = time.time()
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"np {ranks} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        wall = time.time() - t0
        stages = json.load(open(os.path.join(out, "results.json")))["stages"]
        per_rank = [[list(map(int, l.split("\t"))) for l in open(f"{prefix}.rank{r}.tsv").read().splitlines()[1:]]
                    for r in range(ranks)]
        # Buckets of 0.1 s since MPI_Init; the stages are taken to end 0.5 s before MPI_Finalize (results
        # written, communicators freed), which places each stage within a bucket or two.
        seconds = max(len(b) for b in per_rank) / 10.0
        start = max(0.0, seconds - sum(s["wall_time_s"] for s in stages) - 0.5)
        calib_tokens = a.windows * a.seq_len
        eval_tokens = 2 * (a.eval_tokens // a.seq_len) * a.seq_len
        for s in stages:
            name, secs = s["stage"], s["wall_time_s"]
            lo, hi = int(10 * start), int(10 * (start + secs)) + 1
            start += secs
            tokens = {"calibrate": calib_tokens, "quantize": calib_tokens, "evaluate": eval_tokens}.get(name, 0)
            flops = tokens * forward_flops
            if name == "quantize":
                expert_rows = calib_tokens * top_k  # routed (token, expert) rows of every MoE layer
                matrices = layers * experts
                flops += layers * 2 * expert_rows * (d * d + width * width)              # Hessians
                flops += matrices * (2 * (2 * width * d * d + d * width * width) + 2 * d**3 + width**3)  # GPTQ solves
            def col(i):
                return [max((b[i] for b in rank[lo:hi]), default=0) if i == 4 else sum(b[i] for b in rank[lo:hi])
                        for rank in per_rank]
            rss, a2a, red = max(col(4)), max(col(1)), max(col(2))
            gflops = flops / secs / 1e9 if secs > 0 else 0
            print(f"| {ranks} | {name} | {secs:.1f} | {tokens / secs if tokens else 0:.0f} | {gflops:.2f} | "
                  f"{gflops / (a.sgemm_gflops * ranks * a.threads):.2f} | {rss / 2**30:.2f} GiB | {a2a / 2**20:.1f} MiB | {red / 2**20:.1f} MiB |")
        print(f"<!-- np {ranks}: {wall:.0f} s wall including start-up; load {os.getloadavg()[0]:.1f} -->")

if __name__ == "__main__":
    main()
