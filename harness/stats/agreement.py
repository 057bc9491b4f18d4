"""Agreement between raters and pairwise strengths: Cohen's kappa, Fleiss' kappa, Krippendorff's
alpha, the judge-against-humans agreement built on kappa, win rates with cluster-bootstrap CIs and
Bradley-Terry strengths. Pure numpy, seeded, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .bootstrap import bootstrap_ci_fn

Level = Literal["nominal", "ordinal", "interval"]


def cohens_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items (any hashable labels). None with no
    items; 1.0 when both raters use one and the same label throughout (perfect, chance-free), and
    0.0 for any other case where chance agreement is 1."""
    if len(a) != len(b):
        raise ValueError(f"cohens_kappa: {len(a)} labels against {len(b)}")
    n = len(a)
    if n == 0:
        return None
    labels = sorted(set(a) | set(b), key=str)
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    expected = sum((list(a).count(lab) / n) * (list(b).count(lab) / n) for lab in labels)
    if math.isclose(expected, 1.0):
        return 1.0 if math.isclose(observed, 1.0) else 0.0
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: Sequence[Sequence[float]] | NDArray[np.float64]) -> float | None:
    """Fleiss' kappa (Fleiss 1971) of several raters sorting items into categories. `counts[i][j]`:
    how many raters put item i in category j; every item needs the same number m >= 2 of ratings.

    kappa = (P_bar - P_e) / (1 - P_e), with P_i = (sum_j n_ij^2 - m) / (m (m - 1)) the agreement on
    item i, P_bar their mean, p_j the share of all ratings in category j and P_e = sum_j p_j^2.
    None with no items; 1.0 when every rating falls in one category (no chance correction possible,
    agreement is perfect)."""
    n = np.asarray(counts, dtype=float)
    if n.size == 0:
        return None
    if n.ndim != 2:
        raise ValueError("fleiss_kappa: counts must be a matrix items x categories")
    m = n.sum(axis=1)
    if not np.allclose(m, m[0]) or m[0] < 2:
        raise ValueError("fleiss_kappa: every item needs the same number (>= 2) of ratings")
    raters = float(m[0])
    p_i = ((n * n).sum(axis=1) - raters) / (raters * (raters - 1.0))
    p_bar = float(p_i.mean())
    p_j = n.sum(axis=0) / n.sum()
    p_e = float((p_j * p_j).sum())
    if math.isclose(p_e, 1.0):
        return 1.0
    return (p_bar - p_e) / (1.0 - p_e)


def fleiss_kappa_labels(units: Sequence[Sequence[Any]]) -> float | None:
    """Fleiss' kappa from each item's labels (one per rater, the same number of raters per item)."""
    labels = sorted({v for u in units for v in u}, key=str)
    index = {v: j for j, v in enumerate(labels)}
    table = np.zeros((len(units), max(1, len(labels))))
    for i, u in enumerate(units):
        for v in u:
            table[i, index[v]] += 1
    return fleiss_kappa(table)


@dataclass(frozen=True)
class HumanAgreement:
    """A judge's outcomes against human preferences on the same samples."""

    n: int
    """rated pairs the judge also judged (one per human rating)"""
    agreement: float | None
    """raw share of identical labels"""
    kappa: float | None
    """Cohen's kappa"""


def human_agreement(judge_outcomes: Mapping[str, str], human: Iterable[Mapping[str, str]]) -> HumanAgreement:
    """Judge outcomes (sample_id -> A/B/tie; "error" and "abstain" skipped) against human ratings of
    the same runs in the same orientation ({"sample_id", "preference"} with preference
    A/B/tie/both_bad; both bad is read as tie, no preference). Each rating is one pair of labels, so a sample rated by three
    people counts three times; ratings of samples the judge did not judge are left out."""
    judge, people = [], []
    for r in human:
        j = judge_outcomes.get(r["sample_id"])
        if j is None or j in ("error", "abstain"):
            continue
        judge.append(j)
        people.append("tie" if r["preference"] == "both_bad" else r["preference"])
    agree = sum(x == y for x, y in zip(judge, people, strict=True)) / len(judge) if judge else None
    return HumanAgreement(n=len(judge), agreement=agree, kappa=cohens_kappa(judge, people))


def krippendorff_alpha(units: Sequence[Sequence[Any]], level: Level = "nominal") -> float | None:
    """Krippendorff's alpha. `units`: for each unit, the values the raters gave it (missing values
    left out). Units with fewer than two values are not pairable and are ignored. None when fewer
    than two pairable values exist or there is no variation at all (expected disagreement 0).

    alpha = 1 - (n - 1) * sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck, where o is the coincidence
    matrix (each ordered pair of values within a unit of m values adds 1 / (m - 1)), n_c its margins
    and n their total; d2 is 1[c != k] (nominal), (c - k)^2 (interval) or
    (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 (ordinal, values ranked)."""
    pairable = [list(u) for u in units if len(u) >= 2]
    values = sorted({v for u in pairable for v in u}, key=lambda v: (str(type(v)), v))
    if not pairable or len(values) < 1:
        return None
    index = {v: i for i, v in enumerate(values)}
    m = len(values)
    o = np.zeros((m, m))
    for u in pairable:
        cnt = np.zeros(m)
        for v in u:
            cnt[index[v]] += 1
        o += (np.outer(cnt, cnt) - np.diag(cnt)) / (len(u) - 1)
    nc = o.sum(axis=1)
    n = nc.sum()
    if n < 2:
        return None
    if level == "nominal":
        d2 = 1.0 - np.eye(m)
    elif level == "interval":
        x = np.asarray(values, dtype=float)
        d2 = (x[:, None] - x[None, :]) ** 2
    elif level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(nc)])
        lo = np.minimum.outer(np.arange(m), np.arange(m))
        hi = np.maximum.outer(np.arange(m), np.arange(m))
        between = cum[hi + 1] - cum[lo]
        d2 = (between - (nc[:, None] + nc[None, :]) / 2.0) ** 2
    else:
        raise ValueError(f"unknown level {level!r}")
    de = float((np.outer(nc, nc) * d2).sum())
    if de == 0.0:
        return None
    return float(1.0 - (n - 1) * float((o * d2).sum()) / de)


def win_rate_ci(
    item_a: Sequence[float],
    item_n: Sequence[float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Ratio (sum a) / (sum n) over items, with a percentile-bootstrap CI resampling items.
    `item_a[i]`: A's wins + ties / 2 on item i; `item_n[i]`: its decisive-or-tie ratings (> 0)."""
    a = np.asarray(item_a, dtype=float)
    d = np.asarray(item_n, dtype=float)
    if a.size == 0:
        return (math.nan, math.nan, math.nan)
    if np.any(d <= 0):
        raise ValueError("every item needs at least one rating that is not 'both bad'")
    return bootstrap_ci_fn(
        a.size, lambda idx: float(a[idx].sum() / d[idx].sum()), n_boot=n_boot, alpha=alpha, seed=seed
    )


def bradley_terry(
    wins: NDArray[np.float64] | Sequence[Sequence[float]],
    *,
    prior: float = 0.1,
    tol: float = 1e-10,
    max_iter: int = 10000,
) -> NDArray[np.float64]:
    """Bradley-Terry log-strengths (mean 0) from `wins[i, j]` = times i beat j (ties as halves),
    by Hunter's MM algorithm: p_i <- W_i / sum_j N_ij / (p_i + p_j), p renormalised to geometric
    mean 1 after each step. `prior` pseudo-wins are added to every off-diagonal cell. `wins` may
    also be a stack of matrices (B, k, k): each is fitted independently, all at once."""
    w = np.array(wins, dtype=float)
    single = w.ndim == 2
    if single:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError("wins must be a square matrix (or a stack of them)")
    k = w.shape[1]
    off = 1.0 - np.eye(k)
    w = w * off + prior * off
    nij = w + np.transpose(w, (0, 2, 1))
    wi = w.sum(axis=2)
    p = np.ones(wi.shape)
    for _ in range(max_iter):
        denom = (nij / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        new = np.maximum(wi / np.where(denom > 0, denom, 1.0), 1e-300)
        new = new / np.exp(np.log(new).mean(axis=1, keepdims=True))
        done = np.max(np.abs(np.log(new) - np.log(p))) < tol
        p = new
        if done:
            break
    lp = np.log(p)
    lp = lp - lp.mean(axis=1, keepdims=True)
    return lp[0] if single else lp
