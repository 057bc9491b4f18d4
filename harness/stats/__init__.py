"""Statistics: bootstrap intervals and resampling (`bootstrap`, `resample`), hypothesis tests and
multiple-comparison control (`tests`, `margin`: one-sided margin tests and Holm's step-down), power
(`power`: minimum detectable effects), and agreement measures. Pure numpy/scipy, seeded, no I/O."""

from .bootstrap import (
    bootstrap_ci,
    bootstrap_ci_fn,
    paired_bootstrap_ci,
    paired_bootstrap_ci_fn,
    percentile,
    percentile_interval,
    resample_sums,
)
from .margin import (
    MarginTest,
    holm_step_down,
    lower_confidence_bound,
    margin_p_value,
    margin_tests,
    resamples_for,
)
from .power import discordance_sd, mde_from_deltas, mde_from_se, minimum_detectable_effect, paired_sd
from .resample import (
    SharedResamples,
    bootstrap_p_value,
    paired_bootstrap_fn_deltas,
    paired_bootstrap_fn_p,
    paired_delta_interval,
)
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
    "MarginTest",
    "McNemarResult",
    "SharedResamples",
    "bootstrap_ci",
    "bootstrap_ci_fn",
    "bootstrap_p_value",
    "discordance_sd",
    "holm",
    "holm_step_down",
    "is_binary",
    "lower_confidence_bound",
    "margin_p_value",
    "margin_tests",
    "mcnemar_exact",
    "mde_from_deltas",
    "mde_from_se",
    "minimum_detectable_effect",
    "paired_bootstrap_ci",
    "paired_bootstrap_ci_fn",
    "paired_bootstrap_fn_deltas",
    "paired_bootstrap_fn_p",
    "paired_delta_interval",
    "percentile",
    "paired_sd",
    "percentile_interval",
    "resample_sums",
    "resamples_for",
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
