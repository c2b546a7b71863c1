"""How high can send-time hit@1h go on a log? A learner fitted to the judged truths themselves.

Why: "hit@1h +0.04 over the user's most frequent hour" may ask more than a log holds. At every
cut-off this probe takes the users of the `recsvc evaluate sendtime` protocol (events on both
sides; truth = local hour of the first event after the cut-off) and builds user x hour features
from the history: the user's share of events, of session starts and of the last 14 days' events at
each hour (and within one hour), the population's share, the hour's distance from the last event's
hour and from the cut-off's clock, history size and recency. A LightGBM classifier of "truth is
this hour" is then fitted *on judged truths*, two ways:

* forward: at cut-off k, trained on the truths of the earlier cut-offs that were already seen
  before cut-off k. This is the most an honest learner aimed straight at the metric can use.
* pooled: grouped 5-fold cross-validation by user over all cut-offs. Other users' truths from the
  same day are in training, so on logs where many users share a send (a campaign) this leaks the
  judged day and is only an optimistic reference.

The chosen hour maximises the predicted mass within one hour, as in the service. User-mode and
population baselines are scored on the same rows.

    .venv/bin/python bench/ceiling_sendtime.py ../shared/data/ml-100k --start 1997-10-15 --end 1998-04-01
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from recsvc.data.convert import load_dataset
from recsvc.timing.hours import circular_distance, circular_window, pick_hours
from recsvc.timing.localtime import local_times, user_zone_map

PARAMS: dict[str, Any] = {"n_estimators": 200, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": 50}
SESSION_GAP_S = 1800
RECENT_S = 14 * 86400


def _hour_table(uid: np.ndarray, hod: np.ndarray, index: pd.Index) -> np.ndarray:
    """Counts per (user in ``index``, hour of day)."""
    out = np.zeros((len(index), 24))
    code = index.get_indexer(uid)
    ok = code >= 0
    np.add.at(out, (code[ok], hod[ok]), 1.0)
    return out


def _share(t: np.ndarray) -> np.ndarray:
    return t / np.maximum(t.sum(axis=1, keepdims=True), 1.0)


def cutoff_rows(
    ev: pd.DataFrame, cut: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features [users, 24, k], truth hour, truth time, user-mode hour, user ids) at one cut-off."""
    cs = cut.value // 10**9
    before, after = ev[ev["t"] < cs], ev[ev["t"] >= cs]
    users = pd.Index(sorted(set(before["uid"]) & set(after["uid"])))
    first = after.groupby("uid", sort=False)[["hod", "t"]].first().loc[users]
    b = before[before["uid"].isin(users)]
    uid, hod, t = b["uid"].to_numpy(), b["hod"].to_numpy(), b["t"].to_numpy()
    cnt = _hour_table(uid, hod, users)
    new_user = np.r_[True, uid[1:] != uid[:-1]]
    start = new_user | (np.r_[np.inf, np.diff(t)] > SESSION_GAP_S)
    sess = _hour_table(uid[start], hod[start], users)
    recent = t >= cs - RECENT_S
    rec = _hour_table(uid[recent], hod[recent], users)
    pop = np.bincount(before["hod"], minlength=24).astype(np.float64)
    pop /= pop.sum()
    last = b.groupby("uid", sort=False).agg(hod=("hod", "last"), t=("t", "last"), n=("t", "size")).loc[users]
    hours = np.arange(24)
    cut_hour = int(cut.hour)
    n_u = len(users)
    parts = []
    for share in (_share(cnt), _share(sess), _share(rec)):
        parts += [share, circular_window(share, 1)]
    parts += [
        np.tile(pop, (n_u, 1)),
        np.tile(circular_window(pop, 1), (n_u, 1)),
        np.tile((hours - cut_hour) % 24, (n_u, 1)).astype(np.float64),
        circular_distance(hours[None, :], last["hod"].to_numpy()[:, None]).astype(np.float64),
        np.repeat(np.log1p(last["n"].to_numpy(np.float64))[:, None], 24, axis=1),
        np.repeat(((cs - last["t"].to_numpy()) / 86400.0)[:, None], 24, axis=1),
    ]
    x = np.stack(parts, axis=2)
    return x, first["hod"].to_numpy(np.int64), first["t"].to_numpy(np.int64), np.argmax(cnt, axis=1), users.to_numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", help="events file or raw data set, as for `recsvc evaluate`")
    ap.add_argument("--users", default=None, help="users file (time zones)")
    ap.add_argument("--start", required=True, help="first cut-off date")
    ap.add_argument("--end", required=True, help="last cut-off date")
    ap.add_argument("--every-days", type=int, default=7)
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    ds = load_dataset(args.events, users=args.users)
    ev = ds.events.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
    _, hod, _ = local_times(ev, user_zone_map(ds.users))
    ev = pd.DataFrame({"uid": ev["user_id"].astype(str), "hod": hod, "t": pd.DatetimeIndex(ev["ts"]).as_unit("s").asi8})
    cuts = list(
        pd.date_range(pd.Timestamp(args.start, tz="UTC"), pd.Timestamp(args.end, tz="UTC"), freq=f"{args.every_days}D")
    )
    rows = [cutoff_rows(ev, c) for c in cuts]
    x = np.concatenate([r[0] for r in rows])
    truth = np.concatenate([r[1] for r in rows])
    when = np.concatenate([r[2] for r in rows])
    mode = np.concatenate([r[3] for r in rows])
    uids = np.concatenate([r[4] for r in rows])
    ci = np.concatenate([np.full(len(r[1]), k) for k, r in enumerate(rows)])
    n, _, k = x.shape
    flat = x.reshape(n * 24, k)
    label = (np.arange(24)[None, :] == truth[:, None]).reshape(-1).astype(np.int8)
    pop_pick = x[:, :, 6].argmax(axis=1)

    def hits(pred: np.ndarray, sel: np.ndarray) -> float:
        return float(np.mean(circular_distance(pred[sel], truth[sel]) <= 1))

    # Forward: train on earlier cut-offs' truths already seen at cut-off k.
    fwd = np.full(n, -1)
    for j, c in enumerate(cuts):
        tr = (ci < j) & (when < c.value // 10**9)
        if tr.sum() < 200:
            continue
        trr = np.repeat(tr, 24)
        m = lgb.LGBMClassifier(verbose=-1, random_state=0, **PARAMS).fit(flat[trr], label[trr])
        te = ci == j
        fwd[te] = pick_hours(np.asarray(m.predict_proba(flat[np.repeat(te, 24)]))[:, 1].reshape(-1, 24))
    # Pooled: grouped by user, so a user's own truths never train their prediction.
    pooled = np.zeros((n, 24))
    groups = pd.factorize(uids)[0]
    for tr, te in GroupKFold(5).split(np.arange(n), groups=groups):
        trr, ter = np.repeat(np.isin(np.arange(n), tr), 24), np.repeat(np.isin(np.arange(n), te), 24)
        m = lgb.LGBMClassifier(verbose=-1, random_state=0, **PARAMS).fit(flat[trr], label[trr])
        pooled[te] = np.asarray(m.predict_proba(flat[ter]))[:, 1].reshape(-1, 24)
    pooled_pick = pick_hours(pooled)

    has_fwd = fwd >= 0
    print(f"{ds.name}: {len(cuts)} cut-offs, {n} user-cut-offs\n")
    print("| cut-off | users | forward learner | pooled (optimistic) | user_mode | population |")
    print("|---|---|---|---|---|---|")
    table = []
    for j, c in enumerate(cuts):
        s = ci == j
        row = {
            "cutoff": str(c.date()),
            "users": int(s.sum()),
            "forward": hits(fwd, s) if has_fwd[s].all() and s.any() else None,
            "pooled": hits(pooled_pick, s) if s.any() else None,
            "user_mode": hits(mode, s) if s.any() else None,
            "population": hits(pop_pick, s) if s.any() else None,
        }
        table.append(row)
        cells = [
            f"{v:.3f}" if isinstance(v, float) else "-"
            for v in (row["forward"], row["pooled"], row["user_mode"], row["population"])
        ]
        print(f"| {row['cutoff']} | {row['users']} | " + " | ".join(cells) + " |")
    summary = {
        "forward": hits(fwd, has_fwd),
        "user_mode_on_forward_rows": hits(mode, has_fwd),
        "population_on_forward_rows": hits(pop_pick, has_fwd),
        "pooled": hits(pooled_pick, np.ones(n, dtype=bool)),
        "user_mode": hits(mode, np.ones(n, dtype=bool)),
        "population": hits(pop_pick, np.ones(n, dtype=bool)),
    }
    print(
        f"\nforward learner {summary['forward']:.3f} vs user_mode {summary['user_mode_on_forward_rows']:.3f} "
        f"on the same {int(has_fwd.sum())} rows; pooled {summary['pooled']:.3f} vs user_mode "
        f"{summary['user_mode']:.3f} on all {n}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": ds.name, "cutoffs": table, "summary": summary}, f, indent=2)


if __name__ == "__main__":
    main()
