#!/usr/bin/env bash
# Nightly retraining: new model versions from the latest canonical export, plus an evaluation
# report beside them. A running server picks the versions up without a restart.
# Usage: training/retrain.sh EVENTS ITEMS [USERS]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:?events file}
items=${2:?items file}
users=${3:-}
bin=.venv/bin
args=(--events "$events" --items "$items")
[ -n "$users" ] && args+=(--users "$users")
"$bin/recsvc" train "${args[@]}"
cutoff=$("$bin/python" - "$events" <<'PY'
import sys
from recsvc.data.convert import load_dataset
ev = load_dataset(sys.argv[1]).events
print((ev["ts"].max() - __import__("pandas").Timedelta(days=30)).strftime("%Y-%m-%d"))
PY
)
mkdir -p var/reports
"$bin/recsvc" evaluate churn --events "$events" --cutoff "$cutoff" --horizon-days 30 --json var/reports/churn.json
"$bin/recsvc" evaluate recs --events "$events" --items "$items" --cutoff "$cutoff" --horizon-days 30 \
  --json var/reports/recs.json
"$bin/recsvc" evaluate sendtime --events "$events" --cutoff "$cutoff" --json var/reports/sendtime.json
