"""Blinded human rating campaigns: pairs of run outputs rated by people. `campaign` makes them (items,
tokens, invitations), `rating` serves a rater (sessions, next item, counterbalanced sides, saving),
`scales` are what outputs are scored on, `results` is what the ratings say; gold items (`gold`) are
attention checks. The queries are in harness/store/human_ratings.py, the statistics in
harness/stats/agreement.py, the text rendering in reports/console/ratings.py."""

from ..stats.agreement import bradley_terry, cohens_kappa, krippendorff_alpha, win_rate_ci
from ..store.human_ratings import count_ratings, human_pairwise
from .campaign import (
    CHOICES,
    PREFERENCES,
    Campaign,
    CampaignCreated,
    create_campaign,
    get_campaign,
    list_campaigns,
    normalize_rater,
    run_label,
)
from .gold import load_gold
from .rating import (
    BlindItem,
    Progress,
    RaterSession,
    SaveResult,
    campaign_scales,
    login,
    next_item,
    open_session,
    output_order,
    progress,
    save_rating,
)
from .results import (
    AgreementResult,
    CampaignResults,
    JudgeAgreement,
    PairResult,
    PositionBias,
    RaterResult,
    StrengthResult,
    campaign_results,
)
from .scales import DEFAULT_SCALES, SCALES, Scale, load_scales

__all__ = [
    "CHOICES",
    "DEFAULT_SCALES",
    "PREFERENCES",
    "SCALES",
    "AgreementResult",
    "BlindItem",
    "Campaign",
    "CampaignCreated",
    "CampaignResults",
    "JudgeAgreement",
    "PairResult",
    "PositionBias",
    "Progress",
    "RaterResult",
    "RaterSession",
    "SaveResult",
    "Scale",
    "StrengthResult",
    "bradley_terry",
    "campaign_results",
    "campaign_scales",
    "cohens_kappa",
    "count_ratings",
    "create_campaign",
    "get_campaign",
    "human_pairwise",
    "krippendorff_alpha",
    "list_campaigns",
    "load_gold",
    "load_scales",
    "login",
    "next_item",
    "normalize_rater",
    "open_session",
    "output_order",
    "progress",
    "run_label",
    "save_rating",
    "win_rate_ci",
]
