#!/usr/bin/env python3
"""Time `lungflow status` against `dvc status` in a work folder made by
generate.py, and write a markdown report.

Steps (all in WORK, every command logged with its wall time):
  0. Copy the lungflow binary to WORK/bin/lungflow (so that a rebuild during
     the run cannot change the binary under test); record its sha256.
  1. `lungflow run lungflow.yaml --json` (full run, timed once; must execute
     every instance and fail none).
  2. DVC: git init, dvc init, produce_dvc_outputs.sh (the dvc.yaml commands
     as a plain shell loop instead of `dvc repro`), `dvc commit -f`.
  3. Warm status: one untimed warm-up of each, then REPS interleaved timed
     runs of `lungflow status lungflow.yaml`, `lungflow status --json` and
     `dvc status`. Every run's output is checked (lungflow: every instance
     fresh; dvc: "Data and pipelines are up to date.").
  4. Cold input hashing: `lungflow status` after deleting cache/state.sqlite
     (the stat cache; the page cache stays warm) against md5sum (xargs, one
     process and two) and Python hashlib.md5 over the same files.
  5. One untimed `strace -c -f` of a warm `lungflow status`, for the report.

Run through run.sh, which generates the work folder first.
"""

import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

LOG = []  # (command, seconds, note)


def sh(cmd, cwd, env, check=True, note=""):
    """Runs a shell command, returns (seconds, stdout, stderr, rc)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, shell=True, cwd=cwd, env=env, executable="/bin/bash",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    LOG.append((cmd, dt, note))
    print(f"[{dt:9.3f}s] {cmd}" + (f"  ({note})" if note else ""), flush=True)
    if check and p.returncode != 0:
        sys.stderr.write((p.stdout or "")[-3000:] + (p.stderr or "")[-3000:])
        raise SystemExit(f"command failed (rc {p.returncode}): {cmd}")
    return dt, p.stdout, p.stderr, p.returncode


def stats(xs):
    return {"n": len(xs), "best": min(xs), "median": statistics.median(xs), "worst": max(xs), "all": xs}


def fmt(s):
    return f"{s:.3f}"


def check_lf_text(path, expected):
    with open(path) as fh:
        lines = fh.read().splitlines()
    summary = lines[-1] if lines else ""
    fresh = sum(1 for line in lines if line.startswith("fresh "))
    want = f"{expected} fresh, 0 stale, 0 missing"
    if summary != want or fresh != expected:
        raise SystemExit(f"lungflow status is not all fresh: summary {summary!r}, {fresh} fresh rows, expected {want!r}")
    return summary


def check_lf_json(path, expected):
    with open(path) as fh:
        rows = json.load(fh)
    states = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    if states != {"fresh": expected}:
        raise SystemExit(f"lungflow status --json is not all fresh: {states}")
    return f"{expected} rows, all fresh"


def check_dvc(out):
    if out.strip() != "Data and pipelines are up to date.":
        raise SystemExit(f"dvc status does not say everything is up to date:\n{out[:3000]}")
    return out.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/lfbench")
    ap.add_argument("--lungflow", default=os.path.join(REPO, "target", "release", "lungflow"))
    ap.add_argument("--venv", default=os.path.join(REPO, "bench", ".venv"))
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of each warm status")
    ap.add_argument("--cold-reps", type=int, default=3, help="timed repetitions of each cold hashing")
    ap.add_argument("--jobs", type=int, default=0, help="lungflow run --jobs (0: its default)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--label", default="", help="a paragraph added under the report title")
    ap.add_argument("--skip-dvc", action="store_true")
    args = ap.parse_args()

    work = os.path.abspath(args.work)
    env = dict(os.environ)
    env["PATH"] = os.path.join(args.venv, "bin") + os.pathsep + env["PATH"]
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("LUNGFLOW_CACHE", None)
    env["LC_ALL"] = "C"

    # 0. Freeze the binary under test.
    src_lf = os.path.abspath(args.lungflow)
    os.makedirs(os.path.join(work, "bin"), exist_ok=True)
    lf = os.path.join(work, "bin", "lungflow")
    shutil.copy2(src_lf, lf)
    with open(lf, "rb") as fh:
        lf_sha = hashlib.sha256(fh.read()).hexdigest()
    lf_mtime = datetime.datetime.fromtimestamp(os.path.getmtime(src_lf)).isoformat(timespec="seconds")

    items = sorted(os.listdir(os.path.join(work, "data")))
    n_inst = 5 * len(items)
    files = glob.glob(os.path.join(work, "data", "*", "*"))
    n_files = len(files)
    n_bytes = sum(os.path.getsize(f) for f in files)
    print(f"{work}: {len(items)} items, {n_inst} instances, {n_files} files, {n_bytes} bytes", flush=True)

    # Machine and versions.
    def cap(cmd):
        return subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True).stdout.strip()
    machine = {
        "nproc": cap("nproc"),
        "cpu": cap("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip(),
        "free -g": cap("free -g"),
        "kernel": platform.release(),
        "filesystem": cap(f"df -hT {work} | tail -1"),
        "lungflow --version": cap(f"{lf} --version"),
        "lungflow binary": f"copy of {src_lf} (mtime {lf_mtime}), sha256 {lf_sha}",
        "repo HEAD": cap(f"git -C {REPO} log -1 --format='%h %s'") + (
            " (+ uncommitted changes)" if cap(f"git -C {REPO} status --porcelain --untracked-files=no") else ""),
        "dvc --version": cap("dvc --version") if not args.skip_dvc else "(skipped)",
        "python": platform.python_version(),
        "loadavg at start": cap("cat /proc/loadavg"),
    }

    # 1. Full lungflow run.
    shutil.rmtree(os.path.join(work, "cache"), ignore_errors=True)
    jobs = f" --jobs {args.jobs}" if args.jobs else ""
    run_cmd = f"{lf} run lungflow.yaml{jobs} --json"
    t_run, out, _, _ = sh(run_cmd, work, env, note="full run")
    res = json.loads(out)
    executed = len(res["executed"]) if isinstance(res.get("executed"), list) else res.get("executed")
    if res.get("failed") or executed != n_inst:
        raise SystemExit(f"lungflow run: executed {executed}, failed {res.get('failed')}, expected {n_inst}")
    run_note = f"executed {executed}, failed 0, lungflow's own seconds {res.get('seconds', float('nan')):.2f}"

    # First status right after the run (what a user sees first).
    st_out = os.path.join(work, "status.txt")
    st_json = os.path.join(work, "status.json")
    st_cmd = f"{lf} status lungflow.yaml > {st_out}"
    t_first_lf, _, _, _ = sh(st_cmd, work, env, note="first status after run")
    check_lf_text(st_out, n_inst)

    # 2. DVC set-up.
    dvc_setup = []
    if not args.skip_dvc:
        for p in (".git", ".dvc", "out", "dvc.lock", ".dvc-site", ".dvcignore", ".gitignore"):
            pp = os.path.join(work, p)
            if os.path.isdir(pp):
                shutil.rmtree(pp)
            elif os.path.exists(pp):
                os.remove(pp)
        with open(os.path.join(work, ".gitignore"), "w") as fh:
            fh.write("/cache/\n/.dvc-site/\n/bin/\n/status.*\n")
        for cmd in ("git init -q", "dvc init -q",
                    "dvc config core.analytics false", "dvc config core.check_update false",
                    f"dvc config core.site_cache_dir {work}/.dvc-site"):
            sh(cmd, work, env)
        for cmd, note in (("./produce_dvc_outputs.sh", "DVC outputs by a plain shell loop"),
                          ("dvc commit -f -q", "records dvc.lock and caches outs")):
            dt, _, _, _ = sh(cmd, work, env, note=note)
            dvc_setup.append((cmd, dt, note))
        dt, out, _, _ = sh("dvc status", work, env, note="first dvc status after commit")
        check_dvc(out)
        t_first_dvc = dt

    # 3. Warm status, interleaved.
    sh(st_cmd, work, env, note="warm-up")
    check_lf_text(st_out, n_inst)
    json_cmd = f"{lf} status lungflow.yaml --json > {st_json}"
    warm = {"lf": [], "lfjson": [], "dvc": []}
    for i in range(args.reps):
        dt, _, _, _ = sh(st_cmd, work, env, note=f"warm {i + 1}/{args.reps}")
        check_lf_text(st_out, n_inst)
        warm["lf"].append(dt)
        dt, _, _, _ = sh(json_cmd, work, env, note=f"warm {i + 1}/{args.reps}")
        check_lf_json(st_json, n_inst)
        warm["lfjson"].append(dt)
        if not args.skip_dvc:
            dt, out, _, _ = sh("dvc status", work, env, note=f"warm {i + 1}/{args.reps}")
            check_dvc(out)
            warm["dvc"].append(dt)

    # 4. Cold input hashing.
    state = os.path.join(work, "cache", "state.sqlite")
    cold = {"lf": [], "md5sum": [], "md5sum2": [], "hashlib": []}
    rm_cmd = f"rm -f {state} {state}-wal {state}-shm {state}-journal"
    md5_cmd = "find data -type f -print0 | xargs -0 md5sum > /dev/null"
    md5p_cmd = "find data -type f -print0 | xargs -0 -P 2 -n 4000 md5sum > /dev/null"
    py_cmd = (f"{sys.executable} -c \"import hashlib,os\n"
              "for r,_,fs in os.walk('data'):\n"
              "  for f in fs:\n"
              "    hashlib.md5(open(os.path.join(r,f),'rb').read()).hexdigest()\"")
    sh(md5_cmd, work, env, note="page-cache warm-up")
    for i in range(args.cold_reps):
        sh(rm_cmd, work, env)
        dt, _, _, _ = sh(st_cmd, work, env, note=f"cold stat cache {i + 1}/{args.cold_reps}")
        check_lf_text(st_out, n_inst)
        cold["lf"].append(dt)
        cold["md5sum"].append(sh(md5_cmd, work, env, note=f"{i + 1}/{args.cold_reps}")[0])
        cold["md5sum2"].append(sh(md5p_cmd, work, env, note=f"{i + 1}/{args.cold_reps}")[0])
        cold["hashlib"].append(sh(py_cmd, work, env, note=f"{i + 1}/{args.cold_reps}")[0])
    # Leave the stat cache warm again.
    sh(st_cmd, work, env, note="re-warm stat cache")
    machine["loadavg at end"] = cap("cat /proc/loadavg")

    # 5. Syscall profile of one warm status (untimed).
    strace = ""
    if shutil.which("strace"):
        _, _, err, _ = sh(f"strace -f -c -o /dev/stderr {lf} status lungflow.yaml > /dev/null", work, env,
                          check=False, note="syscall profile, not timed")
        strace = "\n".join(err.strip().splitlines()[:16])

    # Report.
    W = {k: stats(v) for k, v in warm.items() if v}
    C = {k: stats(v) for k, v in cold.items()}
    mb = n_bytes / 1e6
    L = []
    L.append("# `lungflow status` vs `dvc status`")
    L.append("")
    L.append(f"Generated by `bench/status/run.sh` on {datetime.datetime.now().isoformat(timespec='seconds')}.")
    if args.label:
        L.append("")
        L.append(args.label)
    L.append("")
    L.append(f"Workload: {len(items)} items x 5 chained per-item command stages = **{n_inst} instances**, "
             f"over **{n_files} input files** ({n_bytes} bytes, {n_bytes / n_files:.0f} B/file) in `data/<item>/`. "
             f"Work folder `{work}`.")
    L.append("")
    L.append("## Warm status (after a full run; everything up to date)")
    L.append("")
    L.append(f"Interleaved, {args.reps} repetitions each, after one untimed warm-up; every run's output checked "
             f"(lungflow: `{n_inst} fresh, 0 stale, 0 missing`; DVC: `Data and pipelines are up to date.`).")
    L.append("")
    L.append("| command | best (s) | median (s) | worst (s) | all (s) |")
    L.append("|---|---|---|---|---|")
    names = {"lf": "`lungflow status lungflow.yaml`", "lfjson": "`lungflow status lungflow.yaml --json`",
             "dvc": "`dvc status`"}
    for k in ("lf", "lfjson", "dvc"):
        if k in W:
            s = W[k]
            L.append(f"| {names[k]} | {fmt(s['best'])} | {fmt(s['median'])} | {fmt(s['worst'])} | "
                     f"{', '.join(fmt(x) for x in s['all'])} |")
    L.append("")
    if "dvc" in W:
        rb = W["dvc"]["best"] / W["lf"]["best"]
        rm = W["dvc"]["median"] / W["lf"]["median"]
        L.append(f"**Ratio dvc / lungflow (same run): {rb:.1f}x on best, {rm:.1f}x on median.** "
                 f"Goal: lungflow under 1 s ({'met' if W['lf']['median'] < 1 else 'NOT met'} on the median, "
                 f"{'met' if W['lf']['best'] < 1 else 'NOT met'} on the best) and at least 20x faster than DVC "
                 f"({'met' if min(rb, rm) >= 20 else 'NOT met'}).")
        L.append("")
    L.append("Also in this run (single timings):")
    L.append("")
    L.append(f"- full `lungflow run` ({n_inst} commands): {t_run:.2f} s ({run_note})")
    L.append(f"- first `lungflow status` right after the run: {t_first_lf:.3f} s")
    for cmd, dt, note in dvc_setup:
        L.append(f"- DVC set-up `{cmd}` ({note}): {dt:.2f} s")
    if not args.skip_dvc:
        L.append(f"- first `dvc status` right after `dvc commit`: {t_first_dvc:.3f} s")
    L.append("")
    L.append("## Cold input hashing (stat cache deleted, page cache warm)")
    L.append("")
    L.append(f"{args.cold_reps} repetitions each, interleaved. lungflow: `{rm_cmd}` before each "
             "`lungflow status`, which then rehashes every input file (blake3) and still reports every "
             "instance fresh (checked). The lungflow time is the whole status command, not only hashing.")
    L.append("")
    L.append("| what | best (s) | median (s) | MB/s (best) | files/s (best) | all (s) |")
    L.append("|---|---|---|---|---|---|")
    cnames = {"lf": "`lungflow status` (cold stat cache, whole command)", "md5sum": "`md5sum` (xargs, 1 process)",
              "md5sum2": "`md5sum` (xargs -P 2 -n 4000)", "hashlib": "Python `hashlib.md5` (1 thread, os.walk)"}
    for k in ("lf", "md5sum", "md5sum2", "hashlib"):
        s = C[k]
        L.append(f"| {cnames[k]} | {fmt(s['best'])} | {fmt(s['median'])} | {mb / s['best']:.1f} | "
                 f"{n_files / s['best']:.0f} | {', '.join(fmt(x) for x in s['all'])} |")
    L.append("")
    extra = C["lf"]["median"] - W["lf"]["median"]
    L.append(f"Cold vs warm `lungflow status` (medians): {C['lf']['median']:.3f} s vs {W['lf']['median']:.3f} s; "
             f"the difference, {extra:.3f} s, is the cost of rehashing the inputs and refilling the stat cache"
             + (f" ({mb / extra:.1f} MB/s, {n_files / extra:.0f} files/s)." if extra > 0 else "."))
    L.append("")
    if strace:
        L.append("## Syscalls of one warm `lungflow status` (`strace -f -c`, untimed)")
        L.append("")
        L.append("```")
        L.append(strace)
        L.append("```")
        L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append("```")
    for k, v in machine.items():
        L.append(f"{k}: {v}" if "\n" not in v else f"{k}:\n{v}")
    L.append("```")
    L.append("")
    L.append("## Every command, in order, with its wall time")
    L.append("")
    L.append(f"In `{work}`, after `bench/status/generate.py --work {work}`; `dvc` is from `{args.venv}/bin` "
             "(first on PATH), env `DVC_NO_ANALYTICS=1 LC_ALL=C`.")
    L.append("")
    L.append("```")
    for cmd, dt, note in LOG:
        L.append(f"[{dt:9.3f}s] {cmd}" + (f"   # {note}" if note else ""))
    L.append("```")
    text = "\n".join(L) + "\n"
    blob = json.dumps({"work": work, "items": len(items), "instances": n_inst, "files": n_files, "bytes": n_bytes,
                       "warm": W, "cold": C, "run_s": t_run, "machine": machine,
                       "log": [{"cmd": c, "s": d, "note": n} for c, d, n in LOG]}, indent=1)
    # A copy in the work folder too, in case the repository's working tree is swept meanwhile.
    for target in (args.out, os.path.join(work, os.path.basename(args.out))):
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        with open(target, "w") as fh:
            fh.write(text)
        with open(os.path.splitext(target)[0] + ".json", "w") as fh:
            fh.write(blob)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
