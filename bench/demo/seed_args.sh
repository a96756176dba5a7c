# Sourced by seeds.sh and sweep_seeds.sh: `seed_args S` fills the array
# `args` with the --set flags of seed S of the whole chain. Seed 0 is the
# shipped pipeline (no flags); seed S > 0 draws another cohort (cohort.seed
# 2017 + S: other patients, nodules and labels), other patches (17 + S), and
# seeds the GMCAE, the classifier and the baseline's deal with S (the
# baseline and the classifier must share their seed to share their folds).
seed_args() {
  args=()
  local s=$1
  if [ "$s" != 0 ]; then
    args=(--set "cohort.seed=$((2017 + s))" --set "patches.seed=$((17 + s))" --set "gmcae.seed=$s"
          --set "classifier.seed=$s" --set "baseline.seed=$s")
  fi
}
