"""`judge_rubric`: single-answer grading by an LLM judge, one integer grade per criterion.

    scorers:
      - name: judge
        type: judge_rubric
        args:
          judge: openai:my-judge@http://127.0.0.1:8000/v1
          criteria: [accuracy, format, tone, completeness]   # or {name: description, ...}
          scale: "1-5"
          reference_guided: true      # show the judge the reference answer
          template: auto              # rubric-choice-v1 (grades from probabilities); rubric-v1: JSON
          min_mass: 0.5               # abstain below this probability of the grades (label template)

Per sample, with NAME the scorer's name:

* `NAME.<criterion>`: the judge's RAW grade on the scale (1-5 by default, higher is better), so the
  run metric is the mean grade, not a 0-1 share;
* `NAME.overall`: the mean of the sample's criterion grades (same scale);
* `NAME.errors`: 1.0 when the judge call failed (transport failure after the retry budget, or a
  reply still unparseable after one re-ask), else 0.0 -- so the run metric `NAME.errors` is the share
  of samples the judge failed on, with n samples (count = value * n). A failed call gives value None
  for every criterion and for overall: an error is never a grade. A sample whose generation failed is
  not sent to the judge (all values None, `NAME.errors` None).

Metric semantics (`metric_info`): grades and overall are per-sample means on [low, high] of the
scale, higher is better; `NAME.errors` is a rate on [0, 1], lower is better. A None counts as the
failure value of its metric in the run's metrics (the lowest grade; 1 for `NAME.errors`), so a
sample the judge or the generation failed on is never dropped from the mean.

Two ways to grade. The default label template (`template: auto` = rubric-choice-v1) asks once per
criterion for one grade and reads it from the judge's probabilities over the grades lo..hi (in
process, or an endpoint's logprobs): the criterion's value is the EXPECTED grade (sum of grade x
probability, normalized over the grades), and a criterion whose grades get less than `min_mass` of
the probability is an abstention (value None, counted in `NAME.errors`, the reason in `detail`);
without probabilities the reply's first word is the grade. A JSON template (rubric-v1) asks once per
sample for every criterion with a short reasoning.

`detail` holds the judge's short reasoning (or the error, or the abstention), `data` the judge call
key (`judge_key`, the row in the `judge_calls` table, with the raw reply; `judge_keys` per criterion
for a label template, with each criterion's grade distribution in `probs`). Every call of a run is made in `prepare`, at
once, with bounded concurrency; calls are cached in the store by judge identity + template + prompt.
The scorer finds the store on `ctx.store` when the runner provides one, else opens `store` (a URL)
or the workspace's default store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError
from ..scorers.base import BaseScorer, ScoreContext, register_scorer
from ..store import Store
from ..types import Completion, MetricInfo, Sample, Score, stable_hash
from .client import JudgeClient, JudgeRequest, JudgeResult, JudgeUsage, ReplyParseError, parse_json_object
from .pricing import PriceTable, as_price_table
from .probs import DEFAULT_MIN_MASS, expected_grade, read_choice
from .templates import reference_block

AUTO_TEMPLATE = "rubric-choice-v1"
"""What `template: auto` uses: one grade per criterion, read from the judge's probabilities."""

DEFAULT_CRITERIA: dict[str, str] = {
    "accuracy": "Is the content correct and faithful to the request (and to the reference answer, when given)?",
    "format": "Does it follow the requested format and instructions (for example a JSON object when one is asked for)?",
    "tone": "Is the tone appropriate for the user: professional, clear and helpful?",
    "completeness": "Does it address everything the request asks for, without leaving parts out?",
}
REASONING_LIMIT = 300
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_scale(scale: str | Sequence[int]) -> tuple[int, int]:
    if isinstance(scale, str):
        m = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", scale)
        if m is None:
            raise ValueError(f"scale must look like '1-5', got {scale!r}")
        lo, hi = int(m[1]), int(m[2])
    else:
        if len(scale) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in scale):
            raise ValueError(f"scale must be '1-5' or [1, 5], got {scale!r}")
        lo, hi = int(scale[0]), int(scale[1])
    if lo >= hi:
        raise ValueError(f"scale {lo}-{hi}: the low end must be below the high end")
    return lo, hi


def parse_criteria(criteria: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(criteria, str):
        raise ValueError("criteria must be a list of names or a mapping name -> description")
    items = (
        criteria.items()
        if isinstance(criteria, Mapping)
        else ((c, DEFAULT_CRITERIA.get(str(c), "")) for c in criteria)
    )
    out: dict[str, str] = {}
    for name, desc in items:
        name = str(name)
        if not _NAME_RE.match(name) or name in ("overall", "errors"):
            raise ValueError(
                f"criterion name {name!r}: use letters, digits and _ (not 'overall' or 'errors')"
            )
        out[name] = str(desc or "")
    if not out:
        raise ValueError("criteria must not be empty")
    return out


def render_conversation(messages: Sequence[Any]) -> str:
    parts = []
    for m in messages:
        role = m["role"] if isinstance(m, Mapping) else m.role
        content = m["content"] if isinstance(m, Mapping) else m.content
        parts.append(f"{role.capitalize()}: {content}")
    return "\n\n".join(parts)


def make_rubric_parser(criteria: Sequence[str], lo: int, hi: int) -> Any:
    def parse(text: str) -> dict[str, Any]:
        obj = parse_json_object(text)
        reasoning = obj.get("reasoning")
        if not isinstance(reasoning, str):
            raise ReplyParseError('the object needs a string "reasoning"')
        scores = obj.get("scores")
        if not isinstance(scores, dict):
            raise ReplyParseError('the object needs "scores": an object with one grade per criterion')
        missing = [c for c in criteria if c not in scores]
        if missing:
            raise ReplyParseError(f'"scores" lacks {", ".join(missing)}')
        grades: dict[str, int] = {}
        for c in criteria:
            v = scores[c]
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ReplyParseError(f'"scores"."{c}" must be an integer from {lo} to {hi}, got {v!r}')
            grades[c] = v
        return {"reasoning": reasoning, "scores": grades}

    return parse


@register_scorer("judge_rubric")
class JudgeRubricScorer(BaseScorer):
    """LLM-judge grades per criterion (raw scale, default 1-5) plus their mean and an error share."""

    def __init__(
        self,
        name: str,
        judge: str,
        criteria: Sequence[str] | Mapping[str, str] = tuple(DEFAULT_CRITERIA),
        scale: str | Sequence[int] = "1-5",
        reference_guided: bool = False,
        template: str = "auto",
        concurrency: int = 4,
        max_retries: int = 4,
        timeout_s: float = 60.0,
        max_tokens: int = 512,
        store: str | None = None,
        prices: str | dict[str, Any] | None = None,
        min_mass: float = DEFAULT_MIN_MASS,
    ):
        super().__init__(name)
        self.judge = judge
        self.criteria = parse_criteria(criteria)
        self.scale = parse_scale(scale)
        self.reference_guided = bool(reference_guided)
        self.template = AUTO_TEMPLATE if template == "auto" else template
        if not 0.0 <= min_mass <= 1.0:
            raise ValueError(f"min_mass must be in [0, 1], got {min_mass}")
        self.min_mass = float(min_mass)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.store_url = store
        self.prices = prices
        self._client: JudgeClient | None = None
        self._results: dict[str, JudgeResult | dict[str, JudgeResult]] = {}
        from .client import judge_spec

        try:
            judge_spec(judge)
        except InputError as e:
            raise ValueError(str(e.args[0])) from e

    def metric_names(self) -> list[str]:
        return [f"{self.name}.{c}" for c in self.criteria] + [f"{self.name}.overall", f"{self.name}.errors"]

    def metric_info(self) -> dict[str, MetricInfo]:
        lo, hi = self.scale
        grade = MetricInfo.declare(higher_is_better=True, low=float(lo), high=float(hi))
        errors = MetricInfo.declare(higher_is_better=False, low=0.0, high=1.0)
        return {n: errors if n == f"{self.name}.errors" else grade for n in self.metric_names()}

    @property
    def usage(self) -> JudgeUsage:
        return self._client.usage if self._client is not None else JudgeUsage()

    def client(self, ctx: ScoreContext) -> JudgeClient:
        if self._client is None:
            store = getattr(ctx, "store", None)
            if not isinstance(store, Store):
                store = Store(self.store_url)
            lo, hi = self.scale
            self._client = JudgeClient(
                self.judge,
                self.template,
                store=store,
                params={
                    "task": "rubric",
                    "criteria": self.criteria,
                    "scale": [lo, hi],
                    "reference_guided": self.reference_guided,
                },
                max_tokens=self.max_tokens,
                concurrency=self.concurrency,
                max_retries=self.max_retries,
                timeout_s=self.timeout_s,
                prices=self.prices,
            )
        return self._client

    def _item_key(self, sample: Sample, completion: Completion) -> str:
        return stable_hash([sample.id, completion.text])

    def request(self, sample: Sample, completion: Completion, client: JudgeClient) -> JudgeRequest:
        lo, hi = self.scale
        block = "\n".join(f"- {c}: {d}" if d else f"- {c}" for c, d in self.criteria.items())
        example = ", ".join(f'"{c}": <{lo}-{hi}>' for c in self.criteria)
        messages = client.template.render(
            scale_min=str(lo),
            scale_max=str(hi),
            criteria_block=block,
            question=render_conversation(sample.messages),
            reference_block=reference_block(sample.reference if self.reference_guided else None),
            answer=completion.text,
            scores_example=example,
        )
        return JudgeRequest(messages=tuple(messages))

    def criterion_request(
        self, sample: Sample, completion: Completion, criterion: str, client: JudgeClient
    ) -> JudgeRequest:
        lo, hi = self.scale
        desc = self.criteria[criterion]
        messages = client.template.render(
            scale_min=str(lo),
            scale_max=str(hi),
            criterion=f"{criterion}: {desc}" if desc else criterion,
            question=render_conversation(sample.messages),
            reference_block=reference_block(sample.reference if self.reference_guided else None),
            answer=completion.text,
        )
        return JudgeRequest(messages=tuple(messages))

    @property
    def grades(self) -> list[str]:
        lo, hi = self.scale
        return [str(g) for g in range(lo, hi + 1)]

    def prepare(self, items: Sequence[tuple[Sample, Completion]], ctx: ScoreContext) -> None:
        client = self.client(ctx)
        todo = [(s, c) for s, c in items if c.error is None and self._item_key(s, c) not in self._results]
        if not todo:
            return
        if client.template.label_reply:
            names = list(self.criteria)
            reqs = [self.criterion_request(s, c, k, client) for s, c in todo for k in names]
            flat = client.run(reqs, labels=self.grades)
            for i, (s, c) in enumerate(todo):
                part = flat[i * len(names) : (i + 1) * len(names)]
                self._results[self._item_key(s, c)] = dict(zip(names, part, strict=True))
            return
        lo, hi = self.scale
        parse = make_rubric_parser(list(self.criteria), lo, hi)
        results = client.run([self.request(s, c, client) for s, c in todo], parse)
        for (s, c), r in zip(todo, results, strict=True):
            self._results[self._item_key(s, c)] = r

    def _criterion_grade(self, r: JudgeResult) -> tuple[float | None, str, dict[str, float] | None]:
        """(grade, detail, normalized distribution) of one criterion's label call."""
        if not r.ok or r.parsed is None:
            return None, f"judge error: {r.error}", None
        if r.parsed.get("mode") == "probs":
            choice = read_choice(r.parsed.get("probs") or {}, self.grades, min_mass=self.min_mass)
            if choice["label"] is None:
                return None, f"judge abstained: {choice['abstain']}", None
            norm = choice["normalized"]
            grade = expected_grade(norm)
            return grade, f"expected grade {grade:.2f} (P(grade {choice['label']}) = {choice['p']:.2f})", norm
        return float(int(r.parsed["label"])), f"grade {r.parsed['label']} (reply text)", None

    def _score_labels(self, results: Mapping[str, JudgeResult]) -> list[Score]:
        keys = {k: r.key for k, r in results.items()}
        data: dict[str, Any] = {
            "judge_key": next(iter(keys.values())),
            "judge_keys": keys,
            "judge": self.judge,
            "template": self.template,
            "cached": all(r.cached for r in results.values()),
            "probs": {},
        }
        out, values, failed = [], [], []
        for c, r in results.items():
            grade, detail, norm = self._criterion_grade(r)
            if norm is not None:
                data["probs"][c] = norm
            if grade is None:
                failed.append(f"{c}: {detail}")
            values.append(grade)
            out.append(Score(name=f"{self.name}.{c}", value=grade, detail=detail, data=data))
        overall = None if failed else sum(v for v in values if v is not None) / len(values)
        note = "; ".join(failed)
        out.append(
            Score(
                name=f"{self.name}.overall", value=overall, detail=note or "mean of the criteria", data=data
            )
        )
        out.append(Score(name=f"{self.name}.errors", value=1.0 if failed else 0.0, detail=note, data=data))
        return out

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        names = [*self.criteria, "overall"]
        if completion.error is not None:
            detail = f"no answer to grade (generation error: {completion.error})"
            return [Score(name=f"{self.name}.{n}", value=None, detail=detail) for n in names] + [
                Score(name=f"{self.name}.errors", value=None, detail=detail)
            ]
        key = self._item_key(sample, completion)
        if key not in self._results:
            self.prepare([(sample, completion)], ctx)
        r = self._results[key]
        if isinstance(r, dict):
            return self._score_labels(r)
        data = {"judge_key": r.key, "judge": self.judge, "template": self.template, "cached": r.cached}
        if not r.ok or r.parsed is None:
            detail = f"judge error: {r.error}"
            out = [Score(name=f"{self.name}.{n}", value=None, detail=detail, data=data) for n in names]
            return out + [Score(name=f"{self.name}.errors", value=1.0, detail=detail, data=data)]
        grades: dict[str, int] = r.parsed["scores"]
        reasoning = str(r.parsed.get("reasoning", ""))
        if len(reasoning) > REASONING_LIMIT:
            reasoning = reasoning[: REASONING_LIMIT - 3] + "..."
        out = [
            Score(name=f"{self.name}.{c}", value=float(grades[c]), detail=reasoning, data=data)
            for c in self.criteria
        ]
        overall = sum(grades[c] for c in self.criteria) / len(self.criteria)
        out.append(Score(name=f"{self.name}.overall", value=overall, detail=reasoning, data=data))
        out.append(Score(name=f"{self.name}.errors", value=0.0, data=data))
        return out


def judge_usage_for_run(
    store: Store, run_id: str, prices: PriceTable | Mapping[str, Any] | str | None = None
) -> dict[str, JudgeUsage]:
    """Token usage and cost of the judge calls a stored run's scores rest on, per judge label
    (from the `judge_key` each judge score carries in its data)."""
    table = as_price_table(prices)
    keys_by_judge: dict[str, set[str]] = {}
    for sample_scores in store.score_table(run_id).values():
        for s in sample_scores.values():
            k, j = s.data.get("judge_key"), s.data.get("judge")
            if isinstance(k, str) and isinstance(j, str):
                keys_by_judge.setdefault(j, set()).add(k)
                more = s.data.get("judge_keys")
                if isinstance(more, dict):  # a label template: one call per criterion
                    keys_by_judge[j].update(v for v in more.values() if isinstance(v, str))
    out: dict[str, JudgeUsage] = {}
    for judge, keys in keys_by_judge.items():
        rows = store.get_judge_calls(sorted(keys))
        u = JudgeUsage(calls=len(keys))
        for call in rows.values():
            u.prompt_tokens += call["prompt_tokens"]
            u.completion_tokens += call["completion_tokens"]
            u.errors += call["error"] is not None
        model = judge.rpartition("@")[0].partition(":")[2]
        u.cost_usd = table.cost((judge, model), u.prompt_tokens, u.completion_tokens)
        out[judge] = u
    return out
