"""Training: stored training runs (records of kind "training"), their loss curves, and a sweep table of
hyperparameters against the metrics of each run's evaluation runs."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import components as c
from dashboard import data

st.title("Training runs")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

recs = data.get_records(store, "training")
if not recs:
    c.empty(
        "No training runs stored yet.",
        "Train a candidate with `tunebench train CONFIG.yaml --eval SUITE` (a sweep trains several); each "
        "run's config, loss curves, speed and adapter show here, joined with its evaluation runs.",
    )
    st.stop()

frame = data.training_frame(recs)
st.dataframe(
    frame,
    hide_index=True,
    column_config={
        "first_loss": st.column_config.NumberColumn(format="%.4f"),
        "final_loss": st.column_config.NumberColumn(format="%.4f"),
        "wall_time_s": st.column_config.NumberColumn("wall time (s)", format="%.1f"),
        "tokens_per_s": st.column_config.NumberColumn("tokens/s", format="%.1f"),
    },
)

ids = list(frame["id"])
chosen = st.multiselect("loss curves of", ids, default=ids[:5], key="train_curves")
curves = data.loss_curves([r for r in recs if (r["body"].get("id") or r["id"]) in chosen])
if curves.empty:
    st.info("The selected training runs logged no losses.")
else:
    left, right = st.columns(2)
    with left:
        st.caption("training loss")
        c.plot(c.loss_chart(curves[curves["curve"] == "train"], "optimizer step"), extra=110)
    with right:
        st.caption("validation loss")
        ev = curves[curves["curve"] == "eval"]
        if ev.empty:
            st.info("No validation loss logged (train with an eval_file to get one).")
        else:
            c.plot(c.loss_chart(ev, "epoch"), extra=110)

# the task metric on the dev slice during training (early stopping on the task metric: eval_suite)
metric_rows = [
    (r["body"].get("id") or r["id"], float(pt[0]), float(pt[1]), r["body"].get("eval_metric") or "metric")
    for r in recs
    if (r["body"].get("id") or r["id"]) in chosen
    for pt in r["body"].get("eval_metric_curve") or []
    if isinstance(pt, (list, tuple)) and len(pt) >= 2 and pt[1] is not None
]
if metric_rows:
    import altair as alt
    import pandas as pd

    metric_frame = pd.DataFrame(metric_rows, columns=["run", "x", "value", "metric"])
    names = ", ".join(sorted(set(metric_frame["metric"])))
    st.caption(
        f"task metric on the dev slice during training ({names}; training stops when it stops improving)"
    )
    c.plot(
        alt.Chart(metric_frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("x:Q", title="optimizer step"),
            y=alt.Y("value:Q", title=names, scale=alt.Scale(zero=False)),
            color=alt.Color(
                "run:N", scale=alt.Scale(scheme="category10"), legend=alt.Legend(orient="bottom", title=None)
            ),
            tooltip=["run:N", "x:Q", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=280),
        extra=110,
    )

st.subheader("Sweep: hyperparameters against results")
all_params = st.toggle("show every hyperparameter (not only those that vary)", key="train_all_params")
sweep = data.sweep_frame(store, recs, all_params=all_params)
metric_cols = [col for col in sweep.columns if ":" in col]
if not metric_cols:
    st.caption("No evaluation runs are linked to these training runs (`eval_runs` in the training record).")
st.dataframe(sweep, hide_index=True)

st.subheader("One training run")
pick = st.selectbox("training run", ids, key="train_pick")
body = next(r["body"] for r in recs if (r["body"].get("id") or r["id"]) == pick)
cols = st.columns(5)
cols[0].metric("steps", str(body.get("steps", "-")))
cols[1].metric("final loss", c.fmt(body.get("final_loss"), 4))
cols[2].metric("wall time", f"{c.fmt(body.get('wall_time_s'), 1)} s")
cols[3].metric("tokens / s", c.fmt(body.get("tokens_per_s"), 1))
cols[4].metric("trainable params", f"{body.get('trainable_params', 0) or 0:,}")
facts = {
    "adapter": body.get("adapter_path"),
    "adapter hash": body.get("adapter_hash"),
    "base model": body.get("base_model"),
    "precision": f"{body.get('base_precision', '-')} / quantization {body.get('quantization', '-')}",
    "device": body.get("device"),
    "train rows": body.get("n_train"),
    "data hash": json.dumps(body.get("data_hash")) if body.get("data_hash") else None,
    "hygiene report": (body.get("hygiene") or {}).get("id")
    if isinstance(body.get("hygiene"), dict)
    else None,
    "eval runs": json.dumps(body.get("eval_runs")) if body.get("eval_runs") else None,
}
c.facts(facts)
for note in body.get("notes") or []:
    st.text(f"note: {note}")
with st.expander("config"):
    st.code(json.dumps(body.get("config") or {}, indent=2, default=str), language="json")
