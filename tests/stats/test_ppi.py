"""Prediction-powered inference of the human win rate (harness/stats/ppi.py) and Fleiss' kappa.

The coverage simulation: a judge biased toward B. Humans prefer B with probability 0.40, call a tie
with 0.15 and prefer A otherwise (true human win rate of B: 0.40 + 0.15 / 2 = 0.475). The judge copies
the human verdict on 60% of pairs and says "B" on the rest, so its raw win rate is about 0.69. Each
trial draws N = 400 judged pairs, n = 80 of them rated by humans (a random subset: the first 80 of
the iid draws). The PPI interval must cover 0.475 in 93-97% of 4,000 trials; the raw judge interval
(taking the judge's win rate for the humans') almost never does."""

from __future__ import annotations

import numpy as np
import pytest

from harness.stats import fleiss_kappa, fleiss_kappa_labels, normal_mean, ppi_mean, wilson_interval

TRUE_WIN_RATE = 0.40 + 0.15 / 2


def _simulate(trials: int, big_n: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.random((trials, big_n))
    human = np.where(u < 0.40, 1.0, np.where(u < 0.55, 0.5, 0.0))
    copies = rng.random((trials, big_n)) < 0.60
    judge = np.where(copies, human, 1.0)  # biased toward B
    return human, judge, judge[:, :n]


def test_ppi_interval_covers_the_human_win_rate_the_raw_judge_does_not() -> None:
    trials, big_n, n = 4000, 400, 80
    human, judge, judge_rated = _simulate(trials, big_n, n, seed=20230)
    ppi = ppi_mean(judge, judge_rated, human[:, :n])
    raw = normal_mean(judge)
    ppi_cover = float(np.mean((ppi.low <= TRUE_WIN_RATE) & (TRUE_WIN_RATE <= ppi.high)))
    raw_cover = float(np.mean((raw.low <= TRUE_WIN_RATE) & (TRUE_WIN_RATE <= raw.high)))
    # human labels alone on the n rated pairs: valid but wider than PPI (the judge's N pairs help)
    alone = normal_mean(human[:, :n])
    assert 0.93 <= ppi_cover <= 0.97, ppi_cover
    assert raw_cover < 0.05, raw_cover
    assert float(np.mean(raw.point)) > 0.65  # the bias the raw judge reports
    assert float(np.mean(ppi.point)) == pytest.approx(TRUE_WIN_RATE, abs=0.005)  # unbiased
    assert float(np.mean(ppi.high - ppi.low)) < float(np.mean(alone.high - alone.low))


def test_ppi_scalar_by_hand() -> None:
    f_all = [1.0, 1.0, 0.0, 0.5, 1.0, 0.0]
    f, y = [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]
    est = ppi_mean(f_all, f, y)
    r = np.array(y) - np.array(f)
    cov = np.cov(f, r, ddof=1)[0, 1]
    var = np.var(f_all, ddof=1) / 6 + np.var(r, ddof=1) / 3 + 2 * cov / 6
    assert est.point == pytest.approx(np.mean(f_all) + r.mean())
    assert est.se == pytest.approx(np.sqrt(var))
    assert est.low == pytest.approx(est.point - 1.959964 * est.se, abs=1e-5)
    with pytest.raises(ValueError):
        ppi_mean([1.0, 0.0], [1.0], [1.0])
    with pytest.raises(ValueError):
        ppi_mean([1.0, 0.0], [1.0, 0.0], [1.0])


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(8, 10) or (0, 0)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 0) is None


def test_fleiss_kappa_textbook_example() -> None:
    # Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters,
    # 5 categories; P_bar = 0.378, P_e = 0.213, kappa = 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=5e-5)
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([[3, 0], [3, 0]]) == 1.0  # one category throughout
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 0], [1, 0]])  # unequal numbers of raters


def test_fleiss_kappa_from_labels_equals_cohen_like_cases() -> None:
    # three judges in full agreement on varied items: 1; systematic disagreement: below 0
    assert fleiss_kappa_labels([["A", "A", "A"], ["B", "B", "B"], ["tie", "tie", "tie"]]) == pytest.approx(
        1.0
    )
    assert fleiss_kappa_labels([["A", "B"], ["B", "A"], ["A", "B"], ["B", "A"]]) == pytest.approx(-1.0)
