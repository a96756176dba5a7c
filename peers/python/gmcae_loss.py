#!/usr/bin/env python3
"""Float64 numpy reference of the GMCAE mixture negative log-likelihood.

Reads a JSON file of cases, each with ``means`` [n][m][c], ``log_priors``
[n][m], ``variances`` [n][m] and ``target`` [n][c], and prints a JSON list with
the NLL of every patch of every case:

    E_k = log_prior_k - (c/2) ln(2 pi var_k) - ||t - mu_k||^2 / (2 var_k)
    NLL = -logsumexp_k E_k

Usage: python3 peers/python/gmcae_loss.py CASES.json
"""

import json
import sys

import numpy as np


def nll(means, log_priors, variances, target):
    """Per-patch NLL in float64."""
    means = np.asarray(means, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    log_priors = np.asarray(log_priors, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    c = target.shape[1]
    sq = ((means - target[:, None, :]) ** 2).sum(axis=2)
    energy = log_priors - 0.5 * c * np.log(2.0 * np.pi * variances) - sq / (2.0 * variances)
    top = energy.max(axis=1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(energy - top).sum(axis=1)))


def main() -> int:
    cases = json.load(open(sys.argv[1]))
    out = [nll(c["means"], c["log_priors"], c["variances"], c["target"]).tolist() for c in cases]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
