"""Statistics: bootstrap intervals and resampling (`bootstrap`), hypothesis tests and
multiple-comparison control, and agreement measures. Pure numpy/scipy, seeded, no I/O."""

from .bootstrap import (
    McNemarResult,
    bootstrap_ci,
    bootstrap_ci_fn,
    holm,
    is_binary,
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_bootstrap_ci_fn,
    percentile,
    percentile_interval,
    resample_sums,
    win_tie_loss,
)

# isort: split
from .agreement import (
    HumanAgreement,
    bradley_terry,
    cohens_kappa,
    human_agreement,
    krippendorff_alpha,
    win_rate_ci,
)

__all__ = [
    "McNemarResult",
    "bootstrap_ci",
    "bootstrap_ci_fn",
    "holm",
    "is_binary",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "paired_bootstrap_ci_fn",
    "percentile",
    "percentile_interval",
    "resample_sums",
    "win_tie_loss",
    # agreement
    "HumanAgreement",
    "bradley_terry",
    "cohens_kappa",
    "human_agreement",
    "krippendorff_alpha",
    "win_rate_ci",
]
