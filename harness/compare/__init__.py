"""Paired comparison of two runs of the same suite: baseline A against candidate B.

`compare_runs(store, A, B)` refuses unless both runs are completed runs of the same suite name,
version and content hash, on the same split, over the same sample ids (`comparability`). Models and
prompts may differ: that is what is being compared.

For every metric both runs report it gives A, B, `delta = B - A`, a paired-bootstrap 95% CI of the
delta (A and B resampled with the same sample indices), a p-value, per-sample win/tie/loss counts
and n (`paired`):

* Mean-type metrics (a mean of per-sample `Score.value`, e.g. `category`, `summary_rouge.rougeL`)
  join the per-sample values of A and B by sample id. A sample whose value is missing or None on
  either side is dropped from that metric (n says how many remain), so A and B are the means over
  the same samples and may differ slightly from each run's own report when samples were dropped.
* Corpus-level metrics (macro-F1, corpus perplexity) are recomputed by the suite's scorer on A's and
  B's Score lists of each resample (`corpus`). The scorer is rebuilt from the suite when the suite
  (the one given, else the registered one of that name) has the runs' content hash; otherwise the
  metric is reported with its delta from the stored run metrics and no interval, with a note.
* p-values: exact McNemar (`stats.mcnemar_exact`) when the per-sample values of both runs are
  binary (`p_method="mcnemar"`); otherwise the two-sided percentile-bootstrap p-value from the same
  resamples as the CI, `min(1, 2 * min(#{delta* <= 0} + 1, #{delta* >= 0} + 1) / (n_boot + 1))`,
  i.e. (up to the +1 Monte-Carlo correction) the smallest alpha whose percentile interval still
  contains 0 (`p_method="bootstrap"`); None with fewer than two paired samples.
* Win/tie/loss counts per-sample values (for a corpus-level metric: its scorer's per-sample
  values) with higher = better; for lower-is-better metrics such as perplexity read W as "B higher".

The largest per-sample regressions and improvements are ranked by the suite's primary metric when
both runs have it (for a corpus-level primary metric, its scorer's per-sample values), else by the
first binary per-sample metric (`diffs`). Texts are fetched by streaming the stored results for the
selected samples only. Serving cost compares `RunRecord.usage` (`cost`).

Scale: per-sample values are read as columns (`Store.score_values`: no details, data or completions),
and every group of statistics kept on the same samples (the mean-type deltas, a corpus scorer's
per-sample counts from its `resample_stats`) is resampled in one vectorized pass
(`stats.SharedResamples` over `stats.resample_sums`, the same resamples as
`stats.paired_bootstrap_ci`), so two runs of 100,000 samples compare in seconds
(tests/benchmarks/bench_scale.py). The comparison is stored as a record of kind "comparison" with
ref "A..B". Its text rendering lives in `reports.console.compare`.
"""

from .comparability import check_comparable, precision_warnings
from .cost import cost_sentence
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
    "precision_warnings",
]
