"""Judge: pairwise LLM-judge results (records of kind "judgment"): win rate with its CI and the
judge's reliability (position consistency, repeat agreement, length correlation, family warning,
agreement with humans). Fields missing from a record show as "-"."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data

st.title("Judge reliability")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

recs = data.get_records(store, "judgment")
if not recs:
    c.empty(
        "No judgments yet.",
        "Run a pairwise judge on two runs (`tunebench judge RUN_A RUN_B --judge openai:MODEL@URL`); its win rate "
        "and how far the judge can be trusted show here.",
    )
    st.stop()

table = data.judgment_rows(recs)
pct = st.column_config.NumberColumn
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "B win rate": pct(format="%.3f"),
        "ci_low": pct(format="%.3f"),
        "ci_high": pct(format="%.3f"),
        "position consistency": pct(format="%.3f"),
        "repeat agreement": pct(format="%.3f"),
        "length correlation": pct(format="%+.3f"),
        "human agreement (kappa)": pct(format="%.3f"),
        "first-position rate": pct(format="%.3f"),
    },
)

ids = list(table["id"])
pick = st.selectbox("judgment", ids, key="judge_pick")
body = next(r["body"] for r in recs if (r["body"].get("id") or r["id"]) == pick)
rel = body.get("reliability") if isinstance(body.get("reliability"), dict) else {}

c.facts(
    {
        "A": f"{body.get('model_a') or '-'}  (run {body.get('run_a') or '-'})",
        "B": f"{body.get('model_b') or '-'}  (run {body.get('run_b') or '-'})",
        "judge": body.get("judge"),
        "template": body.get("template"),
    }
)
cols = st.columns(4)
wr = data.fnum(body.get("win_rate_b"))
lo, hi = data.fnum(body.get("win_ci_low")), data.fnum(body.get("win_ci_high"))
cols[0].metric("B win rate", c.pct(wr), help="ties count half")
cols[1].metric("95% CI", "-" if lo is None or hi is None else f"{lo:.1%} – {hi:.1%}")
lc = data.fnum(body.get("lc_win_rate_b"))
cols[2].metric("length-controlled win rate", c.pct(lc))
cols[3].metric("pairs judged", str(body.get("n_judged", body.get("n_pairs", "-"))))

st.subheader("Reliability")
rcols = st.columns(len(data.RELIABILITY_FIELDS))
for col, (key, label, help_text) in zip(rcols, data.RELIABILITY_FIELDS, strict=True):
    col.metric(label, c.fmt(rel.get(key)), help=help_text)
if not any(data.fnum(rel.get(k)) is not None for k, _, _ in data.RELIABILITY_FIELDS):
    st.info("This judgment has no reliability numbers recorded.")
if rel.get("family_warning"):
    st.warning("Judge family warning: " + c.md_escape(rel["family_warning"]))
ns = {k: rel.get(k) for k in ("n_position", "n_repeat", "n_length", "n_rated") if rel.get(k) is not None}
if ns:
    st.caption("samples behind each number: " + ", ".join(f"{k} {v}" for k, v in ns.items()))
counts = body.get("counts") or {}
if counts:
    st.caption("outcomes")
    st.dataframe(pd.DataFrame(list(counts.items()), columns=["outcome", "pairs"]), hide_index=True)
for w in body.get("warnings") or []:
    st.warning(c.md_escape(w))

pairs = body.get("pairs") or []
if pairs:
    with st.expander(f"{len(pairs)} judged pair(s)"):
        keep = ["sample_id", "outcome", "verdict_ab", "verdict_ba", "consistent", "len_a", "len_b", "error"]
        pdf = pd.DataFrame([{k: p.get(k) for k in keep} for p in pairs if isinstance(p, dict)], columns=keep)
        st.dataframe(pdf, hide_index=True)
        sid = st.selectbox("pair", list(pdf["sample_id"]), key="judge_pair")
        p = next(p for p in pairs if isinstance(p, dict) and p.get("sample_id") == sid)
        c.model_text("judge reasoning (A shown first)", p.get("reasoning_ab") or "")
        c.model_text("judge reasoning (B shown first)", p.get("reasoning_ba") or "")
usage = body.get("usage")
if usage:
    with st.expander("judge usage"):
        st.code(json.dumps(usage, indent=2, default=str), language="json")
