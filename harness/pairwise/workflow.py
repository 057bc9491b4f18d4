"""Pairwise judging of two runs: which answer is better, A's (baseline) or B's (candidate)?

`judge_pairwise(store, run_a, run_b, judge)` takes two comparable runs (same suite name, version and
content hash, same split and sample ids: `compare.check_comparable`), draws `n` sample ids (seeded;
all by default) and asks the judge about each pair in BOTH orders: A's answer first, then B's answer
first. The judge is an OpenAI-compatible endpoint or a local model in process, or a list of them (a
panel, harness/pairwise/panel.py: the panel's verdict in each order is the judges' majority, their
agreement Fleiss' kappa, each judge's identity and own numbers are recorded).

How an order's verdict is read (`result.order_choice`): with the default label template
(`template="auto"`, pairwise-choice-fewshot-v1) the judge answers 1, 2 or tie and the verdict is the
most probable of them under its next-token probabilities (harness/judge/probs.py); when those give
the three answers less than `min_mass` (0.5) in all, the judge ABSTAINS on that order, with the
reason; an endpoint without log-probabilities has its reply text parsed. A JSON template
(pairwise-v1) is parsed strictly. Per pair the outcome is:

* "A" or "B" when both orders name the same winner;
* "tie" when both orders say tie, or the verdict flips with the order (or one order says tie);
* "abstain" when the judge abstained on an order (never a score);
* "error" when a judge call failed (after its retry budget, or an unparseable reply after one
  re-ask) or either run has no answer for the sample. Errors are counted, never scored.

Statistics over the decided pairs (A, B, tie), with y = 1 (B wins), 0.5 (tie), 0 (A wins):

* win rate of B = mean(y), with a seeded percentile-bootstrap 95% CI. It is CLAIMED only when the
  position consistency reaches `min_consistency` (0.6); below, the result says that no win rate is
  claimed and why (the number is kept, flagged);
* length-controlled win rate: y regressed (least squares) on the length difference
  len(B) - len(A) in words, standardized; the prediction at a length difference of zero, clipped
  to [0, 1], with a bootstrap CI (the regression refitted on each resample);
* reliability (see harness/judge/reliability.py): position consistency, the first-position rate,
  repeat agreement on a seeded subset of `repeat_fraction` of the pairs re-asked as new calls (a
  `repeat` nonce in the cache key), the correlation of y with the length difference, the mean
  probability of the allowed answers, a same-family warning, and Cohen's kappa against human
  ratings of the same pairs when there are any (harness/ratings);
* calibration to humans (harness/pairwise/calibration.py): with human ratings of some of the pairs,
  the prediction-powered estimate of the human win rate with its CI, next to the judge's raw rate
  and the judge-human agreement with a CI.

The result is stored as a record of kind "judgment" (ref "RUN_A..RUN_B") with each judge's identity
(model, revision, endpoint and its fingerprint), the template id, version and hash, the parameters,
and every judge call key (the calls themselves, raw replies and probabilities included, are rows of
the `judge_calls` table).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import stats
from ..compare import check_comparable
from ..errors import InputError
from ..judge.client import JudgeClient, JudgeRequest, JudgeUsage
from ..judge.pricing import PriceTable
from ..judge.probs import DEFAULT_MIN_MASS
from ..judge.reliability import family_warning, model_families, pearson
from ..judge.templates import reference_block
from ..judge.transport import judge_spec
from ..store import Store, new_run_id, now_iso
from ..store.human_ratings import human_pairwise
from ..types import ModelSpec, SampleResult, last_user_content, stable_hash
from .calibration import calibrate
from .panel import judge_summary, majority, panel_summary, position_stats
from .result import (
    LABELS,
    OUTCOME_VALUE,
    JudgeVote,
    PairVerdict,
    PairwiseResult,
    Reliability,
    combine,
    order_choice,
    parse_pairwise_reply,
)

AUTO_TEMPLATE = "pairwise-choice-fewshot-v1"
"""What `template="auto"` uses: answers 1 / 2 / tie read from the judge's probabilities (text parsed
where the endpoint gives none), with worked examples so that small base models answer at all."""
MIN_CONSISTENCY = 0.6
"""Below this position consistency, no win rate is claimed."""

# --------------------------------------------------------------------------- statistics


def words(text: str) -> int:
    return len(text.split())


def _lc_point(y: NDArray[np.float64], x: NDArray[np.float64]) -> tuple[float, float]:
    """(prediction at x = 0, slope per sd of x) of the least-squares line of y on standardized x."""
    sd = float(x.std())
    if sd == 0.0:
        return float(y.mean()), 0.0
    z = (x - x.mean()) / sd
    slope = float(np.mean(z * (y - y.mean())))  # var(z) = 1
    pred = float(y.mean()) + slope * (0.0 - float(x.mean())) / sd
    return min(1.0, max(0.0, pred)), slope


def length_controlled_win_rate(
    y: Sequence[float], x: Sequence[float], *, n_boot: int = 1000, seed: int = 0
) -> tuple[float | None, float | None, float | None, float | None]:
    """(point, ci_low, ci_high, slope): the win rate predicted at zero length difference."""
    ya, xa = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    if ya.size == 0:
        return None, None, None, None
    point, slope = _lc_point(ya, xa)
    _, lo, hi = stats.bootstrap_ci_fn(
        ya.size, lambda idx: _lc_point(ya[idx], xa[idx])[0], n_boot=n_boot, seed=seed
    )
    return point, float(lo), float(hi), slope


# --------------------------------------------------------------------------- main entry


def _model_names(spec: ModelSpec) -> list[str | None]:
    names: list[str | None] = [spec.raw, spec.base, spec.adapter]
    if spec.raw == "default" or spec.raw.startswith("default+") or spec.base == "default":
        names.append("gemma")  # the embedded default model is Gemma 3 270M
    if spec.backend == "hf":
        cfg = Path(spec.base) / "config.json"
        try:
            names.append(str(json.loads(cfg.read_text()).get("model_type", "")))
        except (OSError, ValueError, AttributeError):
            pass
    return names


def _results_for(store: Store, run_id: str, ids: set[str]) -> dict[str, SampleResult]:
    return {r.sample_id: r for r in store.iter_results(run_id) if r.sample_id in ids}


def _sum_usage(clients: Sequence[JudgeClient]) -> JudgeUsage:
    total = JudgeUsage()
    for c in clients:
        for name, value in c.usage.model_dump().items():
            if name in ("cost_usd", "new_cost_usd"):
                continue
            setattr(total, name, getattr(total, name) + value)
    for name in ("cost_usd", "new_cost_usd"):
        values = [getattr(c.usage, name) for c in clients]
        setattr(total, name, None if any(v is None for v in values) else sum(values))
    return total


def _mean_probs(probs: Sequence[dict[str, float] | None]) -> dict[str, float] | None:
    given = [p for p in probs if p]
    if not given:
        return None
    return {k: round(sum(p.get(k, 0.0) for p in given) / len(given), 6) for k in ("A", "B", "tie")}


def _mean(values: Sequence[float | None]) -> float | None:
    given = [v for v in values if v is not None]
    return round(sum(given) / len(given), 6) if given else None


def judge_pairwise(
    store: Store,
    run_a: str,
    run_b: str,
    judge: str | ModelSpec | Sequence[str | ModelSpec],
    *,
    n: int | None = None,
    seed: int = 0,
    template: str = "auto",
    repeat_fraction: float = 0.2,
    reference_guided: bool = False,
    concurrency: int = 4,
    max_retries: int = 4,
    timeout_s: float = 60.0,
    max_tokens: int = 512,
    backoff_base_s: float = 0.5,
    backoff_max_s: float = 20.0,
    prices: PriceTable | Mapping[str, Any] | str | None = None,
    n_boot: int = 1000,
    save: bool = True,
    min_mass: float = DEFAULT_MIN_MASS,
    min_consistency: float = MIN_CONSISTENCY,
    workspace: str | Path | None = None,
) -> PairwiseResult:
    """Judge B's answers against A's on the same samples; see the module docstring. `judge` is one
    judge or a panel (a list); `template="auto"` is the label template read from probabilities."""
    if n is not None and n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    if not 0.0 <= repeat_fraction <= 1.0:
        raise InputError(f"repeat_fraction must be in [0, 1], got {repeat_fraction}")
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 <= min_mass <= 1.0 or not 0.0 <= min_consistency <= 1.0:
        raise InputError("min_mass and min_consistency must be in [0, 1]")
    judges = [judge] if isinstance(judge, str | ModelSpec) else list(judge)
    if not judges:
        raise InputError("no judge given")
    for j in judges:
        judge_spec(j)  # every spec checked before anything is loaded or asked
    rec_a, rec_b = store.get_run(run_a), store.get_run(run_b)
    check_comparable(store, rec_a, rec_b)
    clients = [
        JudgeClient(
            j,
            AUTO_TEMPLATE if template == "auto" else template,
            store=store,
            params={"task": "pairwise", "reference_guided": bool(reference_guided)},
            max_tokens=max_tokens,
            concurrency=concurrency,
            max_retries=max_retries,
            timeout_s=timeout_s,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            prices=prices,
            workspace=workspace,
        )
        for j in judges
    ]
    tmpl = clients[0].template

    all_ids = store.sample_ids(rec_a.id)
    if n is not None and n < len(all_ids):
        chosen = set(random.Random(seed).sample(all_ids, n))
        ids = [i for i in all_ids if i in chosen]
    else:
        ids = list(all_ids)
    res_a = _results_for(store, rec_a.id, set(ids))
    res_b = _results_for(store, rec_b.id, set(ids))

    # -- requests: both orders for every pair with two answers, plus the repeat subset ------------
    pairs: dict[str, PairVerdict] = {}
    askable: list[str] = []
    msgs: dict[str, tuple[JudgeRequest, JudgeRequest]] = {}
    for sid in ids:
        ra, rb = res_a[sid], res_b[sid]
        pv = PairVerdict(
            sample_id=sid,
            outcome="error",
            verdict_ab="error",
            verdict_ba="error",
            len_a=words(ra.completion.text),
            len_b=words(rb.completion.text),
        )
        missing = [t for t, r in (("A", ra), ("B", rb)) if r.completion.error is not None]
        if missing:
            pv.error = f"no answer from {' and '.join(missing)} (generation error); not judged"
            pairs[sid] = pv
            continue
        question = last_user_content(ra.prompt)
        ref = reference_block(ra.reference if reference_guided else None)

        def req(first: str, second: str, question: str = question, ref: str = ref) -> JudgeRequest:
            m = tmpl.render(question=question, reference_block=ref, answer_1=first, answer_2=second)
            return JudgeRequest(messages=tuple(m))

        msgs[sid] = (req(ra.completion.text, rb.completion.text), req(rb.completion.text, ra.completion.text))
        pairs[sid] = pv
        askable.append(sid)

    k = 0
    if repeat_fraction > 0 and askable:
        k = min(len(askable), max(1, round(repeat_fraction * len(askable))))
    repeat_ids = set(random.Random(f"repeat:{seed}").sample(askable, k)) if k else set()
    requests: list[JudgeRequest] = []
    for sid in askable:
        requests += list(msgs[sid])
    repeat_order = [sid for sid in askable if sid in repeat_ids]
    for sid in repeat_order:
        requests += [JudgeRequest(m.messages, repeat=1) for m in msgs[sid]]
    per_judge = [c.run(requests, parse_pairwise_reply, labels=LABELS) if requests else [] for c in clients]

    # -- verdicts: each judge's, then the panel's (the judge's own with one judge) -----------------
    call_keys: list[str] = []
    votes_by_pair: dict[str, list[JudgeVote]] = {}
    for i, sid in enumerate(askable):
        pv = pairs[sid]
        votes = []
        for ji, results in enumerate(per_judge):
            r_ab, r_ba = results[2 * i], results[2 * i + 1]
            call_keys += [r_ab.key, r_ba.key]
            vab, pab, mab, nab = order_choice(r_ab, True, min_mass=min_mass)
            vba, pba, mba, nba = order_choice(r_ba, False, min_mass=min_mass)
            notes = [f"{tag}: {x}" for tag, x in (("A first", nab), ("B first", nba)) if x]
            votes.append(
                JudgeVote(
                    judge=ji,
                    outcome=combine(vab, vba),
                    verdict_ab=vab,
                    verdict_ba=vba,
                    probs_ab=pab,
                    probs_ba=pba,
                    mass_ab=mab,
                    mass_ba=mba,
                    key_ab=r_ab.key,
                    key_ba=r_ba.key,
                    note="; ".join(notes) or None,
                )
            )
        votes_by_pair[sid] = votes
        first = per_judge[0]
        pv.key_ab, pv.key_ba = first[2 * i].key, first[2 * i + 1].key
        pv.reasoning_ab = str((first[2 * i].parsed or {}).get("reasoning", ""))[:300]
        pv.reasoning_ba = str((first[2 * i + 1].parsed or {}).get("reasoning", ""))[:300]
        pv.verdict_ab = majority([v.verdict_ab for v in votes])
        pv.verdict_ba = majority([v.verdict_ba for v in votes])
        pv.outcome = combine(pv.verdict_ab, pv.verdict_ba)
        pv.probs_ab, pv.probs_ba = (
            _mean_probs([v.probs_ab for v in votes]),
            _mean_probs([v.probs_ba for v in votes]),
        )
        pv.mass_ab, pv.mass_ba = _mean([v.mass_ab for v in votes]), _mean([v.mass_ba for v in votes])
        if pv.probs_ab and pv.probs_ba:
            pv.p_b = round(sum(p["B"] + p["tie"] / 2 for p in (pv.probs_ab, pv.probs_ba)) / 2, 6)
        if len(clients) > 1:
            pv.votes = votes
        tags = [""] if len(clients) == 1 else [f"{c.label}: " for c in clients]
        if pv.outcome == "error":
            pv.error = "; ".join(
                f"{tags[ji]}{tag}: {r.error}"
                for ji, results in enumerate(per_judge)
                for tag, r in (("A first", results[2 * i]), ("B first", results[2 * i + 1]))
                if r.error
            )
        elif pv.outcome == "abstain":
            pv.abstain = "; ".join(f"{tags[v.judge]}{v.note}" for v in votes if v.note)
        else:
            pv.consistent = pv.verdict_ab == pv.verdict_ba
    base = 2 * len(askable)
    for ri, sid in enumerate(repeat_order):
        pv = pairs[sid]
        rab, rba = [], []
        for results in per_judge:
            r_ab, r_ba = results[base + 2 * ri], results[base + 2 * ri + 1]
            rab.append(order_choice(r_ab, True, min_mass=min_mass)[0])
            rba.append(order_choice(r_ba, False, min_mass=min_mass)[0])
            pv.repeat_keys += [r_ab.key, r_ba.key]
        pv.repeat_ab, pv.repeat_ba = majority(rab), majority(rba)
        call_keys += pv.repeat_keys

    ordered = [pairs[sid] for sid in ids]
    result = _summarize(
        ordered,
        rec_a=rec_a,
        rec_b=rec_b,
        clients=clients,
        store=store,
        seed=seed,
        n_boot=n_boot,
        repeat_fraction=repeat_fraction,
        call_keys=call_keys,
        min_mass=min_mass,
        min_consistency=min_consistency,
    )
    result.judges = [
        judge_summary(c.label, c.info, [votes_by_pair[sid][ji] for sid in askable])
        for ji, c in enumerate(clients)
    ]
    if len(clients) > 1:
        result.panel = panel_summary([votes_by_pair[sid] for sid in askable], len(clients))
    if save:
        store.put_record("judgment", result.id, result.model_dump(mode="json"), ref=f"{rec_a.id}..{rec_b.id}")
    return result


def _summarize(
    pairs: list[PairVerdict],
    *,
    rec_a: Any,
    rec_b: Any,
    clients: Sequence[JudgeClient],
    store: Store,
    seed: int,
    n_boot: int,
    repeat_fraction: float,
    call_keys: list[str],
    min_mass: float,
    min_consistency: float,
) -> PairwiseResult:
    counts = {o: sum(1 for p in pairs if p.outcome == o) for o in ("A", "B", "tie", "abstain", "error")}
    judged = [p for p in pairs if p.outcome in OUTCOME_VALUE]
    y = [OUTCOME_VALUE[p.outcome] for p in judged]
    x = [float(p.len_b - p.len_a) for p in judged]
    win = lo = hi = None
    if y:
        win, lo, hi = (float(v) for v in stats.bootstrap_ci(y, n_boot=n_boot, seed=seed))
    lc, lc_lo, lc_hi, slope = length_controlled_win_rate(y, x, n_boot=n_boot, seed=seed)

    rel = Reliability()
    rel.position_consistency, rel.first_position_rate, rel.n_position = position_stats(
        [(p.verdict_ab, p.verdict_ba) for p in pairs]
    )
    same = total = 0
    for p in pairs:
        for first, again in ((p.verdict_ab, p.repeat_ab), (p.verdict_ba, p.repeat_ba)):
            if again is None or "error" in (first, again) or "abstain" in (first, again):
                continue
            total += 1
            same += first == again
    rel.n_repeat = total
    rel.repeat_agreement = same / total if total else None
    rel.length_correlation = pearson(y, x)
    rel.n_length = len(y)
    rel.mean_mass = _mean([m for p in pairs for m in (p.mass_ab, p.mass_ba)])
    judge_names: list[str | None] = [n for c in clients for n in (c.spec.base, c.spec.raw)]
    if any(
        c.spec.raw == "default" or c.spec.raw.startswith("default+") or c.spec.base == "default"
        for c in clients
    ):
        # the embedded default model is Gemma 3 270M (`tunebench serve default` names it "default")
        judge_names.append("gemma")
    rel.families_judge = sorted(model_families(*judge_names))
    rel.families_a = sorted(model_families(*_model_names(rec_a.model)))
    rel.families_b = sorted(model_families(*_model_names(rec_b.model)))
    rel.family_warning = family_warning(
        judge_names, {"A": _model_names(rec_a.model), "B": _model_names(rec_b.model)}
    )
    ratings = human_pairwise(store, rec_a.id, rec_b.id)
    calibration = None
    if ratings:
        agreement = stats.human_agreement({p.sample_id: p.outcome for p in pairs}, ratings)
        rel.kappa, rel.n_rated = agreement.kappa, agreement.n
        calibration = calibrate(pairs, ratings)

    warnings: list[str] = []
    if rel.family_warning:
        warnings.append(rel.family_warning)
    if counts["error"]:
        warnings.append(
            f"{counts['error']} of {len(pairs)} pair(s) ended in an error and are not in the win rate"
        )
    if counts["abstain"]:
        warnings.append(
            f"the judge abstained on {counts['abstain']} of {len(pairs)} pair(s): its probabilities gave the "
            f"allowed answers less than {min_mass:.0%}; they are not in the win rate"
        )
    if rel.position_consistency is not None and rel.position_consistency < 0.5:
        warnings.append(
            f"position consistency is {rel.position_consistency:.0%}: the verdict mostly follows the order the "
            "answers are shown in, not their content (inconsistent pairs count as ties)"
        )
    if rel.repeat_agreement is not None and rel.repeat_agreement < 0.8:
        warnings.append(f"repeat agreement is {rel.repeat_agreement:.0%}: the judge is not deterministic")
    if rel.length_correlation is not None and abs(rel.length_correlation) >= 0.5:
        warnings.append(
            f"the verdict correlates with the length difference (r = {rel.length_correlation:+.2f}): "
            "read the length-controlled win rate"
        )
    if 0 < len(judged) < 10:
        warnings.append(f"only {len(judged)} judged pair(s): the interval is wide")
    claimed, note = True, None
    if rel.position_consistency is None:
        claimed, note = False, "no win rate is claimed: no pair got a verdict in both orders"
    elif rel.position_consistency < min_consistency:
        claimed = False
        note = (
            f"no win rate is claimed: position consistency {rel.position_consistency:.0%} is below "
            f"{min_consistency:.0%}, so the verdicts say more about the order the answers were shown in "
            "than about the answers"
        )

    t = clients[0].template
    single = len(clients) == 1
    return PairwiseResult(
        id=new_run_id(),
        created_at=now_iso(),
        run_a=rec_a.id,
        run_b=rec_b.id,
        model_a=rec_a.model.label,
        model_b=rec_b.model.label,
        suite=rec_a.suite,
        suite_version=rec_a.suite_version,
        suite_hash=rec_a.suite_hash,
        split=rec_a.split,
        judge=clients[0].label if single else "panel: " + ", ".join(c.label for c in clients),
        judge_identity=clients[0].identity_hash if single else stable_hash([c.identity for c in clients]),
        template=t.ref,
        template_version=t.version,
        template_hash=t.sha256,
        params=clients[0].params,
        seed=seed,
        n_boot=n_boot,
        repeat_fraction=repeat_fraction,
        n_pairs=len(pairs),
        n_judged=len(judged),
        counts=counts,
        win_rate_b=win,
        win_ci_low=lo,
        win_ci_high=hi,
        lc_win_rate_b=lc,
        lc_ci_low=lc_lo,
        lc_ci_high=lc_hi,
        lc_slope=slope,
        reliability=rel,
        usage=_sum_usage(clients),
        pairs=pairs,
        call_keys=call_keys,
        warnings=warnings,
        min_mass=min_mass,
        min_consistency=min_consistency,
        win_rate_claimed=claimed,
        claim_note=note,
        calibration=calibration,
    )
