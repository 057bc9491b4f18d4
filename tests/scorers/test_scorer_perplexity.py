"""perplexity: per-sample reference perplexity and token-weighted corpus perplexity."""

from __future__ import annotations

import math

import pytest

from harness.scorers import ScoreContext
from harness.scorers.perplexity import NO_MODEL, PerplexityScorer
from harness.types import Completion


class FakeModel:
    def __init__(self, table):
        self.table = table
        self.calls = []

    def loglikelihood(self, requests):
        self.calls.append(list(requests))
        return [self.table[cont] for _ctx, cont in requests]


def test_fake_model_arithmetic(make_sample):
    model = FakeModel({"abc": (-6.0, 3), "de": (-1.0, 2)})
    scorer = PerplexityScorer("ppl")
    assert scorer.needs_model and scorer.corpus_level
    ctx = ScoreContext(prompt_text="<|user|>\nq<|end|>\n<|assistant|>\n", model=model)
    s1 = scorer.score(make_sample("abc"), Completion(text="ignored"), ctx)
    s2 = scorer.score(make_sample("de"), Completion(text="ignored"), ctx)
    assert model.calls[0] == [(ctx.prompt_text, "abc")]
    assert s1[0].name == "ppl"
    assert s1[0].value == pytest.approx(math.exp(2.0))
    assert s1[0].data == {"nll": 6.0, "tokens": 3}
    assert s2[0].value == pytest.approx(math.exp(0.5))
    # token-weighted, not the mean of per-sample perplexities
    assert scorer.metrics(s1 + s2) == {"ppl": pytest.approx(math.exp(7.0 / 5))}
    assert scorer.metrics([]) == {}


def test_without_a_model(make_sample):
    scorer = PerplexityScorer("ppl")
    s = scorer.score(make_sample("abc"), Completion(text="x"), ScoreContext())
    assert s[0].value is None and s[0].detail == NO_MODEL
    s = scorer.score(make_sample("abc"), Completion(text="x"), ScoreContext(model=object()))  # type: ignore[arg-type]
    assert s[0].value is None and s[0].detail == NO_MODEL
    assert scorer.metrics(s) == {}


def test_backend_that_cannot_score(make_sample):
    class NoLL:
        def loglikelihood(self, requests):
            raise NotImplementedError("openai backend has no logprobs for prompts")

    s = PerplexityScorer("ppl").score(make_sample("abc"), Completion(text="x"), ScoreContext(model=NoLL()))
    assert s[0].value is None
    assert s[0].detail == f"{NO_MODEL} (openai backend has no logprobs for prompts)"


def test_generation_error_and_missing_reference(make_sample):
    scorer = PerplexityScorer("ppl")
    ctx = ScoreContext(model=FakeModel({"abc": (-1.0, 1)}))
    s = scorer.score(make_sample("abc"), Completion(text="", error="boom"), ctx)
    assert s[0].value is None and s[0].detail == "generation error: boom"
    s = scorer.score(make_sample(None), Completion(text="x"), ctx)
    assert s[0].value is None and s[0].detail == "sample has no reference"


def test_zero_tokens(make_sample):
    s = PerplexityScorer("ppl").score(
        make_sample(""), Completion(text="x"), ScoreContext(model=FakeModel({"": (0.0, 0)}))
    )
    assert s[0].value is None and s[0].detail == "reference has no tokens"


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from harness.models.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    torch.set_num_threads(1)
    return tok, model


class TorchLoglikelihood:
    """A test-only loglikelihood over a transformers model: log-softmax, gather, sum."""

    def __init__(self, tok, model):
        self.tok, self.model = tok, model

    def loglikelihood(self, requests):
        import torch

        out = []
        for context, continuation in requests:
            ctx_ids = self.tok(context, add_special_tokens=True)["input_ids"]
            cont_ids = self.tok(continuation, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([ctx_ids + cont_ids])
            with torch.no_grad():
                logits = self.model(ids).logits[0]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            total = 0.0
            for i, t in enumerate(cont_ids):
                total += float(logprobs[len(ctx_ids) + i - 1, t])
            out.append((total, len(cont_ids)))
        return out


def test_real_tiny_model_matches_cross_entropy(tiny_lm, make_sample):
    import torch

    tok, model = tiny_lm
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What happened?"}], tokenize=False, add_generation_prompt=True
    )
    refs = ["The customer was charged twice.", '{"category": "billing", "priority": "high"}']
    scorer = PerplexityScorer("ref_ppl")
    ctx = ScoreContext(prompt_text=prompt, model=TorchLoglikelihood(tok, model))
    scores = [s for r in refs for s in scorer.score(make_sample(r), Completion(text=""), ctx)]

    # independent check: the model's own mean cross-entropy loss over the reference tokens
    losses, counts = [], []
    for r in refs:
        ctx_ids = tok(prompt, add_special_tokens=True)["input_ids"]
        cont_ids = tok(r, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([ctx_ids + cont_ids])
        labels = torch.tensor([[-100] * len(ctx_ids) + cont_ids])
        with torch.no_grad():
            loss = float(model(ids, labels=labels).loss)
        losses.append(loss)
        counts.append(len(cont_ids))
    for s, loss, n in zip(scores, losses, counts, strict=True):
        assert s.data["tokens"] == n
        assert s.value == pytest.approx(math.exp(loss), rel=1e-4)
        assert s.value is not None and s.value > 1.0
    corpus = math.exp(sum(loss * n for loss, n in zip(losses, counts, strict=True)) / sum(counts))
    assert scorer.metrics(scores)["ref_ppl"] == pytest.approx(corpus, rel=1e-4)
