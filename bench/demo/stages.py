"""Per-stage wall time and peak RSS of the demo run in the current folder.

Wall time: from the cache manifests (sum over instances, and the span from
the first start to the last finish). Peak RSS: the stage's slowest instance
rerun alone through `lungflow exec` with the same kind, parameters, item and
inputs (gathered inputs are rebuilt as folders of links), under
/usr/bin/time.
"""
import collections
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile

binary = sys.argv[1]
manifests = [json.load(open(f)) for f in glob.glob("cache/entries/*/*/manifest.json")]
by_stage = collections.defaultdict(list)
for m in manifests:
    by_stage[m["stage"]].append(m)


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def out_dir(key, subpath):
    d = os.path.abspath(f"cache/entries/{key[:2]}/{key}/out")
    return os.path.join(d, subpath) if subpath else d


def exec_rss(m, scratch):
    args = [binary, "exec", m["kind"], "--out", os.path.join(scratch, "out")]
    for name, value in m["params"].items():
        args += ["--set", f"{name}={json.dumps(value) if isinstance(value, list) else value}"]
    if m["item"]:
        args += ["--item", m["item"]]
    for name, rec in m["inputs"].items():
        if rec["source"] == "external":
            path = rec["path"]
        elif rec["source"] == "gather":
            path = os.path.join(scratch, "in", name)
            os.makedirs(path)
            for g in rec["items"]:
                os.symlink(out_dir(g["key"], rec["subpath"]), os.path.join(path, g["item"]))
        else:
            path = out_dir(rec["key"], rec["subpath"])
        args += ["--input", f"{name}={path}"]
    timing = os.path.join(scratch, "time.txt")
    subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", timing] + args, check=True, capture_output=True)
    seconds, kb = open(timing).read().split()
    return float(seconds), int(kb) / 1024


order = sorted(by_stage, key=lambda s: min(when(m["started"]) for m in by_stage[s]))
print("| stage | instances | sum of instance wall (s) | span (s) | slowest instance alone: wall (s) | peak RSS (MiB) |")
print("|---|---|---|---|---|---|")
for stage in order:
    ms = by_stage[stage]
    total = sum(m["seconds"] for m in ms)
    span = max(when(m["finished"]) for m in ms) - min(when(m["started"]) for m in ms)
    slowest = max(ms, key=lambda m: m["seconds"])
    with tempfile.TemporaryDirectory() as scratch:
        wall, rss = exec_rss(slowest, scratch)
    print(f"| {stage} | {len(ms)} | {total:.1f} | {span:.1f} | {wall:.2f} | {rss:.0f} |")
