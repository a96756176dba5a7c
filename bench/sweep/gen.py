"""Write one benchmark project: N items, the two scripts, and the pipeline
file for one tool. Usage: gen.py lungflow|dvc DIR LOG [N]
For DVC, env DVC_PREP=foreach (default: one prep stage per item, `foreach`)
or DVC_PREP=single (one prep stage that loops over all items)."""
import os, shutil, sys

tool, root, log = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 100
here = os.path.dirname(os.path.abspath(__file__))
py = "/usr/bin/python3"  # not the pyenv shim: it adds ~0.2 s per process
os.makedirs(os.path.join(root, "src"))
for s in ("prep.py", "train.py"):
    shutil.copy(os.path.join(here, "src", s), os.path.join(root, "src", s))
items = [f"item_{i:03d}" for i in range(n)]
for it in items:
    os.makedirs(os.path.join(root, "data", it))
    with open(os.path.join(root, "data", it, "data.txt"), "w") as f:
        f.write(f"{it} " + "x" * 64 + "\n")

if tool == "lungflow":
    with open(os.path.join(root, "pipe.yaml"), "w") as f:
        f.write(f"""items:
  items:
    dir: data
stages:
  prep:
    kind: command
    foreach: items
    inputs:
      raw: data/{{item}}
      script: src/prep.py
    params:
      cmd: "{py} {{inputs.script}} {{inputs.raw}} {{out}}/prep.txt {{item}} {log}"
      outputs: [prep.txt]
  train:
    kind: command
    inputs:
      prep: "@prep"
      script: src/train.py
    params:
      cmd: "{py} {{inputs.script}} {{inputs.prep}} {{out}}/metrics.json {{params.m}} {{params.lr}} {log}"
      outputs: [metrics.json]
      m: 1
      lr: 1.0e-3
sweep:
  grid:
    train.m: [1, 2, 4]
    train.lr: [1.0e-3, 3.0e-4]
""")
elif tool == "dvc" and os.environ.get("DVC_PREP", "foreach") == "single":
    # the alternative layout: one prep stage over all items, one command that
    # loops over them (serially: DVC runs one stage at a time per experiment)
    with open(os.path.join(root, "params.yaml"), "w") as f:
        f.write("train:\n  m: 1\n  lr: 0.001\n")
    with open(os.path.join(root, "dvc.yaml"), "w") as f:
        f.write(f"""stages:
  prep:
    cmd: for d in data/*; do i=$(basename $d); {py} src/prep.py $d prep/$i/prep.txt $i {log} || exit 1; done
    deps:
      - src/prep.py
      - data
    outs:
      - prep
  train:
""")
elif tool == "dvc":
    with open(os.path.join(root, "params.yaml"), "w") as f:
        f.write("train:\n  m: 1\n  lr: 0.001\n")
    with open(os.path.join(root, "dvc.yaml"), "w") as f:
        f.write("stages:\n  prep:\n    foreach:\n")
        f.writelines(f"      - {it}\n" for it in items)
        f.write(f"""    do:
      cmd: {py} src/prep.py data/${{item}} prep/${{item}}/prep.txt ${{item}} {log}
      deps:
        - src/prep.py
        - data/${{item}}
      outs:
        - prep/${{item}}
  train:
""")
else:
    sys.exit(f"unknown tool {tool}")
if tool == "dvc":
    with open(os.path.join(root, "dvc.yaml"), "a") as f:
        f.write(f"""    cmd: {py} src/train.py prep metrics.json ${{train.m}} ${{train.lr}} {log}
    deps:
      - src/train.py
      - prep
    params:
      - train.m
      - train.lr
    metrics:
      - metrics.json:
          cache: false
""")
