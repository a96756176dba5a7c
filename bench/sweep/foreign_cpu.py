"""CPU used by processes that are not part of the benchmark (the machine is
shared). run.sh exports SWEEPBENCH=1; every process it starts, DVC's detached
queue workers included, inherits it. Everything else is foreign.
  foreign_cpu.py rate SECONDS    -> foreign CPU cores in use, averaged over SECONDS
  foreign_cpu.py top             -> the busiest foreign processes now (for the log)
  foreign_cpu.py watch FILE      -> until killed, sample every second and keep the
                                    foreign CPU seconds so far in FILE
Only processes alive at both ends of a sample interval are counted (their own
utime + stime), so short-lived foreign processes are missed: a lower bound."""
import os, sys, time

HZ = os.sysconf("SC_CLK_TCK")

def procs():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                ours = b"SWEEPBENCH=1" in f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        fields = s[s.rindex(")") + 2 :].split()
        # utime and stime are stat fields 14 and 15 (index 11 and 12 after comm)
        cpu = sum(int(x) for x in fields[11:13]) / HZ
        yield int(pid), comm, ours, cpu

def sample():
    return {(pid, comm): cpu for pid, comm, ours, cpu in procs() if not ours}

def used(a, b):
    return sum(max(0.0, cpu - a[k]) for k, cpu in b.items() if k in a)

cmd = sys.argv[1]
if cmd == "rate":
    a = sample(); time.sleep(float(sys.argv[2])); b = sample()
    print(f"{used(a, b) / float(sys.argv[2]):.2f}")
elif cmd == "watch":
    total, a = 0.0, sample()
    while True:
        time.sleep(1)
        b = sample()
        total += used(a, b)
        a = b
        with open(sys.argv[2] + ".tmp", "w") as f:
            f.write(f"{total:.1f}\n")
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
elif cmd == "top":
    a = sample()
    time.sleep(1)
    b = sample()
    d = sorted(((u - a[k], k[1]) for k, u in b.items() if k in a), reverse=True)[:3]
    print(", ".join(f"{c} {x:.2f}" for x, c in d if x > 0.05) or "none")
