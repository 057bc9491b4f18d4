"""Ratings: results of blinded human rating campaigns (admin only: the campaign's admin token is
asked for before anything about the runs is shown). Win rates per pair with bootstrap CIs,
Bradley-Terry strengths, inter-rater agreement (Krippendorff's alpha), each rater's gold accuracy,
human position bias and judge-vs-human agreement; see harness/ratings/results.py for the definitions.
This page reads only. Rater names are typed by raters: they are shown in tables or with st.text,
never as Markdown."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as c
from harness.errors import InputError
from harness.ratings import CampaignResults, campaign_results, count_ratings, list_campaigns

st.title("Human ratings")
store = c.get_store()
if store is None:
    st.stop()
assert store is not None
if not store.has_table("rating_campaigns") or not (camps := list_campaigns(store)):
    c.empty(
        "No rating campaigns yet.",
        "Create one from two or more runs of one suite (`tunebench rate create --runs RUN_A RUN_B`), hand the "
        "rater token to raters (`tunebench rate serve CAMPAIGN`), then enter the admin token here.",
    )
    st.stop()

overview = pd.DataFrame(
    [
        {
            "campaign": x.id,
            "created": x.created_at,
            "suite": f"{x.suite}@{x.suite_version}",
            "split": x.split,
            "runs": len(x.runs),
            "items": x.n_items,
            "gold": x.n_gold,
            "ratings": count_ratings(store, x.id),
        }
        for x in camps
    ]
)
st.dataframe(overview, hide_index=True)

cols = st.columns([2, 3, 1])
cid = cols[0].selectbox("campaign", [x.id for x in camps], key="ratings_campaign")
token = cols[1].text_input("admin token", type="password", key="ratings_admin_token")
n_boot = cols[2].number_input(
    "bootstrap", min_value=100, max_value=10000, value=1000, step=100, key="ratings_boot"
)
opts = st.columns(2)
threshold = opts[0].slider("flag raters below gold accuracy", 0.0, 1.0, 0.8, 0.05, key="ratings_gold")
exclude = opts[1].checkbox("leave flagged raters out of the statistics", key="ratings_exclude")
if not token:
    st.info("Enter the campaign's admin token (printed by `tunebench rate create`) to see its results.")
    st.stop()


@st.cache_data(show_spinner="bootstrapping...", max_entries=8, ttl=30)
def _results(url: str, cid: str, token: str, n_boot: int, threshold: float, exclude: bool, n: int) -> dict:
    # n (the campaign's rating count) is part of the cache key: new ratings recompute
    res = campaign_results(
        store, cid, token, n_boot=n_boot, gold_threshold=threshold, exclude_flagged=exclude
    )
    return res.model_dump()


try:
    res = CampaignResults.model_validate(
        _results(
            store.url, cid, token, int(n_boot), float(threshold), bool(exclude), count_ratings(store, cid)
        )
    )
except InputError as e:
    st.error(str(e.args[0]))
    st.stop()

tags = {r: chr(ord("A") + i) for i, r in enumerate(res.runs)}
st.caption(
    f"{res.suite} · split {res.split} · {res.n_items} items + {res.n_gold_items} gold · {res.n_ratings} ratings by "
    f"{len(res.raters)} rater(s) · {res.n_boot} bootstrap resamples over items"
)
st.dataframe(
    pd.DataFrame([{"run": tags[r], "id": r, "model [prompt]": lab} for r, lab in res.runs.items()]),
    hide_index=True,
)

st.subheader("Win rates")
st.caption(
    "win rate of X against Y = (X wins + ties/2) / (X wins + Y wins + ties); 'both bad' is reported separately"
)
if res.n_ratings == 0:
    c.empty("No ratings yet.", "Results appear as raters submit items.")
    st.stop()
wr = pd.DataFrame(
    [
        {
            "pair": f"{tags[p.run_a]} vs {tags[p.run_b]}",
            "X win rate": p.win_rate_a,
            "ci_low": p.ci_low,
            "ci_high": p.ci_high,
            "X / Y / tie": f"{p.a_wins} / {p.b_wins} / {p.ties}",
            "both bad": p.both_bad,
            "both bad share": p.both_bad_rate,
            "items": p.n_items,
        }
        for p in res.pairs
    ]
)
num = st.column_config.NumberColumn
st.dataframe(
    wr,
    hide_index=True,
    column_config={k: num(format="%.3f") for k in ("X win rate", "ci_low", "ci_high", "both bad share")},
)
if wr["X win rate"].notna().any():
    d = wr.dropna(subset=["X win rate"])
    base = alt.Chart(d).encode(y=alt.Y("pair:N", sort=list(d["pair"]), title=None))
    rules = base.mark_rule(strokeWidth=3, color="#4c78a8").encode(
        x=alt.X("ci_low:Q", title="win rate of X (95% CI); 0.5 = even", scale=alt.Scale(domain=[0, 1])),
        x2="ci_high:Q",
    )
    points = base.mark_point(filled=True, size=90, color="#1f3b73").encode(
        x="X win rate:Q", tooltip=["pair", alt.Tooltip("X win rate:Q", format=".3f"), "items"]
    )
    even = alt.Chart(pd.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 4], color="#999").encode(x="x:Q")
    st.altair_chart((rules + points + even).properties(height=46 * len(d) + 30), width="stretch")

st.subheader("Bradley-Terry strengths")
st.caption(
    "log strength (mean 0) with 95% bootstrap CIs over items; 'win vs avg' = expected win rate against a run of "
    "average strength; scales: mean 1-5 scores of each run's outputs"
)
bt = pd.DataFrame(
    [
        {
            "run": tags[s.run],
            "log strength": s.log_strength,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "win vs avg": s.win_vs_average,
            **{k: s.scales.get(k) for k in res.scales},
        }
        for s in res.strengths
    ]
)
st.dataframe(
    bt,
    hide_index=True,
    column_config={
        **{k: num(format="%+.3f") for k in ("log strength", "ci_low", "ci_high")},
        "win vs avg": num(format="%.3f"),
        **{k: num(format="%.2f", help=f"mean {k} (1-5)") for k in res.scales},
    },
)

left, right = st.columns(2)
with left:
    st.subheader("Inter-rater agreement")
    st.caption("Krippendorff's alpha on items rated by two or more raters")
    st.dataframe(
        pd.DataFrame(
            [
                {"measure": a.name, "level": a.level, "alpha": a.alpha, "units": a.n_units}
                for a in res.agreement
            ]
        ),
        hide_index=True,
        column_config={"alpha": num(format="%.3f")},
    )
with right:
    st.subheader("Raters")
    st.caption(f"gold accuracy below {res.gold_threshold:g} is flagged")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "rater": r.rater,
                    "ratings": r.n_ratings,
                    "gold": f"{r.gold_correct}/{r.n_gold}",
                    "gold accuracy": r.gold_accuracy,
                    "flag": "LOW" if r.flagged else "",
                }
                for r in res.raters
            ]
        ),
        hide_index=True,
        column_config={"gold accuracy": num(format="%.2f")},
    )
    if res.excluded_raters:
        st.warning("Flagged raters are left out of the statistics:")
        st.text(", ".join(res.excluded_raters))

st.subheader("Human position bias")
st.caption(
    "share of the ratings preferring one output that prefer the output shown first (0.5 = none; 95% bootstrap "
    "CI over items; ties and 'both bad' left out). 'X shown first': pair items where the pair's X run was "
    "Output 1 (sides are counterbalanced: half of each rater's items)"
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "rater": "(all)" if b.rater is None else b.rater,
                "pair ratings": b.n_ratings,
                "X shown first": b.a_first,
                "preferring one": b.n,
                "first shown": b.first,
                "share": b.share,
                "ci_low": b.ci_low,
                "ci_high": b.ci_high,
            }
            for b in res.position_bias
        ]
    ),
    hide_index=True,
    column_config={k: num(format="%.3f") for k in ("share", "ci_low", "ci_high")},
)

st.subheader("Judge against humans")
if res.judge:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "pair": f"{tags[j.run_a]} vs {tags[j.run_b]}",
                    "judgment": j.judgment,
                    "n": j.n,
                    "agreement": j.agreement,
                    "kappa": j.kappa,
                }
                for j in res.judge
            ]
        ),
        hide_index=True,
        column_config={"agreement": num(format="%.3f"), "kappa": num(format="%.3f")},
    )
else:
    st.caption("No stored pairwise judgment of these runs (`tunebench judge RUN_A RUN_B`).")
for note in res.notes:
    st.caption(f"note: {note}")
