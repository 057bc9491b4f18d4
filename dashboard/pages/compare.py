"""Compare: two or more runs of one suite. The first selected run is the baseline A; every other run is
compared with it (paired deltas with bootstrap CIs, from harness.compare). Better and worse follow
each metric's stored direction. Samples are listed side by side, largest regression first (in the
ranking metric's direction), one page at a time (only that page's texts are read)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from harness.compare import compare_runs, fill_directions
from harness.errors import TunebenchError
from harness.store import Store
from reports.common import direction_text

SIDE_PAGE = 20

st.title("Compare runs")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None

db: Store = store
runs_df = data.runs_frame(store)
done = runs_df[runs_df["status"] == "completed"]
if done.empty:
    c.empty(
        "No completed runs to compare yet.",
        "Run a baseline and a candidate on the same suite (`tunebench run SUITE --model ...`), then pick both here.",
    )
    st.stop()

qp_runs = [r for r in str(st.query_params.get("runs", "")).split(",") if r]
suites = sorted(done["suite"].unique())
qp_suite = next((s for s in done[done["id"].isin(qp_runs)]["suite"]), None)
suite = st.selectbox(
    "suite", suites, index=suites.index(qp_suite) if qp_suite in suites else 0, key="cmp_suite"
)
of_suite = done[done["suite"] == suite]
labels = {r.id: f"{r.id}  {r.model}  prompt {r.prompt}  split {r.split}" for r in of_suite.itertuples()}
default = [r for r in qp_runs if r in labels]
chosen: list[str] = st.multiselect(
    "runs (the first one is the baseline A)",
    list(labels),
    default=default,
    format_func=lambda i: labels[i],
    key="cmp_runs",
)
opts = st.columns([1, 2, 2])
n_boot = int(opts[0].selectbox("bootstrap resamples", [1000, 200, 5000], key="cmp_nboot"))
use_stored = opts[1].toggle("use stored comparisons", value=True, key="cmp_stored")
if len(chosen) < 2:
    st.info(
        "Pick two runs of this suite (baseline first, then the candidate), or more to compare each with the first."
    )
    st.stop()
st.query_params["runs"] = ",".join(chosen)


@st.cache_data(ttl=600, show_spinner="comparing (paired bootstrap)…")
def _compare(url: str, a: str, b: str, n_boot: int) -> dict[str, Any]:
    s = data.open_store(url)
    assert s is not None
    # top_k=0: the samples are paged below from the score tables; no completion is read here
    return compare_runs(s, a, b, n_boot=n_boot, top_k=0, save=False).model_dump(mode="json")


def comparison(a: str, b: str) -> tuple[dict[str, Any] | None, str]:
    if use_stored:
        body = data.stored_comparison(db, a, b)
        if body is not None:
            body = fill_directions(db, body)  # stored before comparisons carried directions
            return body, f"stored comparison {body.get('id', '')} ({body.get('n_boot', '?')} resamples)"
    try:
        return _compare(db.url, a, b, n_boot), f"computed now ({n_boot} resamples, not stored)"
    except TunebenchError as e:
        return None, str(e)


base = chosen[0]
results: list[tuple[str, dict[str, Any]]] = []
for cand in chosen[1:]:
    body, how = comparison(base, cand)
    if body is None:
        st.error(f"{cand} cannot be compared with {base}:")
        st.code(how, language=None, wrap_lines=True)
        continue
    results.append((cand, body))
    st.caption(f"A {c.md_escape(base)} vs B {c.md_escape(cand)}: {c.md_escape(how)}")
if not results:
    st.stop()

# --------------------------------------------------------------------------- deltas
rows = []
for cand, body in results:
    for m in body.get("metrics") or []:
        hib = m.get("higher_is_better")
        lost = ", ".join(
            f"{side.upper()} {k} {what}"
            for side in ("a", "b")
            for what, k in (("failed", m.get(f"n_failed_{side}")), ("dropped", m.get(f"n_dropped_{side}")))
            if k
        )
        rows.append(
            {
                "candidate": cand,
                "metric": m.get("name"),
                "better": direction_text(hib if isinstance(hib, bool) else None),
                "higher_is_better": hib if isinstance(hib, bool) else None,
                "A": data.fnum(m.get("a")),
                "B": data.fnum(m.get("b")),
                "delta": data.fnum(m.get("delta")),
                "ci_low": data.fnum(m.get("ci_low")),
                "ci_high": data.fnum(m.get("ci_high")),
                "p": data.fnum(m.get("p_value")),
                "p method": m.get("p_method") or "",
                "W/T/L": "-" if m.get("wins") is None else f"{m['wins']}/{m['ties']}/{m['losses']}",
                "n": m.get("n"),
                "failed / dropped": lost,
                "MDE": data.fnum(m.get("mde")),
                "note": m.get("note") or "",
            }
        )
deltas = pd.DataFrame(rows)
st.subheader("Per-metric deltas (B - A), paired bootstrap 95% CI")
if deltas.empty or deltas["delta"].isna().all():
    st.info("These runs share no metric with a value on both sides.")
else:
    c.plot(c.forest_plot(deltas), extra=130)
    shown = deltas.drop(columns="higher_is_better")
    shown = shown if len(results) > 1 else shown.drop(columns="candidate")
    num = st.column_config.NumberColumn
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "A": num(format="%.3f"),
            "B": num(format="%.3f"),
            "delta": num(format="%+.3f"),
            "ci_low": num("95% CI low", format="%+.3f"),
            "ci_high": num("95% CI high", format="%+.3f"),
            "p": num(format="%.4f"),
            "MDE": num(format="%.3f"),
        },
    )
    st.caption(
        "better: which direction is better for the metric; W/T/L: samples where B is better/equal/worse; "
        "failed: samples scored as the metric's failure value (errored or missing); dropped: samples "
        "left out of the pairing (no value, no failure value); MDE: smallest effect detectable at "
        "this n (one-sided, power 0.8)"
    )
for cand, body in results:
    cost = body.get("cost") or []
    if cost:
        with st.expander(f"serving cost: {cand} vs {base}"):
            st.dataframe(
                pd.DataFrame(
                    [(r.get("label"), r.get("a"), r.get("b"), r.get("ratio")) for r in cost],
                    columns=["", "A", "B", "B/A"],
                ),
                hide_index=True,
            )
            for s in body.get("cost_summary") or []:
                st.text(s)
    for w in body.get("warnings") or []:
        st.warning(c.md_escape(w))

# --------------------------------------------------------------------------- side-by-side samples
st.subheader("Samples side by side, largest regression first")
pick = st.columns([3, 2, 1, 1])
if len(results) > 1:
    cand = pick[0].selectbox("candidate B", [r[0] for r in results], key="cmp_side_b")
else:
    cand = results[0][0]
    pick[0].text(f"A {base}\nB {cand}")
body = dict(results)[cand]
names = data.score_names(store, base)
if not names:
    st.info("The baseline run has no per-sample scores.")
    st.stop()
rank = body.get("rank_metric")
metric = pick[1].selectbox(
    "rank by", names, index=names.index(rank) if rank in names else 0, key=f"cmp_rank_{cand}"
)
changed_only = pick[2].toggle("changed only", value=True, key="cmp_changed")
hib = next((m.get("higher_is_better") for m in body.get("metrics") or [] if m.get("name") == metric), None)
if not isinstance(hib, bool):
    hib = c.direction(data.get_run(store, base), metric)
paired = data.paired_samples(store, base, cand, metric, higher_is_better=hib is not False)
if changed_only:
    paired = paired[paired["delta"] != 0]
pages = max(1, math.ceil(len(paired) / SIDE_PAGE))
page_no = int(
    pick[3].number_input("page", min_value=1, max_value=pages, value=1, key=f"cmp_page_{cand}_{metric}")
)
chunk = paired.iloc[(page_no - 1) * SIDE_PAGE : page_no * SIDE_PAGE]
st.caption(
    f"{len(paired)} paired sample(s){' that differ' if changed_only else ''} on {c.md_escape(metric)} "
    f"({f'{direction_text(hib)} is better' if hib is not None else 'direction not declared'}); "
    f"page {page_no} of {pages}"
)
if chunk.empty:
    st.info("No sample differs between A and B on this metric." if changed_only else "No paired samples.")
    st.stop()
ids = list(chunk["sample_id"])
ta, tb = data.sample_texts(store, base, ids), data.sample_texts(store, cand, ids)
table = chunk.assign(
    input=[data.clip(ta.get(s, {}).get("input")) for s in ids],
    output_A=[data.clip(ta.get(s, {}).get("completion")) for s in ids],
    output_B=[data.clip(tb.get(s, {}).get("completion")) for s in ids],
    reference=[data.clip(ta.get(s, {}).get("reference")) for s in ids],
)
st.dataframe(
    table,
    hide_index=True,
    column_config={"delta": st.column_config.NumberColumn(format="%+.3f")},
    key="cmp_side_table",
)
sid = st.selectbox("sample", ids, key=f"cmp_sample_{cand}")
a_txt, b_txt = ta.get(sid, {}), tb.get(sid, {})
c.model_text("input", a_txt.get("input"))
la, lb = st.columns(2)
with la:
    c.model_text(f"A output ({base})", a_txt.get("completion"))
with lb:
    c.model_text(f"B output ({cand})", b_txt.get("completion"))
c.model_text("reference", a_txt.get("reference"))
