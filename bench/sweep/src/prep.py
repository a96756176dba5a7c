"""prep: a fixed amount of CPU work (~0.15 s) on one item's input file.
Usage: prep.py INPUT_DIR OUT_FILE ITEM LOG"""
import hashlib, os, sys, time

inp, out, item, log = sys.argv[1:5]
t0 = time.time()
with open(os.path.join(inp, "data.txt"), "rb") as f:
    h = f.read()
for _ in range(350_000):
    h = hashlib.sha256(h).digest()
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    f.write(h.hex() + "\n")
with open(log, "a") as f:
    f.write(f"prep\t{item}\t{t0:.3f}\t{time.time():.3f}\n")
