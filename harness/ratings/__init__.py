"""Blinded human rating campaigns: pairs of run outputs rated by people (`campaign`), and what the
ratings say (`results`); gold items (`gold`) are attention checks. The queries are in harness/store/human_ratings.py, the statistics in
harness/stats/agreement.py, the text rendering in reports/console/ratings.py."""

from ..stats.agreement import bradley_terry, cohens_kappa, krippendorff_alpha, win_rate_ci
from ..store.human_ratings import count_ratings, human_pairwise
from .campaign import (
    CHOICES,
    PREFERENCES,
    SCALES,
    BlindItem,
    Campaign,
    CampaignCreated,
    Progress,
    create_campaign,
    get_campaign,
    list_campaigns,
    login,
    next_item,
    normalize_rater,
    output_order,
    progress,
    run_label,
    save_rating,
)
from .gold import load_gold
from .results import (
    AgreementResult,
    CampaignResults,
    JudgeAgreement,
    PairResult,
    RaterResult,
    StrengthResult,
    campaign_results,
)

__all__ = [
    "CHOICES",
    "PREFERENCES",
    "SCALES",
    "AgreementResult",
    "BlindItem",
    "Campaign",
    "CampaignCreated",
    "CampaignResults",
    "JudgeAgreement",
    "PairResult",
    "Progress",
    "RaterResult",
    "StrengthResult",
    "bradley_terry",
    "campaign_results",
    "cohens_kappa",
    "count_ratings",
    "create_campaign",
    "get_campaign",
    "human_pairwise",
    "krippendorff_alpha",
    "list_campaigns",
    "load_gold",
    "login",
    "next_item",
    "normalize_rater",
    "output_order",
    "progress",
    "run_label",
    "save_rating",
    "win_rate_ci",
]
