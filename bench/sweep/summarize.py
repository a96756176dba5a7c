"""Markdown tables from run.sh's results.tsv. Usage: summarize.py results.tsv"""
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault((r["step"], r["tool"]), []).append(r)

def col(rs, c, fmt=None):
    return " / ".join(fmt(r[c]) if fmt else r[c] for r in rs)

one = lambda x: f"{float(x):.1f}"
print("| step | tool | best s | median s | per rep s | prep runs | train runs | DVC failed experiments (re-queued) | DVC queueing s | last command ended at s | foreign CPU s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
ratios = []
for step in ("cold", "incr"):
    stat = {}
    for tool in ("lungflow", "dvc"):
        rs = by.get((step, tool), [])
        if not rs:
            continue
        w = [float(r["wall_s"]) for r in rs]
        stat[tool] = (min(w), statistics.median(w))
        dvc = tool == "dvc"
        print(f"| {step} | {tool} | {min(w):.1f} | {statistics.median(w):.1f} | {col(rs, 'wall_s', one)} "
              f"| {col(rs, 'prep_runs')} | {col(rs, 'train_runs')} | {col(rs, 'dvc_failed') if dvc else '-'} "
              f"| {col(rs, 'queue_s', one) if dvc else '-'} | {col(rs, 'last_cmd_end_s', one)} | {col(rs, 'foreign_cpu_s', one)} |")
    if len(stat) == 2:
        ratios.append((step, stat["dvc"][0] / stat["lungflow"][0], stat["dvc"][1] / stat["lungflow"][1]))
print()
print("| step | DVC / lungflow (best) | DVC / lungflow (median) |")
print("|---|---|---|")
for step, b, m in ratios:
    print(f"| {step} | {b:.1f}x | {m:.1f}x |")
