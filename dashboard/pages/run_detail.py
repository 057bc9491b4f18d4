"""Run detail: metrics with CIs (and which direction is better, from the run's stored semantics),
usage and timing, and the per-sample table with the full texts of a selected sample. Model text is
shown literally (code blocks and tables), never rendered."""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from harness.inspect_run import first_result, latency_label
from reports.common import direction_text

st.title("Run detail")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

runs_df = data.runs_frame(store)
if runs_df.empty:
    c.empty(
        "No runs stored yet.",
        "Run `tunebench run SUITE --model MODEL` to evaluate a model; its samples show here.",
    )
    st.stop()

ids = list(runs_df["id"])
labels = {r.id: f"{r.id}  {r.suite}  {r.model}  ({r.status})" for r in runs_df.itertuples()}
wanted: str | None = st.query_params.get("run") or st.session_state.get("run_id")
if wanted and wanted not in labels:
    match = [i for i in ids if i.startswith(str(wanted))]
    if len(match) == 1:
        wanted = match[0]
    else:
        st.warning(f"No run {c.md_escape(wanted)} in this store; pick one below.")
        wanted = None
run_id = str(
    st.selectbox(
        "run",
        ids,
        index=ids.index(wanted) if wanted else 0,
        format_func=lambda i: labels[i],
        key="detail_run",
    )
)
if run_id != st.query_params.get("run"):
    st.query_params["run"] = run_id
st.session_state["run_id"] = run_id

rec = data.get_run(store, run_id)
if rec is None:
    st.error("This run disappeared from the store.")
    st.stop()
assert rec is not None

# --------------------------------------------------------------------------- identity
info = {
    "suite": f"{rec.suite}@{rec.suite_version}+{rec.suite_hash[:12]}",
    "model": rec.model.label,
    "prompt variant": rec.prompt.name,
    "split": rec.split + (f" (first {rec.limit})" if rec.limit else ""),
    "status": rec.status,
    "created": rec.created_at,
    "finished": rec.finished_at or "-",
    "samples": str(rec.n_samples),
}
if rec.model.adapter:
    info["adapter"] = rec.model.adapter
if rec.model.quantization or rec.model.dtype != "auto":
    info["precision"] = f"{rec.model.dtype} {rec.model.quantization or ''}".strip()
for k, v in rec.tags.items():
    info[f"tag {k}"] = json.dumps(v) if not isinstance(v, str) else v
c.facts(info)
if rec.status != "completed":
    st.warning(f"This run is {rec.status}: its metrics and samples may be incomplete.")

# --------------------------------------------------------------------------- metrics and usage
tab_m, tab_u = st.tabs(["Metrics", "Usage and timing"])
with tab_m:
    mdf = data.metrics_frame(store, run_id)
    # which way is better, from the run's stored metric semantics
    mdf = mdf.assign(better=[direction_text(c.direction(rec, m)) for m in mdf["metric"]])
    if mdf.empty:
        st.info("This run has no metrics stored.")
    else:
        left, right = st.columns([2, 3])
        left.dataframe(
            mdf,
            hide_index=True,
            column_config={
                "value": st.column_config.NumberColumn(format="%.3f"),
                "ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
                "ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
            },
        )
        with right:
            c.plot(c.ci_chart(mdf))
            st.caption("point: metric value; bar: percentile-bootstrap 95% CI")
with tab_u:
    u, t = rec.usage, rec.timing

    def show(x: float | None, unit: str = "", digits: int = 1) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "-"
        return f"{x:,.{digits}f}{unit}"

    cols = st.columns(6)
    cols[0].metric("requests", show(u.get("requests"), digits=0))
    cols[1].metric("prompt tokens / request", show(u.get("prompt_tokens_mean")))
    cols[2].metric("completion tokens / request", show(u.get("completion_tokens_mean")))
    timed = latency_label(u, first_result(store, rec))  # "batch time" where only batches were timed
    cols[3].metric(f"{timed} p50", show(u.get("latency_p50_s"), " s", 3))
    cols[4].metric(f"{timed} p95", show(u.get("latency_p95_s"), " s", 3))
    cols[5].metric("generation errors", show(u.get("errors"), digits=0))
    kv = [("usage", k, v) for k, v in u.items()] + [("timing", k, v) for k, v in t.items()]
    if kv:
        st.dataframe(pd.DataFrame(kv, columns=["group", "key", "value"]), hide_index=True)
    env = rec.env or {}
    if env:
        with st.expander("environment"):
            st.code(json.dumps(env, indent=2, default=str), language="json")

# --------------------------------------------------------------------------- samples
st.subheader("Samples")
names = data.score_names(store, run_id)
f = st.columns([3, 2, 1, 1])
search = f[0].text_input("search prompt, completion, reference or id", key="detail_search")
metric = f[1].selectbox("failed on", ["(any sample)", *names], key="detail_metric")
max_value = f[2].number_input("score at most", value=0.0, step=0.1, key="detail_max")
page_no = int(f[3].number_input("page", min_value=1, value=1, step=1, key="detail_page"))
filt_metric = None if metric == "(any sample)" else metric
total, page = data.samples_page(
    store,
    run_id,
    search=search.strip(),
    metric=filt_metric,
    max_value=max_value if filt_metric else None,
    offset=(page_no - 1) * data.PAGE_SIZE,
)
pages = max(1, math.ceil(total / data.PAGE_SIZE))
st.caption(
    f"{total} matching sample(s); page {page_no} of {pages}, {data.PAGE_SIZE} per page"
    + (f"; filter: {c.md_escape(filt_metric)} <= {max_value:g}" if filt_metric else "")
)
if page.empty:
    st.info("No sample matches these filters." if total == 0 else "This page is past the last one.")
    st.stop()
st.dataframe(page, hide_index=True, key="detail_samples")

options = list(page["sample_id"])
linked = st.query_params.get("sample")  # ?sample=ID links to one sample
if linked and linked not in options and data.sample_result(store, run_id, linked) is not None:
    options.insert(0, linked)
sid = st.selectbox(
    "sample", options, index=options.index(linked) if linked in options else 0, key="detail_sample"
)
res = data.sample_result(store, run_id, str(sid))
if res is None:
    st.stop()
assert res is not None
st.subheader("Selected sample")
st.text(f"sample {res.sample_id}")
left, right = st.columns(2)
with left:
    for i, m in enumerate(res.prompt):
        c.model_text(f"prompt message {i + 1}: {m.get('role', '?')}", m.get("content", ""))
    with st.expander("exact prompt text (chat template applied)"):
        st.code(res.prompt_text, language=None, wrap_lines=True)
with right:
    comp = res.completion
    c.model_text("completion", comp.text)
    if comp.error:
        c.model_text("generation error", comp.error)
    c.model_text("reference", res.reference)
    st.text(
        f"prompt tokens {comp.prompt_tokens}, completion tokens {comp.completion_tokens}, "
        f"latency {comp.latency_s:.3f} s, finish {comp.finish_reason}"
    )
st.caption("scores")
st.dataframe(
    pd.DataFrame(
        [(s.name, None if s.value is None else float(s.value), s.detail) for s in res.scores],
        columns=["scorer", "value", "detail"],
    ),
    hide_index=True,
    width="stretch",
)
with_data = [s for s in res.scores if s.data]
if with_data:
    with st.expander("scorer data"):
        st.code(
            json.dumps({s.name: s.data for s in with_data}, indent=2, ensure_ascii=False), language="json"
        )
