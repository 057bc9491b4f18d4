"""`perplexity`: the model's perplexity on the reference answer, given the exact prompt."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..types import Completion, Sample, Score
from ._common import generation_error
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer

NO_MODEL = "perplexity needs a backend with loglikelihood"


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf


@register_scorer("perplexity")
class PerplexityScorer(BaseScorer):
    """Reference perplexity: `ctx.model.loglikelihood([(ctx.prompt_text, sample.reference)])` gives the
    summed log-probability of the reference tokens and their count. Per sample the value is
    exp(-sum_logprob / n_tokens), with `{"nll": -sum_logprob, "tokens": n}` in data; the corpus
    metric is token-weighted, exp(total nll / total tokens), not the mean of per-sample values.
    Lower is better. Without a model that can score text, the value is None."""

    needs_model = True
    corpus_level = True
    higher_is_better = False
    value_range = (1.0, None)

    def __init__(self, name: str):
        super().__init__(name)

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [Score(name=self.name, value=None, detail=err)]
        if sample.reference is None:
            return [not_applicable(self.name, "sample has no reference")]
        model = ctx.model
        fn = getattr(model, "loglikelihood", None)
        if model is None or fn is None:
            return [Score(name=self.name, value=None, detail=NO_MODEL)]
        try:
            result = fn([(ctx.prompt_text, sample.reference)])
        except NotImplementedError as e:
            return [Score(name=self.name, value=None, detail=f"{NO_MODEL} ({e})" if str(e) else NO_MODEL)]
        if len(result) != 1:
            raise ValueError(f"loglikelihood returned {len(result)} results for 1 request")
        logprob, n_tokens = result[0]
        n = int(n_tokens)
        if n <= 0:
            return [Score(name=self.name, value=None, detail="reference has no tokens")]
        nll = -float(logprob)
        return [Score(name=self.name, value=_exp(nll / n), data={"nll": nll, "tokens": n})]

    def metrics(self, scores: Sequence[Score]) -> dict[str, float]:
        total_nll = 0.0
        total_tokens = 0
        for s in scores:
            if s.name != self.name or s.value is None or "tokens" not in s.data:
                continue
            total_nll += float(s.data["nll"])
            total_tokens += int(s.data["tokens"])
        if total_tokens == 0:
            return {}
        return {self.name: _exp(total_nll / total_tokens)}
