#!/usr/bin/env python3
"""Measure plinth beside llama.cpp on the same GGUF files (issue 5); run by bench/compare-llamacpp.sh.

1. Files: plinth dequantizes SmolLM2-135M-Instruct.Q4_1.gguf to F16, then quantizes that F16 to Q8_0 and Q4_K_M;
   llama-quantize quantizes the same F16 to Q8_0 and Q4_K_M (the files for the other interop direction).
   `plinth imatrix` collects an importance matrix from the F16 model on a calibration slice of austen.txt that
   the perplexity text does not overlap (--calib-offset / --calib-bytes), and plinth quantizes the F16 to Q8_0
   and Q4_K_M again with it (`--imatrix`).
2. Speed: `plinth bench` and `llama-bench` take turns (A B A B ...), one repetition each per turn, on the
   plinth-quantized Q8_0 and Q4_K_M files, same -p/-n/-t. Each side's figure is the mean ± sd of its turns.
3. Perplexity: `plinth perplexity` and `llama-perplexity` on every file, same text slice, same -c and -t; plinth's
   per-token NLL (--dump-nll) gives each quantized file's change against F16 with a paired 2-standard-error
   interval.
Prints a markdown section (and writes it to --out) with the machine, the versions and every figure.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCE_MODEL = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
TEXT = os.path.join(ROOT, "data", "train", "austen.txt")
PPL_RE = re.compile(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)")
ISA_FLAGS = ["sse4_2", "avx", "f16c", "fma", "avx2", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"]


def log(msg):
    print("compare-llamacpp: " + msg, file=sys.stderr, flush=True)


def run(cmd, timeout=3600):
    """Run a command; return (rc, stdout, stderr, seconds). Never raises on a non-zero exit."""
    log("$ " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def must(cmd):
    rc, out, err, _ = run(cmd)
    if rc != 0:
        raise SystemExit(f"failed ({rc}): {' '.join(cmd)}\n{out[-2000:]}\n{err[-2000:]}")
    return out


# ---- machine and versions ------------------------------------------------------------------------------------

def cpu_info():
    model, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    return model, os.cpu_count(), [fl for fl in ISA_FLAGS if fl in flags]


def llamacpp_versions(src, bench_json):
    """llama-cpp-python version (sdist directory), llama.cpp's build number/commit as llama-bench reports it."""
    sdist = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(src))))
    commit = bench_json.get("build_commit", "?") if bench_json else "?"
    number = bench_json.get("build_number", "?") if bench_json else "?"
    ggml = "?"
    cm = os.path.join(src, "ggml", "CMakeLists.txt")
    if os.path.exists(cm):
        txt = open(cm).read()
        parts = [re.search(r"set\(GGML_VERSION_%s\s+(\d+)\)" % k, txt) for k in ("MAJOR", "MINOR", "PATCH")]
        if all(parts):
            ggml = ".".join(p.group(1) for p in parts)
    return sdist.replace("llama_cpp_python-", "llama-cpp-python "), number, commit, ggml


def llamacpp_cmake_flags(cache):
    """The CMake cache entries that decide llama.cpp's CPU code path, for the record."""
    keep = ("CMAKE_BUILD_TYPE", "GGML_NATIVE", "GGML_OPENMP", "GGML_AVX", "GGML_AVX2", "GGML_AVX512", "GGML_FMA",
            "GGML_F16C", "GGML_BLAS", "GGML_CPU_ALL_VARIANTS", "BUILD_SHARED_LIBS", "CMAKE_C_COMPILER:")
    out = []
    path = os.path.join(cache, "build", "CMakeCache.txt")
    if os.path.exists(path):
        for line in open(path):
            name = line.split(":", 1)[0]
            if any(name == k.rstrip(":") for k in keep) and "=" in line:
                out.append(name + "=" + line.split("=", 1)[1].strip())
    return out


# ---- files ------------------------------------------------------------------------------------------------------

def make_files(a):
    """The F16 file and its four quantizations (regenerated every run: the plinth binary may have changed)."""
    d = os.path.join(a.cache, "models")
    os.makedirs(d, exist_ok=True)
    f = {"F16": os.path.join(d, "smollm2-135m.F16.plinth.gguf")}
    keep = a.reuse_files and os.path.exists(f["F16"])
    if not keep:
        must([a.plinth, "quantize", SOURCE_MODEL, f["F16"], "F16"])
    for t in ("Q8_0", "Q4_K_M"):
        f[t + " (plinth)"] = os.path.join(d, f"smollm2-135m.{t}.plinth.gguf")
        if not (keep and os.path.exists(f[t + " (plinth)"])):
            must([a.plinth, "quantize", f["F16"], f[t + " (plinth)"], t])
        f[t + " (llama.cpp)"] = os.path.join(d, f"smollm2-135m.{t}.llamacpp.gguf")
        if not (keep and os.path.exists(f[t + " (llama.cpp)"])):
            must([os.path.join(a.llamacpp_bin, "llama-quantize"), f["F16"], f[t + " (llama.cpp)"], t,
                  str(a.threads)])
    if a.imatrix_chunks > 0:
        im = os.path.join(d, "smollm2-135m.imatrix.gguf")
        if not (keep and os.path.exists(im)):
            calib = make_calib(a)
            must([a.plinth, "imatrix", "-m", f["F16"], "-f", calib, "-o", im, "--chunks", str(a.imatrix_chunks),
                  "-t", str(a.threads)])
        for t in ("Q8_0", "Q4_K_M"):
            f[t + " (plinth, imatrix)"] = os.path.join(d, f"smollm2-135m.{t}.plinth-imatrix.gguf")
            if not (keep and os.path.exists(f[t + " (plinth, imatrix)"])):
                must([a.plinth, "quantize", f["F16"], f[t + " (plinth, imatrix)"], t, "--imatrix", im,
                      "-t", str(a.threads)])
    return f


def make_calib(a):
    """The calibration slice for the importance matrix: --calib-bytes of austen.txt from --calib-offset, cut to
    whole lines; it must not overlap the perplexity text (the first --ppl-bytes)."""
    if a.calib_offset < a.ppl_bytes:
        sys.exit(f"compare_llamacpp: --calib-offset {a.calib_offset} overlaps the perplexity text ({a.ppl_bytes} bytes)")
    data = open(TEXT, "rb").read()[a.calib_offset:a.calib_offset + a.calib_bytes]
    data = data[data.find(b"\n") + 1:data.rfind(b"\n") + 1]
    path = os.path.join(a.cache, f"austen-calib-{a.calib_offset}-{a.calib_bytes}.txt")
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_text(a):
    """A fixed slice of austen.txt: its first --ppl-bytes bytes, cut back to the last newline."""
    data = open(TEXT, "rb").read()[:a.ppl_bytes]
    data = data[:data.rfind(b"\n") + 1]
    path = os.path.join(a.cache, f"austen-{a.ppl_bytes}.txt")
    with open(path, "wb") as f:
        f.write(data)
    return path, len(data)


# ---- speed --------------------------------------------------------------------------------------------------------

def parse_md_table(text):
    """{test: t/s} from a llama-bench style markdown table (columns `test` and `t/s`, value `mean ± sd`)."""
    res, head = {}, None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if "test" in cells and "t/s" in cells:
            head = cells
            continue
        if head and len(cells) == len(head) and not set(cells[0]) <= set("-: "):
            m = re.match(r"([0-9.]+)", cells[head.index("t/s")])
            if m:
                res[cells[head.index("test")]] = float(m.group(1))
    return res


def bench_plinth(a, model, threads=None, depth=0):
    cmd = [a.plinth, "bench", "-m", model, "-p", str(a.pp), "-n", str(a.tg), "-t", str(threads or a.threads), "-r", "1",
           "-d", str(depth), "--json"] + (["--kv-f16"] if a.kv_f16 else [])
    rc, out, err, _ = run(cmd)
    if rc != 0:
        raise SystemExit(f"plinth bench failed ({rc}): {err[-1000:]}")
    res = {r["test"].split(" @ ")[0]: r["avg_ts"] for r in json.loads(out)["results"]}  # "tg128 @ d1024" -> "tg128"
    log(f"  plinth: {res}")
    return res


def bench_llamacpp(a, model, threads=None, depth=0):
    cmd = [os.path.join(a.llamacpp_bin, "llama-bench"), "-m", model, "-p", str(a.pp), "-n", str(a.tg),
           "-t", str(threads or a.threads), "-r", "1", "-o", "json"] + (["-d", str(depth)] if depth else [])
    rc, out, err, _ = run(cmd)
    if rc != 0:
        raise SystemExit(f"llama-bench failed ({rc}): {err[-1000:]}")
    rows = json.loads(out)
    res = {}
    for r in rows:
        test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
        res[test] = r["avg_ts"]
    log(f"  llama.cpp: {res}")
    return res, rows[0]


def roof_plinth(a, model, threads=None, depth=0):
    """plinth bench --roof: measured read bandwidth and the decode roof (tokens/s) it implies for this file (weights
    plus the KV cache read per token at the tg test's mean context, depth included)."""
    cmd = [a.plinth, "bench", "-m", model, "-p", "0", "-n", str(a.tg), "-t", str(threads or a.threads), "-r", "1",
           "-d", str(depth), "--roof", "--json"] + (["--kv-f16"] if a.kv_f16 else [])
    rc, out, err, _ = run(cmd)
    if rc != 0:
        log(f"plinth bench --roof failed ({rc}): {err[-300:]}")
        return None
    return json.loads(out).get("roof")


def speed_models(a, files):
    """(label, path) of every file the speed table covers: plinth's Q8_0 and Q4_K_M of SmolLM2, Gemma 3 270M's
    llama.cpp-made Q4_K_M when fetched (`scripts/fetch-models.sh gemma3`), and every --model given"""
    out = [] if a.only_models else [("SmolLM2 " + t, files[t + " (plinth)"]) for t in ("Q8_0", "Q4_K_M")]
    gemma = os.path.join(ROOT, "models", "gemma3-270m", "gemma-3-270m-q4_k_m.gguf")
    if os.path.exists(gemma) and not a.only_models:
        out.append(("Gemma 3 270M Q4_K_M (llama.cpp's)", gemma))
    for m in a.model or []:
        out.append((os.path.basename(m), m))
    return out


def speed(a, files):
    tests = [f"pp{a.pp}", f"tg{a.tg}"]
    rows, meta = [], None
    for label, model in speed_models(a, files):
        for threads in a.thread_list:
            for depth in a.depths:
                got = {"plinth": {k: [] for k in tests}, "llama.cpp": {k: [] for k in tests}}
                for rep in range(a.reps):
                    # A B / B A alternation so neither side always runs right after the other's warm caches
                    order = ("plinth", "llama.cpp") if rep % 2 == 0 else ("llama.cpp", "plinth")
                    for side in order:
                        if side == "plinth":
                            r = bench_plinth(a, model, threads, depth)
                        else:
                            r, meta = bench_llamacpp(a, model, threads, depth)
                        for k in tests:
                            if k in r:
                                got[side][k].append(r[k])
                roof = roof_plinth(a, model, threads, depth) if a.roof else None
                for k in tests:
                    rows.append({"file": label, "threads": threads, "depth": depth, "test": k,
                                 "plinth": got["plinth"][k], "llama.cpp": got["llama.cpp"][k],
                                 "roof": roof if k.startswith("tg") else None})
    return rows, meta


def ms(v):
    if not v:
        return "n/a"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.1f} ± {sd:.1f}"


# ---- perplexity ---------------------------------------------------------------------------------------------------

def ppl_one(cmd):
    rc, out, err, secs = run(cmd)
    m = PPL_RE.search(out + err)
    if rc != 0 or not m:
        tail = (err or out).strip().splitlines()[-1:] or ["?"]
        log(f"  failed: rc {rc}: {tail[0][:200]}")
        return {"ok": False, "msg": f"rc {rc}: {tail[0][:200]}", "secs": secs}
    log(f"  PPL = {m.group(1)} +/- {m.group(2)} ({secs:.1f} s)")
    return {"ok": True, "ppl": float(m.group(1)), "err": float(m.group(2)), "secs": secs}


def nll_path(a, name):
    return os.path.join(a.cache, "nll-" + re.sub(r"[^A-Za-z0-9_.]+", "_", name) + ".txt")


def perplexity(a, files, text):
    res = {}
    for name, path in files.items():
        p = ppl_one([a.plinth, "perplexity", "-m", path, "-f", text, "-c", str(a.ctx), "-t", str(a.ppl_threads),
                     "--dump-nll", nll_path(a, name)])
        l = ppl_one([os.path.join(a.llamacpp_bin, "llama-perplexity"), "-m", path, "-f", text, "-c", str(a.ctx),
                     "-t", str(a.ppl_threads)])
        res[name] = {"plinth": p, "llama.cpp": l}
    return res


def pct(x, ref):
    return 100.0 * (x - ref) / ref


def paired_change(a, name):
    """plinth's PPL change of file `name` against F16 from the per-token NLLs of both runs: (change %, low %, high %)
    with low/high = the mean NLL difference -/+ 2 standard errors; None when a dump is missing."""
    try:
        rows = [open(nll_path(a, n)).read().split("\n") for n in ("F16", name)]
    except OSError:
        return None
    f16, q = ([float(l.split()[2]) for l in r if l.strip()] for r in rows)
    if len(f16) != len(q) or len(q) < 2:
        return None
    d = [y - x for x, y in zip(f16, q)]
    m, se = statistics.mean(d), statistics.stdev(d) / len(d) ** 0.5
    import math
    return tuple(100.0 * (math.exp(v) - 1.0) for v in (m, m - 2 * se, m + 2 * se))


# ---- report -------------------------------------------------------------------------------------------------------

def report(a, cmdline, speed_rows, meta, ppl, text_info, load_before):
    model, ncpu, flags = cpu_info()
    sdist, number, commit, ggml = llamacpp_versions(a.llamacpp_src, meta)
    out = []
    w = out.append
    w(f"Command: `{cmdline}`  ")
    w(f"Machine: {model}, {ncpu} logical CPUs; ISA flags (from /proc/cpuinfo): {' '.join(flags)}; "
      f"load average before the run {load_before:.2f}. Date: {datetime.date.today().isoformat()}. "
      f"{platform.system()} {platform.release()}.  ")
    w(f"llama.cpp: vendored in {sdist} from PyPI (llama.cpp build {number}, commit {commit}, ggml {ggml}), "
      f"built with {' '.join(llamacpp_cmake_flags(a.cache)) or '?'}.  ")
    w(f"Threads: {', '.join(map(str, a.thread_list))} on both sides (perplexity: {a.ppl_threads}). Files: SmolLM2-135M-Instruct, dequantized by plinth from the Q4_1 "
      f"GGUF to F16, then quantized by plinth (and, for the interop rows, by llama-quantize) to Q8_0 / Q4_K_M.")
    w("")
    if speed_rows:
        w(f"Speed ({a.reps} interleaved turns per side, one repetition per turn, mean ± sd of the turns; "
          f"both sides read the same file; depth = tokens already in the cache, llama-bench's -d; roof = measured "
          f"read bandwidth / bytes read per token, weights + KV cache at the tg test's mean context, `plinth bench "
          f"--roof`; KV cache: plinth {'f16 (--kv-f16)' if a.kv_f16 else 'f32 (its default)'}, llama.cpp f16 (its "
          f"default), the roof counting plinth's):")
        w("")
        w("| file | threads | depth | test | plinth t/s | llama.cpp t/s | plinth / llama.cpp | roof t/s | plinth % of roof "
          "| llama.cpp % of roof |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for r in speed_rows:
            p = statistics.mean(r["plinth"]) if r["plinth"] else float("nan")
            l = statistics.mean(r["llama.cpp"]) if r["llama.cpp"] else float("nan")
            f = r["roof"]
            roof = (f"{f['tokens_per_s']:.1f} | {100 * p / f['tokens_per_s']:.1f}% | {100 * l / f['tokens_per_s']:.1f}%"
                    if f else "| |")
            w(f"| {r['file']} | {r['threads']} | {r['depth']} | {r['test']} | {ms(r['plinth'])} | {ms(r['llama.cpp'])} | "
              f"{p / l:.2f} | {roof} |")
        scaling = []
        for r in speed_rows:
            if r["threads"] != max(a.thread_list) or len(a.thread_list) < 2 or not r["test"].startswith("tg"):
                continue
            one = [x for x in speed_rows if x["file"] == r["file"] and x["depth"] == r["depth"] and
                   x["test"] == r["test"] and x["threads"] == min(a.thread_list)]
            if one and one[0]["plinth"] and r["plinth"] and one[0]["llama.cpp"] and r["llama.cpp"]:
                scaling.append(f"{r['file']} depth {r['depth']}: plinth "
                               f"{statistics.mean(r['plinth']) / statistics.mean(one[0]['plinth']):.2f}x, llama.cpp "
                               f"{statistics.mean(r['llama.cpp']) / statistics.mean(one[0]['llama.cpp']):.2f}x")
        if scaling:
            w("")
            w(f"Decode, {max(a.thread_list)} threads against {min(a.thread_list)}: " + "; ".join(scaling) + ".")
        w("")
    if ppl:
        w(f"Perplexity (-c {a.ctx}, -t {a.ppl_threads}; text: the first {text_info[1]:,} bytes of data/train/austen.txt, "
          f"cut at a line end; `Final estimate` of each tool):")
        w("")
        w("| file | quantized by | plinth PPL | llama.cpp PPL | plinth vs llama.cpp |")
        w("|---|---|---|---|---|")
        for name, r in ppl.items():
            by = "plinth (from Q4_1)" if name == "F16" else name.split("(")[1].rstrip(")")
            t = name.split(" ")[0]
            p, l = r["plinth"], r["llama.cpp"]
            pf = f"{p['ppl']:.4f} ± {p['err']:.4f}" if p["ok"] else "failed: " + p["msg"]
            lf = f"{l['ppl']:.4f} ± {l['err']:.4f}" if l["ok"] else "failed: " + l["msg"]
            d = f"{pct(p['ppl'], l['ppl']):+.3f}%" if p["ok"] and l["ok"] else "n/a"
            w(f"| {t} | {by} | {pf} | {lf} | {d} |")
        w("")
        f16 = ppl.get("F16", {})
        lines = []
        for name in ppl:
            if name == "F16":
                continue
            for side in ("plinth", "llama.cpp"):
                r, ref = ppl[name][side], f16.get(side, {"ok": False})
                if r["ok"] and ref.get("ok"):
                    lines.append(f"{name} in {side}: {pct(r['ppl'], ref['ppl']):+.3f}% vs F16")
        if lines:
            w("Quantization cost (PPL change against the F16 file, same engine): " + "; ".join(lines) + ".")
            w("")
        paired = [(n, paired_change(a, n)) for n in ppl if n != "F16" and ppl[n]["plinth"]["ok"]]
        paired = [(n, c) for n, c in paired if c]
        if paired:
            w("In plinth, per token (paired with F16's NLL of the same token; interval = mean difference ± 2 standard "
              "errors): " + "; ".join(f"{n} {c[0]:+.3f}% [{c[1]:+.3f}%, {c[2]:+.3f}%]" for n, c in paired) + ".")
            w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plinth", required=True)
    ap.add_argument("--llamacpp-bin", required=True)
    ap.add_argument("--llamacpp-src", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("-p", "--pp", type=int, default=512)
    ap.add_argument("-n", "--tg", type=int, default=128)
    ap.add_argument("-c", "--ctx", type=int, default=512)
    ap.add_argument("--ppl-bytes", type=int, default=40000)
    ap.add_argument("--calib-offset", type=int, default=2000000, help="importance-matrix calibration slice start")
    ap.add_argument("--calib-bytes", type=int, default=160000)
    ap.add_argument("--imatrix-chunks", type=int, default=64, help="chunks of 512 for plinth imatrix (0: no imatrix files)")
    ap.add_argument("--ppl-threads", type=int, default=0, help="threads for perplexity (default: -t)")
    ap.add_argument("--model", action="append", help="another GGUF for the speed table (repeatable)")
    ap.add_argument("--only-models", action="store_true", help="the speed table covers the --model files only")
    ap.add_argument("--thread-list", default=None, help="threads for the speed table, e.g. 1,2 (default: -t)")
    ap.add_argument("--depths", default="0", help="tokens already in the cache for the speed table, e.g. 0,1024,4096")
    ap.add_argument("--no-roof", dest="roof", action="store_false")
    ap.add_argument("--kv-f16", action="store_true", help="plinth's KV cache in f16, as llama-bench's default (-ctk/-ctv f16)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--reuse-files", action="store_true", help="keep the quantized files of an earlier run")
    ap.add_argument("--skip-ppl", action="store_true")
    ap.add_argument("--out", help="also write the markdown section to this file")
    ap.add_argument("--cmdline", default="bench/compare-llamacpp.sh", help="the command to quote in the report")
    a = ap.parse_args()
    a.ppl_threads = a.ppl_threads or a.threads
    a.thread_list = [int(x) for x in (a.thread_list or str(a.threads)).split(",")]
    a.depths = [int(x) for x in a.depths.split(",")]
    load_before = os.getloadavg()[0]
    files = make_files(a)
    text = make_text(a)
    speed_rows, meta = ([], None) if a.skip_speed else speed(a, files)
    if meta is None:  # versions come from llama-bench's JSON: one short run if the speed part was skipped
        _, meta = bench_llamacpp(argparse.Namespace(**{**vars(a), "pp": 16, "tg": 0}), files["Q8_0 (plinth)"])
    ppl = {} if a.skip_ppl else perplexity(a, files, text[0])
    md = report(a, a.cmdline, speed_rows, meta, ppl, text, load_before)
    print(md)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md + "\n")


if __name__ == "__main__":
    main()
