"""Paired comparison of two runs of the same suite: baseline A against candidate B.

`compare_runs(store, A, B)` refuses unless both runs are completed runs of the same suite name,
version and content hash, on the same split, over the same sample ids (`comparability`). Models and
prompts may differ: that is what is being compared.

For every metric both runs report it gives A, B, `delta = B - A`, a paired-bootstrap 95% CI of the
delta (A and B resampled with the same sample indices), a p-value, per-sample win/tie/loss counts
and n (`paired`):

* What a metric means (direction, per-sample mean or corpus-level, range, failure value) comes from
  the runs' declared semantics (`RunRecord.metric_info`, `harness.metrics.metric_info_for`), never
  from its name or values; every MetricDelta carries it (`higher_is_better`, `info`). A metric
  nothing declares is reported from the stored run values, without interval or W/T/L.
* Mean-type metrics (`MetricInfo.kind == "mean"`, e.g. `category`, `summary_rouge.rougeL`) join the
  per-sample values of A and B by sample id. Missing data fails closed (`pairing`): a sample that
  errored or has no score on one side takes the metric's failure value there (counted in
  `n_failed_a`/`n_failed_b`); without a failure value the sample is dropped and counted per side
  and reason (`n_dropped_a`/`n_dropped_b`); a sample not applicable to either side is left out
  (`n_not_applicable`), as in each run's own metric.
* Corpus-level metrics (macro-F1, corpus perplexity) are recomputed by the suite's scorer on A's and
  B's Score lists of each resample (`corpus`). The scorer is rebuilt from the suite when the suite
  (the one given, else the registered one of that name) has the runs' content hash; otherwise the
  metric is reported with its delta from the stored run metrics and no interval, with a note.
* p-values: exact McNemar (`stats.mcnemar_exact`) when the per-sample values of both runs are
  binary (`p_method="mcnemar"`); otherwise the two-sided percentile-bootstrap p-value from the same
  resamples as the CI, `min(1, 2 * min(#{delta* <= 0} + 1, #{delta* >= 0} + 1) / (n_boot + 1))`,
  i.e. (up to the +1 Monte-Carlo correction) the smallest alpha whose percentile interval still
  contains 0 (`p_method="bootstrap"`); None with fewer than two paired samples.
* Win/tie/loss counts samples where B is better/equal/worse in the metric's direction (for a
  corpus-level metric: on its scorer's per-sample values).
* `mde`: the minimum detectable effect at the paired n, one-sided at the comparison's alpha with
  power 0.8 (`stats.mde_from_deltas` on the paired differences; for corpus metrics from
  the bootstrap standard error).

The largest per-sample regressions (B worse in the metric's direction) and improvements are ranked
by the suite's primary metric when both runs have it (for a corpus-level primary metric, its
scorer's per-sample values), else by the first binary per-sample metric (`diffs`). Texts are fetched by streaming the stored results for the
selected samples only. Serving cost compares `RunRecord.usage` (`cost`).

Scale: per-sample values are read as columns (`Store.score_values`: no details, data or completions;
plus the rows stored without a value, `harness.store.compare.null_scores`), and every group of statistics kept on the same samples (the mean-type deltas, a corpus scorer's
per-sample counts from its `resample_stats`) is resampled in one vectorized pass
(`stats.SharedResamples` over `stats.resample_sums`, the same resamples as
`stats.paired_bootstrap_ci`), so two runs of 100,000 samples compare in seconds
(tests/benchmarks/bench_scale.py). The comparison is stored as a record of kind "comparison" with
ref "A..B". Its text rendering lives in `reports.console.compare`.
"""

from .comparability import check_comparable, precision_warnings
from .cost import cost_sentence
from .directions import fill_directions, metric_info_of_runs
from .paired import compare_runs
from .records import COMPARISON_SCHEMA_VERSION, Comparison, CostRow, MetricDelta, SampleDiff

__all__ = [
    "COMPARISON_SCHEMA_VERSION",
    "Comparison",
    "CostRow",
    "MetricDelta",
    "SampleDiff",
    "check_comparable",
    "compare_runs",
    "cost_sentence",
    "fill_directions",
    "metric_info_of_runs",
    "precision_warnings",
]
