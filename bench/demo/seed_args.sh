# Sourced by seeds.sh and sweep_seeds.sh (from the repository root).
#
# `seed_args S` fills the array `args` with the --set flags of seed S of
# the whole chain. Seed 0 is the shipped pipeline (no flags); seed S > 0
# draws another cohort (cohort.seed 2017 + S: other patients, nodules and
# labels), other patches (17 + S), and seeds the GMCAE, the classifier and
# the baseline's deal with S (the baseline and the classifier must share
# their seed to share their folds).
seed_args() {
  args=()
  local s=$1
  if [ "$s" != 0 ]; then
    args=(--set "cohort.seed=$((2017 + s))" --set "patches.seed=$((17 + s))" --set "gmcae.seed=$s"
          --set "classifier.seed=$s" --set "baseline.seed=$s")
  fi
}

# `seed_workdir PIPELINE` sets `bin` (LUNGFLOW_BIN, default the release
# build) and `py` (PYTHON, default the test venv's), copies
# pipelines/PIPELINE into bench/work/seeds, the seeds' shared cache, and
# enters that folder.
seed_workdir() {
  bin="$(realpath "${LUNGFLOW_BIN:-target/release/lungflow}")"
  py="$(realpath "${PYTHON:-target/tmp/python-venv/bin/python}")"
  mkdir -p bench/work/seeds
  cp "pipelines/$1" bench/work/seeds/
  cd bench/work/seeds
}
