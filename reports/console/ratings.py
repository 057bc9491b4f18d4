"""Plain-text rendering of a rating campaign's results (what `tunebench rate results` prints)."""

from __future__ import annotations

from harness.fmt import num, table
from harness.ratings import CampaignResults


def _ci(lo: float | None, hi: float | None, digits: int = 3, signed: bool = False) -> str:
    if lo is None or hi is None:
        return "-"
    f = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return "[" + f.format(lo) + ", " + f.format(hi) + "]"


def render_results(res: CampaignResults) -> str:
    tags = {r: chr(ord("A") + i) if i < 26 else f"R{i}" for i, r in enumerate(res.runs)}
    lines = [
        f"rating campaign {res.campaign}  suite {res.suite}  split {res.split}",
        f"{res.n_items} items + {res.n_gold_items} gold; {res.n_ratings} ratings by {len(res.raters)} rater(s); "
        f"bootstrap {res.n_boot} resamples over items, seed {res.seed}",
        "",
        table(["run", "id", "label"], [(tags[r], r, lab) for r, lab in res.runs.items()], "lll"),
        "",
        "win rate of X against Y: (X wins + ties/2) / (X wins + Y wins + ties); 'both bad' reported separately",
        table(
            ["X", "Y", "X win rate", "95% CI", "X/Y/tie", "both bad", "items"],
            [
                (
                    tags[p.run_a],
                    tags[p.run_b],
                    num(p.win_rate_a),
                    _ci(p.ci_low, p.ci_high),
                    f"{p.a_wins}/{p.b_wins}/{p.ties}",
                    f"{p.both_bad} ({num(p.both_bad_rate, 2)})" if p.n_ratings else "-",
                    p.n_items,
                )
                for p in res.pairs
            ],
        ),
        "",
        "Bradley-Terry strength (log, mean 0; win vs average = expected win rate against an average run)",
        table(
            ["run", "log strength", "95% CI", "win vs avg", *res.scales],
            [
                (
                    tags[s.run],
                    f"{s.log_strength:+.3f}",
                    _ci(s.ci_low, s.ci_high, signed=True),
                    num(s.win_vs_average),
                    *(num(s.scales.get(k), 2) for k in res.scales),
                )
                for s in res.strengths
            ],
        ),
        "",
        "inter-rater agreement (Krippendorff's alpha on items rated by 2+ raters)",
        table(
            ["measure", "level", "alpha", "units"],
            [(a.name, a.level, num(a.alpha), a.n_units) for a in res.agreement],
            "llrr",
        ),
        "",
        f"raters (gold accuracy below {res.gold_threshold:g} is flagged)",
        table(
            ["rater", "ratings", "gold", "gold accuracy", "flag"],
            [
                (
                    r.rater,
                    r.n_ratings,
                    f"{r.gold_correct}/{r.n_gold}",
                    num(r.gold_accuracy),
                    "LOW" if r.flagged else "",
                )
                for r in res.raters
            ],
            "lrrrl",
        )
        if res.raters
        else "no ratings yet",
    ]
    if res.excluded_raters:
        lines.append(f"excluded from the statistics above: {', '.join(res.excluded_raters)}")
    lines += [
        "",
        "human position bias: share of the ratings preferring one output that prefer the one shown first "
        "(0.5 = none; 95% CI bootstrap over items; ties and both bad left out); X shown first: pair items "
        "where the pair's X run was Output 1 (counterbalanced: half of each rater's items, +-1 per pair)",
        table(
            ["rater", "pair ratings", "X shown first", "preferring one", "first shown", "share", "95% CI"],
            [
                (
                    "(all)" if b.rater is None else b.rater,
                    b.n_ratings,
                    b.a_first,
                    b.n,
                    b.first,
                    num(b.share),
                    _ci(b.ci_low, b.ci_high),
                )
                for b in res.position_bias
            ],
            "lrrrrrr",
        )
        if res.position_bias and res.position_bias[0].n_ratings
        else "no pair ratings yet",
    ]
    lines += ["", "judge against humans (Cohen's kappa; both bad read as tie)"]
    if res.judge:
        lines.append(
            table(
                ["X", "Y", "judgment", "n", "agreement", "kappa"],
                [
                    (tags[j.run_a], tags[j.run_b], j.judgment, j.n, num(j.agreement), num(j.kappa))
                    for j in res.judge
                ],
            )
        )
    else:
        lines.append("no stored pairwise judgment of these runs (`tunebench judge RUN_A RUN_B`)")
    for n_ in res.notes:
        lines.append(f"note: {n_}")
    return "\n".join(lines)
