"""Plain-text rendering of a pairwise judgment (what `tunebench judge` prints)."""

from __future__ import annotations

from harness.fmt import num
from harness.judge import JudgeUsage
from harness.pairwise import PairwiseResult


def _ci(lo: float | None, hi: float | None) -> str:
    return f"[{num(lo)}, {num(hi)}]" if lo is not None and hi is not None else ""


def _share(x: float | None, k: int, n: int, what: str) -> str:
    if x is None:
        return f"-  (no {what})"
    return f"{x:.1%}  ({k}/{n} {what})"


def usage_lines(u: JudgeUsage, judge: str) -> list[str]:
    lines = [
        f"  judge calls           {u.calls} ({u.cached} cached, {u.new_calls} new; {u.http_requests} HTTP "
        f"request(s), {u.http_retries} retries, {u.parse_retries} parse re-ask(s), {u.errors} error(s))",
        f"  tokens                {u.prompt_tokens:,} prompt + {u.completion_tokens:,} completion "
        f"(new: {u.new_prompt_tokens:,} + {u.new_completion_tokens:,})",
    ]
    if u.cost_usd is None:
        lines.append(f"  cost                  unknown (no price for {judge!r}; pass --prices prices.yaml)")
    else:
        lines.append(
            f"  cost                  ${u.cost_usd:.4f} (this invocation: ${u.new_cost_usd or 0.0:.4f})"
        )
    return lines


def render_pairwise(r: PairwiseResult) -> str:
    rel = r.reliability
    c = r.counts
    out = [
        f"pairwise judgment {r.id}",
        f"  judge                 {r.judge}",
        f"  template              {r.template} (sha256 {r.template_hash[:12]}), temperature 0",
        f"  A (baseline)          {r.run_a}  {r.model_a}",
        f"  B (candidate)         {r.run_b}  {r.model_b}",
        f"  suite                 {r.suite}@{r.suite_version} split {r.split}: {r.n_pairs} pair(s), seed {r.seed}, "
        "each judged in both orders",
        "",
        "verdict",
        f"  B win rate            {num(r.win_rate_b)}  {_ci(r.win_ci_low, r.win_ci_high)}  "
        f"(95% bootstrap CI, ties count half, {r.n_judged} judged pair(s))",
        f"  length-controlled     {num(r.lc_win_rate_b)}  {_ci(r.lc_ci_low, r.lc_ci_high)}  "
        f"(predicted at len(B) = len(A); slope {num(r.lc_slope)} per sd of the length difference)",
        f"  outcomes              B {c.get('B', 0)}  A {c.get('A', 0)}  tie {c.get('tie', 0)}  "
        f"error {c.get('error', 0)}",
        "",
        "reliability",
        "  position consistency  "
        + _share(
            rel.position_consistency,
            round((rel.position_consistency or 0) * rel.n_position),
            rel.n_position,
            "pairs with the same verdict in both orders",
        ),
        "  first-position picks  "
        + (
            f"{rel.first_position_rate:.1%}  (of decisive verdicts; 50% = no position bias)"
            if rel.first_position_rate is not None
            else "-"
        ),
        "  repeat agreement      "
        + _share(
            rel.repeat_agreement,
            round((rel.repeat_agreement or 0) * rel.n_repeat),
            rel.n_repeat,
            "re-asked calls with an identical verdict",
        ),
        "  length correlation    "
        + (
            f"{rel.length_correlation:+.3f}  (verdict vs len(B) - len(A) in words, {rel.n_length} pairs)"
            if rel.length_correlation is not None
            else "-  (constant verdicts or lengths)"
        ),
        "  model families        "
        + f"judge {', '.join(rel.families_judge) or '?'}; A {', '.join(rel.families_a) or '?'}; "
        + f"B {', '.join(rel.families_b) or '?'}"
        + (" -- SAME FAMILY" if rel.family_warning else ""),
        "  human agreement       "
        + (
            f"Cohen's kappa {num(rel.kappa)} on {rel.n_rated} rated pair(s)"
            if rel.n_rated
            else "no human ratings of these pairs yet"
        ),
        "",
        "usage",
        *usage_lines(r.usage, r.judge),
    ]
    if r.warnings:
        out += ["", "warnings"] + [f"  - {w}" for w in r.warnings]
    return "\n".join(out)
