#!/usr/bin/env bash
# cargo check of the library for each feature set; prints errors/warnings per set
cd /work/wt-feat
for f in sqlite postgres mysql mongodb sqlite,components postgres,components mongodb,components sqlite,postgres,mysql,mongodb; do
  out=$(CARGO_TARGET_DIR=/work/wt-feat/target cargo check -p db-migrate --no-default-features --features "$f" --message-format short 2>&1)
  n=$(echo "$out" | grep -cE "^runner.*(error|warning)")
  echo "== [$f] $n"
  echo "$out" | grep -E "^runner.*(error|warning)" | head -15
done
