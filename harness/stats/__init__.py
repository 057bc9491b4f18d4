"""Statistics: bootstrap intervals and resampling (`bootstrap`), hypothesis tests and
multiple-comparison control, and agreement measures. Pure numpy/scipy, seeded, no I/O."""

from .bootstrap import (
    bootstrap_ci,
    bootstrap_ci_fn,
    paired_bootstrap_ci,
    paired_bootstrap_ci_fn,
    percentile,
    percentile_interval,
    resample_sums,
)
from .resample import SharedResamples, bootstrap_p_value, paired_bootstrap_fn_p, paired_delta_interval
from .tests import McNemarResult, holm, is_binary, mcnemar_exact, win_tie_loss

# isort: split
from .agreement import (
    HumanAgreement,
    bradley_terry,
    cohens_kappa,
    fleiss_kappa,
    fleiss_kappa_labels,
    human_agreement,
    krippendorff_alpha,
    win_rate_ci,
)
from .ppi import MeanEstimate, normal_mean, ppi_mean, wilson_interval

__all__ = [
    "McNemarResult",
    "SharedResamples",
    "bootstrap_ci",
    "bootstrap_ci_fn",
    "bootstrap_p_value",
    "holm",
    "is_binary",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "paired_bootstrap_ci_fn",
    "paired_bootstrap_fn_p",
    "paired_delta_interval",
    "percentile",
    "percentile_interval",
    "resample_sums",
    "win_tie_loss",
    # agreement
    "HumanAgreement",
    "bradley_terry",
    "cohens_kappa",
    "fleiss_kappa",
    "fleiss_kappa_labels",
    "human_agreement",
    "krippendorff_alpha",
    "win_rate_ci",
    # prediction-powered inference
    "MeanEstimate",
    "normal_mean",
    "ppi_mean",
    "wilson_interval",
]
