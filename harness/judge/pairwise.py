"""Pairwise judging of two runs: which answer is better, A's (baseline) or B's (candidate)?

`judge_pairwise(store, run_a, run_b, judge)` takes two comparable runs (same suite name, version and
content hash, same split and sample ids: `compare.check_comparable`), draws `n` sample ids (seeded;
all by default) and asks the judge about each pair in BOTH orders: A's answer first, then B's answer
first. Per pair the outcome is:

* "A" or "B" when both orders name the same winner;
* "tie" when both orders say tie, or the verdict flips with the order (or one order says tie);
* "error" when a judge call failed (after its retry budget, or an unparseable reply after one
  re-ask) or either run has no answer for the sample. Errors are counted, never scored.

Statistics over the non-error pairs, with y = 1 (B wins), 0.5 (tie), 0 (A wins):

* win rate of B = mean(y), with a seeded percentile-bootstrap 95% CI;
* length-controlled win rate: y regressed (least squares) on the length difference
  len(B) - len(A) in words, standardized; the prediction at a length difference of zero, clipped
  to [0, 1], with a bootstrap CI (the regression refitted on each resample);
* reliability (see `reliability`): position consistency, repeat agreement on a seeded subset of
  `repeat_fraction` of the pairs re-asked as new calls (a `repeat` nonce in the cache key), the
  correlation of y with the length difference, a same-family warning, and Cohen's kappa against
  human ratings of the same pairs when a `ratings` table exists.

The result is stored as a record of kind "judgment" (ref "RUN_A..RUN_B") with the judge identity,
the template id, version and hash, the parameters, and every judge call key (the calls themselves,
raw replies included, are rows of the `judge_calls` table).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from .. import stats
from ..errors import InputError
from ..store import Store, new_run_id, now_iso
from ..types import ModelSpec, SampleResult
from .client import JudgeClient, JudgeRequest, JudgeResult, JudgeUsage, ReplyParseError, parse_json_object
from .pricing import PriceTable
from .reliability import family_warning, human_agreement, model_families, pearson, read_human_ratings
from .rubric import reference_block

PAIRWISE_SCHEMA_VERSION = 1
Outcome = Literal["A", "B", "tie", "error"]
OUTCOME_VALUE = {"B": 1.0, "tie": 0.5, "A": 0.0}


class PairVerdict(BaseModel):
    """One sample: the verdict of each order (in A/B terms) and the pair's outcome."""

    sample_id: str
    outcome: Outcome
    verdict_ab: Outcome = Field(description="verdict when A's answer was shown first")
    verdict_ba: Outcome = Field(description="verdict when B's answer was shown first")
    consistent: bool | None = Field(None, description="same verdict in both orders (None on error)")
    len_a: int = 0
    len_b: int = 0
    key_ab: str | None = None
    key_ba: str | None = None
    reasoning_ab: str = ""
    reasoning_ba: str = ""
    error: str | None = None
    repeat_ab: Outcome | None = None
    repeat_ba: Outcome | None = None
    repeat_keys: list[str] = Field(default_factory=list)


class Reliability(BaseModel):
    position_consistency: float | None = None
    n_position: int = 0
    first_position_rate: float | None = Field(
        None, description="share of decisive per-order verdicts that picked the answer shown first"
    )
    repeat_agreement: float | None = None
    n_repeat: int = 0
    length_correlation: float | None = None
    n_length: int = 0
    families_judge: list[str] = Field(default_factory=list)
    families_a: list[str] = Field(default_factory=list)
    families_b: list[str] = Field(default_factory=list)
    family_warning: str | None = None
    kappa: float | None = None
    n_rated: int = 0


class PairwiseResult(BaseModel):
    schema_version: int = PAIRWISE_SCHEMA_VERSION
    id: str
    created_at: str
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    suite: str
    suite_version: str
    suite_hash: str
    split: str
    judge: str
    judge_identity: str
    template: str
    template_version: int
    template_hash: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    n_boot: int = 1000
    repeat_fraction: float = 0.2
    n_pairs: int = 0
    n_judged: int = Field(0, description="pairs with an outcome other than error")
    counts: dict[str, int] = Field(default_factory=dict)
    win_rate_b: float | None = None
    win_ci_low: float | None = None
    win_ci_high: float | None = None
    lc_win_rate_b: float | None = None
    lc_ci_low: float | None = None
    lc_ci_high: float | None = None
    lc_slope: float | None = Field(None, description="change in y per standard deviation of len(B)-len(A)")
    reliability: Reliability = Field(default_factory=Reliability)
    usage: JudgeUsage = Field(default_factory=JudgeUsage)
    pairs: list[PairVerdict] = Field(default_factory=list)
    call_keys: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def to_text(self) -> str:
        from .render import render_pairwise

        return render_pairwise(self)


# --------------------------------------------------------------------------- parsing


def parse_pairwise_reply(text: str) -> dict[str, Any]:
    """{"reasoning": str, "winner": "1" | "2" | "tie"}; the winner may also be the integer 1 or 2."""
    obj = parse_json_object(text)
    reasoning = obj.get("reasoning")
    if not isinstance(reasoning, str):
        raise ReplyParseError('the object needs a string "reasoning"')
    if "winner" not in obj:
        raise ReplyParseError('the object needs "winner": "1", "2" or "tie"')
    w = obj["winner"]
    if isinstance(w, int) and not isinstance(w, bool):
        w = str(w)
    if not isinstance(w, str) or w.strip().lower() not in ("1", "2", "tie"):
        raise ReplyParseError(f'"winner" must be "1", "2" or "tie", got {obj["winner"]!r}')
    return {"reasoning": reasoning, "winner": w.strip().lower()}


def _verdict(result: JudgeResult, a_first: bool) -> Outcome:
    if not result.ok or result.parsed is None:
        return "error"
    w = result.parsed["winner"]
    if w == "tie":
        return "tie"
    first_wins = w == "1"
    return "A" if first_wins == a_first else "B"


def combine(ab: Outcome, ba: Outcome) -> Outcome:
    if "error" in (ab, ba):
        return "error"
    return ab if ab == ba else "tie"


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


def _last_user(prompt: Sequence[Mapping[str, str]]) -> str:
    return next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")


def _results_for(store: Store, run_id: str, ids: set[str]) -> dict[str, SampleResult]:
    return {r.sample_id: r for r in store.iter_results(run_id) if r.sample_id in ids}


def judge_pairwise(
    store: Store,
    run_a: str,
    run_b: str,
    judge: str | ModelSpec,
    *,
    n: int | None = None,
    seed: int = 0,
    template: str = "pairwise-v1",
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
) -> PairwiseResult:
    """Judge B's answers against A's on the same samples; see the module docstring."""
    if n is not None and n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    if not 0.0 <= repeat_fraction <= 1.0:
        raise InputError(f"repeat_fraction must be in [0, 1], got {repeat_fraction}")
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    from ..compare import check_comparable  # lazily: compare imports the scorers, which import the judge

    rec_a, rec_b = store.get_run(run_a), store.get_run(run_b)
    check_comparable(store, rec_a, rec_b)
    client = JudgeClient(
        judge,
        template,
        store=store,
        params={"task": "pairwise", "reference_guided": bool(reference_guided)},
        max_tokens=max_tokens,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout_s=timeout_s,
        backoff_base_s=backoff_base_s,
        backoff_max_s=backoff_max_s,
        prices=prices,
    )

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
        question = _last_user(ra.prompt)
        ref = reference_block(ra.reference if reference_guided else None)

        def req(first: str, second: str, question: str = question, ref: str = ref) -> JudgeRequest:
            m = client.template.render(
                question=question, reference_block=ref, answer_1=first, answer_2=second
            )
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
    results = client.run(requests, parse_pairwise_reply) if requests else []

    # -- verdicts ----------------------------------------------------------------------------------
    call_keys: list[str] = []
    for i, sid in enumerate(askable):
        r_ab, r_ba = results[2 * i], results[2 * i + 1]
        pv = pairs[sid]
        pv.key_ab, pv.key_ba = r_ab.key, r_ba.key
        call_keys += [r_ab.key, r_ba.key]
        pv.verdict_ab, pv.verdict_ba = _verdict(r_ab, True), _verdict(r_ba, False)
        pv.outcome = combine(pv.verdict_ab, pv.verdict_ba)
        pv.reasoning_ab = str((r_ab.parsed or {}).get("reasoning", ""))[:300]
        pv.reasoning_ba = str((r_ba.parsed or {}).get("reasoning", ""))[:300]
        if pv.outcome == "error":
            pv.error = "; ".join(
                f"{tag}: {r.error}" for tag, r in (("A first", r_ab), ("B first", r_ba)) if r.error
            )
        else:
            pv.consistent = pv.verdict_ab == pv.verdict_ba
    base = 2 * len(askable)
    for j, sid in enumerate(repeat_order):
        r_ab, r_ba = results[base + 2 * j], results[base + 2 * j + 1]
        pv = pairs[sid]
        pv.repeat_ab, pv.repeat_ba = _verdict(r_ab, True), _verdict(r_ba, False)
        pv.repeat_keys = [r_ab.key, r_ba.key]
        call_keys += pv.repeat_keys

    ordered = [pairs[sid] for sid in ids]
    result = _summarize(
        ordered,
        rec_a=rec_a,
        rec_b=rec_b,
        client=client,
        store=store,
        seed=seed,
        n_boot=n_boot,
        repeat_fraction=repeat_fraction,
        call_keys=call_keys,
    )
    if save:
        store.put_record("judgment", result.id, result.model_dump(mode="json"), ref=f"{rec_a.id}..{rec_b.id}")
    return result


def _summarize(
    pairs: list[PairVerdict],
    *,
    rec_a: Any,
    rec_b: Any,
    client: JudgeClient,
    store: Store,
    seed: int,
    n_boot: int,
    repeat_fraction: float,
    call_keys: list[str],
) -> PairwiseResult:
    counts = {o: sum(1 for p in pairs if p.outcome == o) for o in ("A", "B", "tie", "error")}
    judged = [p for p in pairs if p.outcome != "error"]
    y = [OUTCOME_VALUE[p.outcome] for p in judged]
    x = [float(p.len_b - p.len_a) for p in judged]
    win = lo = hi = None
    if y:
        win, lo, hi = (float(v) for v in stats.bootstrap_ci(y, n_boot=n_boot, seed=seed))
    lc, lc_lo, lc_hi, slope = length_controlled_win_rate(y, x, n_boot=n_boot, seed=seed)

    rel = Reliability()
    rel.n_position = len(judged)
    if judged:
        rel.position_consistency = sum(1 for p in judged if p.consistent) / len(judged)
    first_picks = total_decisive = 0
    for p in pairs:
        decisive = [(p.verdict_ab, "A"), (p.verdict_ba, "B")]
        for verdict, first in decisive:
            if verdict in ("A", "B"):
                total_decisive += 1
                first_picks += verdict == first
    rel.first_position_rate = first_picks / total_decisive if total_decisive else None
    same = total = 0
    for p in pairs:
        for first, again in ((p.verdict_ab, p.repeat_ab), (p.verdict_ba, p.repeat_ba)):
            if again is None or "error" in (first, again):
                continue
            total += 1
            same += first == again
    rel.n_repeat = total
    rel.repeat_agreement = same / total if total else None
    rel.length_correlation = pearson(y, x)
    rel.n_length = len(y)
    judge_names: list[str | None] = [client.spec.base, client.spec.raw]
    rel.families_judge = sorted(model_families(*judge_names))
    rel.families_a = sorted(model_families(*_model_names(rec_a.model)))
    rel.families_b = sorted(model_families(*_model_names(rec_b.model)))
    rel.family_warning = family_warning(
        judge_names, {"A": _model_names(rec_a.model), "B": _model_names(rec_b.model)}
    )
    ratings = read_human_ratings(store, rec_a.id, rec_b.id)
    if ratings:
        rel.kappa, rel.n_rated = human_agreement({p.sample_id: p.outcome for p in pairs}, ratings)

    warnings: list[str] = []
    if rel.family_warning:
        warnings.append(rel.family_warning)
    if counts["error"]:
        warnings.append(
            f"{counts['error']} of {len(pairs)} pair(s) ended in an error and are not in the win rate"
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

    t = client.template
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
        judge=client.label,
        judge_identity=client.identity_hash,
        template=t.ref,
        template_version=t.version,
        template_hash=t.sha256,
        params=client.params,
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
        usage=client.usage.model_copy(),
        pairs=pairs,
        call_keys=call_keys,
        warnings=warnings,
    )
