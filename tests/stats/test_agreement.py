"""Agreement statistics (harness/stats/agreement.py): Krippendorff's alpha, Cohen's kappa, the
cluster-bootstrap win rate and Bradley-Terry strengths, used by rating campaigns and the judge."""

from __future__ import annotations

import numpy as np
import pytest

from harness import stats
from harness.stats import bradley_terry, cohens_kappa, krippendorff_alpha, win_rate_ci


def test_krippendorff_alpha_textbook_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with 4 observers,
    # 12 units and missing values; published: nominal .743, ordinal .815, interval .849.
    a = [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None]
    b = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3]
    c = [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None]
    d = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]
    units = [[v for v in col if v is not None] for col in zip(a, b, c, d, strict=True)]
    assert krippendorff_alpha(units, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(units, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(units, "interval") == pytest.approx(0.849, abs=5e-4)
    # nominal by hand: unit 12 has one value (not pairable), so n = 40 pairable values with
    # n_c = (9, 13, 10, 5, 3) for values 1..5 (sum n_c^2 = 384). Disagreeing ordered pairs, each
    # weighted 1/(m_u - 1): unit 2 {2,2,3,2}: 6/3 = 2; unit 6 {1,2,3,4}: 12/3 = 4; unit 8 {1,1,2,1}: 2.
    # alpha = 1 - (n - 1) * 8 / (n^2 - 384) = 1 - 312/1216 = 0.74342
    assert krippendorff_alpha(units, "nominal") == pytest.approx(1 - 39 * 8 / (40 * 40 - 384))
    assert krippendorff_alpha([["A", "A"], ["B", "B"], ["A", "A"]]) == pytest.approx(1.0)
    assert krippendorff_alpha([["A", "A"], ["A", "A"]]) is None  # no variation: undefined
    assert krippendorff_alpha([["A"], ["B"]]) is None  # nothing pairable


def test_cohens_kappa_hand_example() -> None:
    # 10 items, agreeing on 7: p_o = 0.7; rater a says A 6 times, rater b 5 times:
    # p_e = 0.6 * 0.5 + 0.4 * 0.5 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["A"] * 4 + ["B"] * 3 + ["A", "B", "A"]
    b = ["A"] * 4 + ["B"] * 3 + ["B", "A", "B"]
    assert cohens_kappa(a, b) == pytest.approx(0.4)
    assert cohens_kappa(["A", "B"], ["A", "B"]) == pytest.approx(1.0)
    assert cohens_kappa([], []) is None


def test_win_rate_ci_is_a_cluster_bootstrap_of_the_ratio() -> None:
    wins = [1.0, 0.5, 2.0, 0.0, 1.0]  # per item: A wins + ties/2
    n = [1.0, 1.0, 2.0, 1.0, 2.0]  # per item: ratings that are not "both bad"
    point, lo, hi = win_rate_ci(wins, n, n_boot=500, seed=1)
    assert point == pytest.approx(4.5 / 7)
    ref = stats.bootstrap_ci_fn(
        5, lambda i: float(np.sum(np.array(wins)[i]) / np.sum(np.array(n)[i])), n_boot=500, seed=1
    )
    assert (lo, hi) == pytest.approx(ref[1:])
    assert lo < point < hi


def test_bradley_terry_recovers_a_known_ordering() -> None:
    rng = np.random.default_rng(0)
    true = np.array([1.2, 0.4, -0.3, -1.3])
    k = len(true)
    w = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            p = 1 / (1 + np.exp(true[j] - true[i]))
            won = rng.binomial(300, p)
            w[i, j] += won
            w[j, i] += 300 - won
    est = bradley_terry(w)
    assert list(np.argsort(-est)) == [0, 1, 2, 3]
    assert est == pytest.approx(true - true.mean(), abs=0.15)
    assert est.mean() == pytest.approx(0.0, abs=1e-9)
    # an undefeated model keeps a finite strength (the prior), and symmetry gives equal strengths
    assert np.all(np.isfinite(bradley_terry([[0, 5], [0, 0]])))
    assert bradley_terry([[0, 3], [3, 0]]) == pytest.approx([0.0, 0.0], abs=1e-9)
