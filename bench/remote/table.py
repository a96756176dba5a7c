#!/usr/bin/env python3
"""The Markdown table of bench/remote/run.sh from its results.tsv.

    table.py RESULTS.tsv --title TEXT --facts TEXT

One line per tool and operation: the seconds of every round, their median,
files and bytes moved (the first round's; rounds that disagree are flagged),
throughput, peak RSS, and for lungflow the ratios to DVC and rclone, in time
and in time per byte moved. `dvc add+push` is the sum of the two commands in
each round, the counterpart of `lungflow push` (which rehashes every file too).
"""

import argparse
import csv
import statistics
from collections import defaultdict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--title", default="")
    ap.add_argument("--facts", default="")
    a = ap.parse_args()

    runs = defaultdict(dict)  # (tool, op) -> round -> row
    with open(a.tsv) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            runs[(r["tool"], r["op"])][int(r["round"])] = r
    # dvc add+push: per round, seconds summed, files and bytes of the push.
    if ("dvc", "add") in runs and ("dvc", "push") in runs:
        both = {}
        for rnd, push in runs[("dvc", "push")].items():
            add = runs[("dvc", "add")].get(rnd)
            if add:
                both[rnd] = dict(push, seconds=str(float(add["seconds"]) + float(push["seconds"])),
                                 rss_kb=str(max(int(add["rss_kb"]), int(push["rss_kb"]))), note="add + push")
        runs[("dvc", "add+push")] = both

    def summary(key):
        rows = runs.get(key)
        if not rows:
            return None
        secs = [float(rows[k]["seconds"]) for k in sorted(rows)]
        first = rows[min(rows)]
        same = all(rows[k]["files"] == first["files"] and rows[k]["bytes"] == first["bytes"] for k in rows)
        return {
            "secs": secs,
            "median": statistics.median(secs),
            "files": int(float(first["files"])),
            "bytes": int(float(first["bytes"])),
            "same": same,
            "rss": max(int(rows[k]["rss_kb"]) for k in rows),
            "note": first["note"],
        }

    def ratio(lf, other):
        if not lf or not other or not other["median"]:
            return "", ""
        t = lf["median"] / other["median"]
        if lf["bytes"] and other["bytes"]:
            pb = (lf["median"] / lf["bytes"]) / (other["median"] / other["bytes"])
            return f"{t:.2f}", f"{pb:.2f}"
        return f"{t:.2f}", ""

    groups = [
        ("up", [("lungflow", "push"), ("dvc", "add+push"), ("dvc", "add"), ("dvc", "push"), ("rclone", "up")]),
        ("down", [("lungflow", "pull"), ("dvc", "pull"), ("rclone", "down")]),
        ("fresh clone", [("lungflow", "clone-run")]),
    ]
    lf_of = {"up": ("lungflow", "push"), "down": ("lungflow", "pull")}
    dvc_of = {"up": ("dvc", "add+push"), "down": ("dvc", "pull")}
    rc_of = {"up": ("rclone", "up"), "down": ("rclone", "down")}

    if a.title:
        print(f"\n{a.title}\n")
    if a.facts:
        print(f"{a.facts}\n")
    print("| direction | command | seconds per round | median s | files | bytes | MB/s | peak RSS MiB "
          "| lungflow/dvc (time, per byte) | lungflow/rclone (time, per byte) | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for direction, keys in groups:
        lf = summary(lf_of.get(direction, ("", "")))
        dv = summary(dvc_of.get(direction, ("", "")))
        rc = summary(rc_of.get(direction, ("", "")))
        for key in keys:
            s = summary(key)
            if not s:
                continue
            name = f"{key[0]} {key[1]}"
            mbs = f"{s['bytes'] / s['median'] / 1e6:.1f}" if s["median"] and s["bytes"] else ""
            r_dvc = r_rc = ""
            if key == lf_of.get(direction):
                t, pb = ratio(lf, dv)
                r_dvc = f"{t}, {pb}" if t else ""
                t, pb = ratio(lf, rc)
                r_rc = f"{t}, {pb}" if t else ""
            files = f"{s['files']:,}" + ("" if s["same"] else " (varies)")
            print(f"| {direction} | `{name}` | {', '.join(f'{x:.2f}' for x in s['secs'])} | **{s['median']:.2f}** "
                  f"| {files} | {s['bytes']:,} | {mbs} | {s['rss'] / 1024:.0f} | {r_dvc} | {r_rc} | {s['note']} |")


if __name__ == "__main__":
    main()
