"""Runs: every stored run, filterable by suite, model, date range and status; select one for its detail."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import components as c
from dashboard import data

st.title("Runs")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

df = data.runs_frame(store)
if df.empty:
    c.empty(
        "No runs stored yet.",
        "Evaluate a model on a suite, e.g. `tunebench run ticket-triage --model default --limit 20`; "
        "every run lands here.",
    )
    st.stop()

col = st.columns([2, 3, 2, 3, 2])
suites = col[0].multiselect("suite", sorted(df["suite"].unique()), key="runs_suite")
model_opts = sorted(df[df["suite"].isin(suites)]["model"].unique() if suites else df["model"].unique())
models = col[1].multiselect("model", model_opts, key="runs_model")
statuses = col[2].multiselect(
    "status", list(dict.fromkeys(["completed", "running", "failed", *df["status"]])), key="runs_status"
)
days = df["created"].dropna()
lo, hi = (days.min().date(), days.max().date()) if len(days) else (None, None)
picked: Any = col[3].date_input("created between", value=(lo, hi), key="runs_dates") if lo else ()
text = col[4].text_input("search id / model / prompt", key="runs_text")
picked = tuple(picked) if isinstance(picked, (list, tuple)) else (picked,)
view = data.filter_runs(
    df,
    suites=suites,
    models=models,
    statuses=statuses,
    date_from=picked[0] if len(picked) > 0 else None,
    date_to=picked[1] if len(picked) > 1 else None,
    text=text,
).reset_index(drop=True)

st.caption(f"{len(view)} of {len(df)} runs; select a row to open its detail")
event = st.dataframe(
    view,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="runs_table",
    column_order=["id", "created", "suite", "status", "n", "metrics", "prompt", "split", "model", "version"],
    column_config={
        "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        "id": st.column_config.TextColumn("run"),
        "model": st.column_config.TextColumn("model", width="medium"),
        "n": st.column_config.NumberColumn("n", help="samples"),
        "metrics": st.column_config.TextColumn("metrics (first three)", width="medium"),
    },
)
rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
if rows:
    run_id = str(view.iloc[rows[0]]["id"])
    st.session_state["run_id"] = run_id
    st.switch_page("pages/run_detail.py", query_params={"run": run_id})
