"""Trends: one metric over time per suite and model, from the runs and metrics tables, with the
metric's stored direction on the axis. Runs that a failed gate verdict (or a failed nightly record)
names are red points."""

from __future__ import annotations

import streamlit as st

from dashboard import components as c
from dashboard import data
from reports.common import direction_text

st.title("Trends")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

hist = data.metric_history(store)
if hist.empty:
    c.empty(
        "No completed runs with metrics yet.",
        "Trends appear once a suite has been run more than once (nightly runs feed this page).",
    )
    st.stop()

col = st.columns([2, 2, 3, 1])
suites = sorted(hist["suite"].unique())
suite = col[0].selectbox("suite", suites, key="trend_suite")
h = hist[hist["suite"] == suite]
metric_names = list(dict.fromkeys(h["metric"]))
metric = col[1].selectbox("metric", metric_names, key="trend_metric")
h = h[h["metric"] == metric]
models = sorted(h["model"].unique())
chosen = col[2].multiselect("models (all when empty)", models, key="trend_models")
splits = sorted(h["split"].unique())
split = col[3].selectbox(
    "split", splits, index=splits.index("test") if "test" in splits else 0, key="trend_split"
)
h = h[h["split"] == split]
if chosen:
    h = h[h["model"].isin(chosen)]
failed = data.failed_runs(store)
h = h.assign(failed=h["run_id"].map(failed).fillna(""), series=h["model"].map(c.short))

if h.empty:
    st.info("No run of this suite has this metric on this split.")
    st.stop()
# which way is better, from the newest run's stored semantics
hib = c.direction(data.get_run(store, str(h.sort_values("created")["run_id"].iloc[-1])), metric)
c.plot(c.trend_chart(h, metric, hib))
better = f"{direction_text(hib)} is better" if hib is not None else "direction not declared"
n_failed = int((h["failed"] != "").sum())
st.caption(
    f"{len(h)} run(s), {h['model'].nunique()} model(s); {better}; bars: 95% CI"
    + (f"; red diamonds: {n_failed} run(s) with a failed verdict" if n_failed else "")
)
st.dataframe(
    h[["created", "value", "ci_low", "ci_high", "n", "failed", "prompt", "model", "run_id"]].sort_values(
        "created", ascending=False
    ),
    hide_index=True,
    column_config={
        "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        "value": st.column_config.NumberColumn(format="%.3f"),
        "ci_low": st.column_config.NumberColumn(format="%.3f"),
        "ci_high": st.column_config.NumberColumn(format="%.3f"),
        "failed": st.column_config.TextColumn("failed verdict"),
        "model": st.column_config.TextColumn(width="medium"),
    },
)
