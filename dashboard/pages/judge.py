"""Judge: pairwise LLM-judge results (records of kind "judgment"): win rate with its CI (or why none
is claimed) and the judge's reliability (position consistency, repeat agreement, length correlation,
family warning, agreement with humans); a panel's agreement (Fleiss' kappa) and each judge's
identity; the calibration to human ratings (PPI); and per pair the verdict probabilities and the
judge's raw replies, read from the stored judge calls. Fields missing from a record show as "-"."""

from __future__ import annotations

import json
from typing import Any

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
        "Run a pairwise judge on two runs (`tunebench judge RUN_A RUN_B --judge default` in process, or "
        "`--judge openai:MODEL@URL`); its win rate and how far the judge can be trusted show here.",
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
claimed = body.get("win_rate_claimed", True) is not False

c.facts(
    {
        "A": f"{body.get('model_a') or '-'}  (run {body.get('run_a') or '-'})",
        "B": f"{body.get('model_b') or '-'}  (run {body.get('run_b') or '-'})",
        "judge": body.get("judge"),
        "template": body.get("template"),
        "abstains below": c.pct(body.get("min_mass")) if body.get("min_mass") is not None else None,
    }
)
cols = st.columns(4)
wr = data.fnum(body.get("win_rate_b"))
lo, hi = data.fnum(body.get("win_ci_low")), data.fnum(body.get("win_ci_high"))
cols[0].metric("B win rate", c.pct(wr) if claimed else "not claimed", help="ties count half")
cols[1].metric("95% CI", "-" if lo is None or hi is None or not claimed else f"{lo:.1%} – {hi:.1%}")
lc = data.fnum(body.get("lc_win_rate_b"))
cols[2].metric("length-controlled win rate", c.pct(lc) if claimed else "not claimed")
cols[3].metric("pairs judged", str(body.get("n_judged", body.get("n_pairs", "-"))))
if not claimed:
    st.warning(c.md_escape(body.get("claim_note") or "no win rate is claimed"))

st.subheader("Reliability")
rcols = st.columns(len(data.RELIABILITY_FIELDS))
for col, (key, label, help_text) in zip(rcols, data.RELIABILITY_FIELDS, strict=True):
    col.metric(label, c.fmt(rel.get(key)), help=help_text)
if not any(data.fnum(rel.get(k)) is not None for k, _, _ in data.RELIABILITY_FIELDS):
    st.info("This judgment has no reliability numbers recorded.")
if rel.get("mean_mass") is not None:
    st.caption(
        f"mean probability the judge gave the allowed answers (1, 2, tie): {c.pct(rel.get('mean_mass'))}"
    )
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

judges = [j for j in body.get("judges") or [] if isinstance(j, dict)]
panel = body.get("panel") if isinstance(body.get("panel"), dict) else None
if panel:
    st.subheader(f"Panel of {panel.get('n_judges', len(judges))} judges")
    pcols = st.columns(3)
    pcols[0].metric("Fleiss' kappa", c.fmt(panel.get("fleiss_kappa")), help="agreement between the judges")
    pcols[1].metric("unanimous", c.pct(panel.get("unanimous")))
    pcols[2].metric("pairs every judge decided", str(panel.get("n_items", "-")))
    st.caption(c.md_escape(f"panel verdict: {panel.get('rule', 'majority')}"))
if judges:
    st.caption("judge identity" if not panel else "the judges")
    rows = []
    for i, j in enumerate(judges):
        info = j.get("info") or {}
        jc = j.get("counts") or {}
        rows.append(
            {
                "#": i + 1,
                "judge": j.get("label"),
                "backend": info.get("backend"),
                "model": info.get("model"),
                "revision": info.get("revision") or "-",
                "endpoint": info.get("endpoint") or "-",
                "fingerprint": info.get("fingerprint") or "-",
                "verdicts from": "probabilities" if info.get("logprobs") else "reply text",
                "B / A / tie / abstain / error": " / ".join(
                    str(jc.get(k, 0)) for k in ("B", "A", "tie", "abstain", "error")
                ),
                "position consistency": data.fnum(j.get("position_consistency")),
                "mean mass": data.fnum(j.get("mean_mass")),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)

cal = body.get("calibration") if isinstance(body.get("calibration"), dict) else None
if cal:
    st.subheader("Calibrated to human ratings")
    ccols = st.columns(3)
    plo, phi = data.fnum(cal.get("ppi_ci_low")), data.fnum(cal.get("ppi_ci_high"))
    ccols[0].metric(
        "human win rate (PPI)",
        c.pct(cal.get("ppi_win_rate")),
        help="prediction-powered: the judge on every pair, corrected by the human ratings of some",
    )
    ccols[1].metric("95% CI", "-" if plo is None or phi is None else f"{plo:.1%} – {phi:.1%}")
    ccols[2].metric("judge-human agreement", c.pct(cal.get("agreement")), help="share of ratings matched")
    st.caption(
        c.md_escape(
            f"judge's raw win rate {c.pct(cal.get('judge_win_rate'))}; humans alone "
            f"{c.pct(cal.get('human_win_rate_rated'))} on {cal.get('n_rated')} rated pair(s) "
            f"({cal.get('n_ratings')} rating(s)); Cohen's kappa {c.fmt(cal.get('kappa'))}"
        )
    )
    if cal.get("note"):
        st.caption(c.md_escape(cal["note"]))


def _probs_text(p: Any) -> str:
    if not isinstance(p, dict) or not p:
        return "-"
    return "  ".join(
        f"P({k}) {float(p[k]):.1%}" for k in ("A", "B", "tie") if isinstance(p.get(k), int | float)
    )


def _order(label: str, key: Any, verdict: Any, probs: Any, mass: Any, reasoning: str) -> None:
    st.markdown(f"**{c.md_escape(label)}**: verdict {c.md_escape(verdict or '-')}")
    st.caption(
        c.md_escape(
            f"probabilities (normalized over A / B / tie): {_probs_text(probs)}; mass on 1 / 2 / tie: "
            f"{c.pct(mass)}"
        )
    )
    if reasoning:
        c.model_text("judge reasoning", reasoning)
    row = calls.get(key) if isinstance(key, str) else None
    if row is None:
        st.caption("no stored judge call for this order")
        return
    for i, r in enumerate(row.get("replies") or [{"text": row.get("reply")}]):
        what = "raw reply" if i == 0 else f"raw reply after re-ask {i}"
        c.model_text(what, r.get("text") if isinstance(r, dict) else str(r))
        if isinstance(r, dict) and r.get("parse_error"):
            st.caption(c.md_escape(f"could not parse: {r['parse_error']}"))
    parsed = row.get("parsed") or {}
    top = parsed.get("top_logprobs") if isinstance(parsed, dict) else None
    if top:
        st.caption("the judge's most probable first tokens")
        st.dataframe(
            pd.DataFrame([(str(t), float(lp)) for t, lp in top[:10]], columns=["token", "logprob"]),
            hide_index=True,
        )
    if row.get("error"):
        st.error(c.md_escape(f"error: {row['error']}"))


pairs = [p for p in body.get("pairs") or [] if isinstance(p, dict)]
if pairs:
    with st.expander(f"{len(pairs)} judged pair(s): verdicts, probabilities and raw replies", expanded=False):
        keep = ["sample_id", "outcome", "verdict_ab", "verdict_ba", "consistent", "p_b", "mass_ab", "mass_ba"]
        keep += ["len_a", "len_b", "abstain", "error"]
        pdf = pd.DataFrame([{k: p.get(k) for k in keep} for p in pairs], columns=keep)
        st.dataframe(pdf, hide_index=True, column_config={"p_b": pct(format="%.3f", help="P(B better)")})
        sid = st.selectbox("pair", list(pdf["sample_id"]), key="judge_pair")
        p = next(p for p in pairs if p.get("sample_id") == sid)
        keys = [p.get("key_ab"), p.get("key_ba")] + [
            v.get(k) for v in p.get("votes") or [] for k in ("key_ab", "key_ba")
        ]
        calls: dict[str, Any] = store.get_judge_calls([k for k in keys if isinstance(k, str)])
        if p.get("abstain"):
            st.info(c.md_escape(f"abstained: {p['abstain']}"))
        votes = [v for v in p.get("votes") or [] if isinstance(v, dict)]
        if votes:
            for v in votes:
                idx = int(v.get("judge", 0))
                name = judges[idx].get("label") if idx < len(judges) else f"judge {idx + 1}"
                st.markdown(f"#### {c.md_escape(name)}: {c.md_escape(v.get('outcome'))}")
                _order(
                    "A shown first",
                    v.get("key_ab"),
                    v.get("verdict_ab"),
                    v.get("probs_ab"),
                    v.get("mass_ab"),
                    "",
                )
                _order(
                    "B shown first",
                    v.get("key_ba"),
                    v.get("verdict_ba"),
                    v.get("probs_ba"),
                    v.get("mass_ba"),
                    "",
                )
        else:
            _order(
                "A shown first",
                p.get("key_ab"),
                p.get("verdict_ab"),
                p.get("probs_ab"),
                p.get("mass_ab"),
                p.get("reasoning_ab") or "",
            )
            _order(
                "B shown first",
                p.get("key_ba"),
                p.get("verdict_ba"),
                p.get("probs_ba"),
                p.get("mass_ba"),
                p.get("reasoning_ba") or "",
            )
usage = body.get("usage")
if usage:
    with st.expander("judge usage"):
        st.code(json.dumps(usage, indent=2, default=str), language="json")
