"""Every committed DVC experiment's m, lr and loss, read from its git ref
(params.yaml and metrics.json, which is not DVC-cached), and its name.
Usage: dvc_losses.py REPO"""
import json, re, subprocess, sys

repo = sys.argv[1]
git = lambda *a: subprocess.run(["git", "-C", repo, *a], check=True, capture_output=True, text=True).stdout
refs = git("for-each-ref", "--format=%(refname)", "refs/exps").split()
for ref in [r for r in refs if re.match(r"refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/", r)]:
    params = {}
    for line in git("show", f"{ref}:params.yaml").splitlines():
        if line.startswith("  ") and ":" in line:
            k, v = line.split(":", 1)
            params[k.strip()] = float(v)
    loss = json.loads(git("show", f"{ref}:metrics.json"))["loss"]
    print(f"{params['m']:g}\t{params['lr']:g}\t{loss}\t{ref.rsplit('/', 1)[1]}")
