"""Gate: deploy-gate verdicts (records of kind "verdict"), pass or fail, with every rule's reason."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import components as c
from dashboard import data

st.title("Gate verdicts")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

recs = data.get_records(store, "verdict")
if not recs:
    c.empty(
        "No gate verdicts yet.",
        "Write a gate policy (YAML rules on the comparison's CIs) and run `tunebench gate POLICY.yaml ...`; "
        "each verdict, with one reason per rule, shows here.",
    )
    st.stop()

table = data.verdict_rows(recs)
n_fail = int((table["verdict"] == "FAIL").sum())
cols = st.columns(3)
cols[0].metric("verdicts", len(table))
cols[1].metric("passed", len(table) - n_fail)
cols[2].metric("failed", n_fail)


def _color(v: str) -> str:
    return "color: #2e7d32; font-weight: bold" if v == "PASS" else "color: #c62828; font-weight: bold"


st.dataframe(table.style.map(_color, subset=["verdict"]), hide_index=True)

ids = list(table["id"])
pick = st.selectbox(
    "verdict", ids, format_func=lambda i: f"{i}  {table.set_index('id').loc[i, 'verdict']}", key="gate_pick"
)
body = next(r["body"] for r in recs if (r["body"].get("id") or r["id"]) == pick)
passed = bool(body.get("passed"))
rules = data.rule_rows(body)
failed = int((rules["result"] == "FAIL").sum()) if not rules.empty else 0
headline = (
    f"PASS: all {len(rules)} rule(s) passed" if passed else f"FAIL: {failed} of {len(rules)} rule(s) failed"
)
(st.success if passed else st.error)(headline)
for w in body.get("warnings") or []:  # the candidate's output health, whatever the rules say
    st.warning(w)
c.facts(
    {
        "candidate": body.get("candidate"),
        "baseline": str(body.get("baseline") or "-")
        + (f"  (against {body.get('against')})" if body.get("against") else ""),
        "policy": data.g(body, "policy", "name"),
        "created": body.get("created_at"),
    }
)
if rules.empty:
    st.info("This verdict has no rules recorded.")
else:
    num = st.column_config.NumberColumn
    st.dataframe(
        rules.style.map(_color, subset=["result"]),
        hide_index=True,
        column_config={
            "reason": st.column_config.TextColumn(width="large"),
            "value": num(format="%.3f"),
            "baseline": num(format="%.3f"),
            "delta": num(format="%+.3f"),
            "ci_low": num(format="%+.3f"),
            "ci_high": num(format="%+.3f"),
            "p": num(format="%.4f"),
        },
    )
    st.caption("reasons, in full")
    for r in rules.itertuples():
        st.text(f"{r.result}  {r.suite}:{r.metric} {r.rule}  {r.reason}")
for note in body.get("notes") or []:
    st.text(f"note: {note}")
if body.get("runs"):
    with st.expander("runs and comparisons"):
        st.code(
            json.dumps({"runs": body.get("runs"), "comparisons": body.get("comparisons")}, indent=2),
            language="json",
        )
