"""train: reads every prep output, burns a fixed ~2 s of CPU, writes metrics.json
with loss = f(m, lr, data). Usage: train.py PREP_DIR OUT_JSON M LR LOG"""
import json, os, sys, time

prep, out, m, lr, log = sys.argv[1:6]
t0 = time.time()
files = sorted(os.path.join(root, n) for root, _, names in os.walk(prep, followlinks=True) for n in names if n == "prep.txt")
acc = 0
for p in files:
    with open(p) as f:
        acc = (acc * 131 + int(f.read().strip()[:8], 16)) & 0xFFFFFFFF
x = acc
for i in range(25_000_000):
    x = (x * 31 + i) & 0xFFFFFFFF
m, lr = float(m), float(lr)
loss = 1.0 / m + 100.0 * abs(lr - 5e-4) + (acc % 1000) / 1e6
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    json.dump({"loss": round(loss, 6), "items": len(files)}, f)
with open(log, "a") as f:
    f.write(f"train\tm={m:g},lr={lr:g}\t{t0:.3f}\t{time.time():.3f}\n")
