"""Per-stage figures of the run whose cache is ./cache, from its manifests.

Usage: python3 stages.py PATIENTS   (prints a Markdown table, and on the
last line `per_patient_cache_bytes=B once_cache_bytes=B` for run.sh)

Per stage: instances; the sum of their wall seconds and of their CPU
seconds (the manifests' `seconds` and `usage.cpu_seconds`); the largest
`usage.peak_rss_kib` (an instance's child process, or lungflow's process for
an in-process stage); and the bytes its entries take on disk (`du` of every
`cache/entries/xx/KEY/` folder: outputs, manifest and log), in all and per
patient.
"""
import collections
import glob
import json
import os
import sys

patients = int(sys.argv[1])
stages = collections.OrderedDict()
for path in sorted(glob.glob("cache/entries/*/*/manifest.json"), key=os.path.getmtime):
    m = json.load(open(path))
    entry = os.path.dirname(path)
    disk = 0
    for root, _, files in os.walk(entry):
        for f in files:
            disk += os.lstat(os.path.join(root, f)).st_blocks * 512
    s = stages.setdefault(m["stage"], {"n": 0, "wall": 0.0, "cpu": 0.0, "rss": 0, "bytes": 0, "once": m["item"] is None})
    usage = m.get("usage") or {}
    s["n"] += 1
    s["wall"] += m.get("seconds") or 0.0
    s["cpu"] += usage.get("cpu_seconds") or 0.0
    s["rss"] = max(s["rss"], usage.get("peak_rss_kib") or 0)
    s["bytes"] += disk


def mb(b):
    return f"{b / 1e6:,.1f}"


print("| stage | instances | sum of wall (s) | sum of CPU (s) | largest peak RSS (MiB) | cache on disk (MB) | per patient (MB) |")
print("|---|---|---|---|---|---|---|")
per_patient = once = 0
for name, s in stages.items():
    share = "" if s["once"] else mb(s["bytes"] / patients)
    if s["once"]:
        once += s["bytes"]
    else:
        per_patient += s["bytes"] / patients
    print(f"| {name} | {s['n']} | {s['wall']:.1f} | {s['cpu']:.1f} | {s['rss'] / 1024:,.0f} | {mb(s['bytes'])} | {share} |")
print(f"per_patient_cache_bytes={per_patient:.0f} once_cache_bytes={once}")
