"""Widgets shared by the dashboard pages: the store handle, empty states, model-text display and the
charts (metric CIs, forest plot of paired deltas, loss curves, trends).

Model text (prompts, completions, references, scorer details, judge reasoning) is only ever shown
through `st.code`, `st.text` or `st.dataframe`: never markdown, never HTML.
"""

from __future__ import annotations

import re
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from harness.fmt import fnum, num
from harness.metrics import UnknownMetricError, metric_info_for
from harness.store import Store
from harness.types import RunRecord

from . import data

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md_escape(text: Any) -> str:
    """Escape a label (run id, model spec, suite name) for use inside markdown."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store | None:
    return data.open_store(url)


def get_store() -> Store | None:
    """The store the dashboard reads, or None (after an empty-state note) when there is none yet."""
    url = data.store_url()
    store = _store(url)
    if store is None:
        _store.clear()  # look again on the next rerun: the workspace may get its first run
        path = data.sqlite_path(url)
        st.info(
            "No tunebench store here yet"
            + (f" (looked for {md_escape(path)})" if path else "")
            + ". Run an evaluation first, e.g. `tunebench run ticket-triage --model default --limit 20`, "
            "then reload this page."
        )
    return store


def empty(what: str, hint: str) -> None:
    st.info(f"{what}\n\n{hint}")


def model_text(label: str, text: str | None, *, height: int | None = None) -> None:
    """Show model text literally (a code block without highlighting, lines wrapped)."""
    st.caption(md_escape(label))
    if text is None:
        st.text("(none)")
    elif text == "":
        st.text("(empty)")
    else:
        st.code(text, language=None, wrap_lines=True, height=height if height else "content")


def facts(items: dict[str, Any]) -> None:
    """A two-column table of labels and values (values shown as plain text)."""
    rows = [(k, "-" if v is None or v == "" else str(v)) for k, v in items.items()]
    st.dataframe(pd.DataFrame(rows, columns=["", "value"]), hide_index=True, width="stretch")


def short(label: str, limit: int = 48) -> str:
    """A long label (a model spec with a path) cut from the left: its end says the most."""
    return label if len(label) <= limit else "…" + label[-(limit - 1) :]


def fmt(x: Any, digits: int = 3) -> str:
    """A stored value with `digits` decimals, "-" when it is not a finite number."""
    return num(fnum(x), digits)


def direction(rec: RunRecord | None, metric: str) -> bool | None:
    """Whether higher is better for a run's metric, from its stored semantics (its suite's
    declarations for runs made before they were stored); None when nothing declares it."""
    if rec is None:
        return None
    try:
        return metric_info_for(rec, metric).higher_is_better
    except UnknownMetricError:
        return None


def pct(x: Any) -> str:
    v = fnum(x)
    return "-" if v is None else f"{v:.1%}"


# --------------------------------------------------------------------------- charts


def plot(chart: Any, extra: int = 90) -> None:
    """Show an altair chart across the page. Streamlit sizes the element itself, so the height is
    passed to it: the chart's plot height plus `extra` pixels for the axis and the legend."""
    h = chart.height if isinstance(chart.height, (int, float)) else 300
    st.altair_chart(chart, width="stretch", height=int(h) + extra)


def ci_chart(df: pd.DataFrame, *, x_title: str = "value") -> alt.Chart:
    """Point and CI bar per metric (columns metric, value, ci_low, ci_high)."""
    d = df.dropna(subset=["value"]).copy()
    order = list(d["metric"])
    base = alt.Chart(d).encode(y=alt.Y("metric:N", sort=order, title=None))
    bars = base.mark_rule(strokeWidth=2, color="#4c78a8").encode(
        x=alt.X("ci_low:Q", title=x_title), x2="ci_high:Q"
    )
    pts = base.mark_point(filled=True, size=70, color="#1f3b73").encode(
        x="value:Q",
        tooltip=[
            "metric:N",
            alt.Tooltip("value:Q", format=".3f"),
            alt.Tooltip("ci_low:Q", format=".3f"),
            alt.Tooltip("ci_high:Q", format=".3f"),
            "n:Q",
        ],
    )
    return (bars + pts).properties(height=max(60, 30 * len(order)))


def forest_plot(df: pd.DataFrame) -> Any:
    """Per-metric delta (B - A) with its CI, a zero line, and colour by what the CI says in the
    metric's stored direction (a perplexity that went up is worse).

    Columns: metric, delta, ci_low, ci_high, higher_is_better (True/False/None: not declared), and
    optionally `candidate` (several candidates against one baseline: one row per candidate within
    each metric)."""
    d = df.dropna(subset=["delta"]).copy()
    if "candidate" not in d:
        d["candidate"] = "B"

    def verdict(r: pd.Series) -> str:
        lo, hi = data.fnum(r.get("ci_low")), data.fnum(r.get("ci_high"))
        hib = r.get("higher_is_better")
        if lo is None or hi is None:
            return "no interval"
        if lo <= 0 <= hi:
            return "inconclusive"
        if not isinstance(hib, bool):
            return "differs (direction not declared)"
        return "B better" if (lo > 0) == hib else "B worse"

    d["result"] = d.apply(verdict, axis=1)
    order = list(dict.fromkeys(d["metric"]))
    several = d["candidate"].nunique() > 1
    colors = alt.Scale(
        domain=["B better", "B worse", "differs (direction not declared)", "inconclusive", "no interval"],
        range=["#2e7d32", "#c62828", "#b26a00", "#757575", "#9e9e9e"],
    )
    enc: dict[str, Any] = {"y": alt.Y("metric:N", sort=order, title=None)}
    if several:
        enc["yOffset"] = alt.YOffset("candidate:N")
    base = alt.Chart(d).encode(**enc)
    tooltip = [
        "metric:N",
        "candidate:N",
        alt.Tooltip("delta:Q", format="+.3f"),
        alt.Tooltip("ci_low:Q", format="+.3f"),
        alt.Tooltip("ci_high:Q", format="+.3f"),
        "result:N",
    ]
    bars = base.mark_rule(strokeWidth=2.5).encode(
        x=alt.X("ci_low:Q", title="delta (B - A) with 95% CI"),
        x2="ci_high:Q",
        color=alt.Color("result:N", scale=colors, legend=alt.Legend(title=None, orient="bottom")),
    )
    shape = alt.Shape("candidate:N", legend=alt.Legend(orient="bottom")) if several else alt.value("circle")
    pts = base.mark_point(filled=True, size=80).encode(
        x="delta:Q", color=alt.Color("result:N", scale=colors), shape=shape, tooltip=tooltip
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="#333").encode(x="x:Q")
    rows = len(order) * (d["candidate"].nunique() if several else 1)
    return alt.layer(zero, bars, pts).properties(height=max(60, 30 * rows))


def loss_chart(curves: pd.DataFrame, x_title: str) -> alt.Chart:
    """One loss curve per training run (columns run, x, loss), one colour each."""
    return (
        alt.Chart(curves)
        .mark_line(point=True)
        .encode(
            x=alt.X("x:Q", title=x_title),
            y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "run:N", scale=alt.Scale(scheme="category10"), legend=alt.Legend(orient="bottom", title=None)
            ),
            tooltip=["run:N", "x:Q", alt.Tooltip("loss:Q", format=".4f")],
        )
        .properties(height=280)
    )


def trend_chart(df: pd.DataFrame, metric: str, higher_is_better: bool | None = None) -> Any:
    """A metric over time per model (column `series`): points joined by lines, each with its 95% CI
    as a vertical bar; runs with a failed verdict as red diamonds. The axis says which way is better
    (the metric's stored direction)."""
    if higher_is_better is not None:
        metric = f"{metric} ({'higher' if higher_is_better else 'lower'} is better)"
    base = alt.Chart(df).encode(
        x=alt.X("created:T", title="run created (UTC)"),
        color=alt.Color(
            "series:N",
            scale=alt.Scale(scheme="category10"),
            legend=alt.Legend(orient="bottom", title=None, labelLimit=420, columns=2),
        ),
    )
    band = base.mark_rule(strokeWidth=2, opacity=0.45).encode(
        y=alt.Y("ci_low:Q", title=metric), y2="ci_high:Q"
    )
    line = base.mark_line(point=alt.OverlayMarkDef(size=70, filled=True)).encode(
        y="value:Q",
        tooltip=[
            "run_id:N",
            "model:N",
            "prompt:N",
            "split:N",
            alt.Tooltip("value:Q", format=".3f"),
            alt.Tooltip("created:T", format="%Y-%m-%d %H:%M"),
        ],
    )
    layers: list[Any] = [band, line]
    failed = df[df["failed"] != ""]
    if len(failed):
        layers.append(
            alt.Chart(failed)
            .mark_point(color="#d32f2f", filled=True, size=160, shape="diamond")
            .encode(x="created:T", y="value:Q", tooltip=["run_id:N", "model:N", "failed:N"])
        )
    return alt.layer(*layers).properties(height=360)
