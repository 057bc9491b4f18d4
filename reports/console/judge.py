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


def usage_lines(u: JudgeUsage, judge: str, *, local: bool = False) -> list[str]:
    """Calls, tokens and cost; `local`: an in-process judge, whose requests are forward passes."""
    asked = f"{u.http_requests} forward pass(es)" if local else f"{u.http_requests} HTTP request(s)"
    lines = [
        f"  judge calls           {u.calls} ({u.cached} cached, {u.new_calls} new; {asked}, "
        f"{u.http_retries} retries, {u.parse_retries} parse re-ask(s), {u.errors} error(s))",
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


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _judge_lines(r: PairwiseResult) -> list[str]:
    out = []
    for i, j in enumerate(r.judges):
        info = j.info
        who = f"{info.get('model') or j.label}"
        extra = [f"{k} {info[k]}" for k in ("revision", "endpoint", "fingerprint") if info.get(k)]
        probs = info.get("logprobs")
        mode = "probabilities" if probs else ("reply text (no logprobs)" if probs is False else "reply text")
        c = j.counts
        out.append(f"  judge {i + 1}  {j.label}")
        out.append(
            f"           {info.get('backend') or '?'}: model {who}"
            + (f"; {'; '.join(extra)}" if extra else "")
        )
        out.append(
            f"           verdicts from {mode}; B {c.get('B', 0)}  A {c.get('A', 0)}  tie {c.get('tie', 0)}  "
            f"abstain {c.get('abstain', 0)}  error {c.get('error', 0)}; position consistency "
            f"{_pct(j.position_consistency)}, first-position picks {_pct(j.first_position_rate)}, "
            f"mean mass on 1/2/tie {_pct(j.mean_mass)}"
        )
    return out


def _panel_lines(r: PairwiseResult) -> list[str]:
    if r.panel is None:
        return []
    p = r.panel
    return [
        "",
        f"panel of {p.n_judges} judges ({p.rule})",
        *_judge_lines(r),
        f"  Fleiss' kappa         {num(p.fleiss_kappa)}  on {p.n_items} pair(s) every judge decided "
        f"(unanimous on {_pct(p.unanimous)})",
    ]


def _calibration_lines(r: PairwiseResult) -> list[str]:
    cal = r.calibration
    if cal is None:
        return []
    out = [
        "",
        f"calibrated to humans ({cal.n_rated} of {cal.n_judged} judged pair(s) rated, {cal.n_ratings} rating(s))",
        f"  human win rate (PPI)  {num(cal.ppi_win_rate)}  {_ci(cal.ppi_ci_low, cal.ppi_ci_high)}  "
        "(prediction-powered: judge on all pairs + human-minus-judge on the rated ones, 95% CI)",
        f"  judge win rate (raw)  {num(cal.judge_win_rate)}  (the judge alone, on all judged pairs)",
        f"  humans alone          {num(cal.human_win_rate_rated)}  (on the rated pairs only)",
        f"  judge-human agreement {_pct(cal.agreement)}  {_ci(cal.agreement_ci_low, cal.agreement_ci_high)}  "
        f"(Wilson 95% CI); Cohen's kappa {num(cal.kappa)}",
    ]
    if cal.note:
        out.append(f"  note                  {cal.note}")
    return out


def render_pairwise(r: PairwiseResult) -> str:
    rel = r.reliability
    c = r.counts
    probs = "probabilities over 1 / 2 / tie" if r.template.startswith("pairwise-choice") else "its JSON reply"
    if r.win_rate_claimed:
        win_line = (
            f"  B win rate            {num(r.win_rate_b)}  {_ci(r.win_ci_low, r.win_ci_high)}  "
            f"(95% bootstrap CI, ties count half, {r.n_judged} judged pair(s))"
        )
    else:
        win_line = (
            f"  B win rate            NOT CLAIMED (judge's figure {num(r.win_rate_b)} "
            f"{_ci(r.win_ci_low, r.win_ci_high)} is not evidence; see below)"
        )
    out = [
        f"pairwise judgment {r.id}",
        f"  judge                 {r.judge}",
        f"  template              {r.template} (sha256 {r.template_hash[:12]}), temperature 0; verdict read "
        f"from the judge's {probs}"
        + (
            f", abstaining below {r.min_mass:.0%} on them" if r.template.startswith("pairwise-choice") else ""
        ),
        f"  A (baseline)          {r.run_a}  {r.model_a}",
        f"  B (candidate)         {r.run_b}  {r.model_b}",
        f"  suite                 {r.suite}@{r.suite_version} split {r.split}: {r.n_pairs} pair(s), seed {r.seed}, "
        "each judged in both orders",
        "",
        "verdict",
        win_line,
        f"  length-controlled     {'' if r.win_rate_claimed else 'NOT CLAIMED: '}{num(r.lc_win_rate_b)}  "
        f"{_ci(r.lc_ci_low, r.lc_ci_high)}  "
        f"(predicted at len(B) = len(A); slope {num(r.lc_slope)} per sd of the length difference)",
        f"  outcomes              B {c.get('B', 0)}  A {c.get('A', 0)}  tie {c.get('tie', 0)}  "
        f"abstain {c.get('abstain', 0)}  error {c.get('error', 0)}",
    ]
    if r.claim_note:
        out.append(f"  claim                 {r.claim_note}")
    out += [
        "",
        "reliability",
        "  position consistency  "
        + _share(
            rel.position_consistency,
            round((rel.position_consistency or 0) * rel.n_position),
            rel.n_position,
            "pairs with the same verdict in both orders",
        )
        + f"; a win rate is claimed from {r.min_consistency:.0%}",
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
    ]
    if rel.mean_mass is not None:
        out.append(f"  mass on 1 / 2 / tie   {rel.mean_mass:.1%}  (mean probability of the allowed answers)")
    if r.panel is None and r.judges:
        out += ["", "judge identity", *_judge_lines(r)]
    out += _panel_lines(r)
    out += _calibration_lines(r)
    local = bool(r.judges) and all(str(j.info.get("backend", "")).startswith("hf") for j in r.judges)
    out += ["", "usage", *usage_lines(r.usage, r.judge, local=local)]
    if r.warnings:
        out += ["", "warnings"] + [f"  - {w}" for w in r.warnings]
    return "\n".join(out)
