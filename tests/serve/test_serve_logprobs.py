"""`tunebench serve` returns log-probabilities in OpenAI's shapes (chat: `choices[0].logprobs.content`
with `top_logprobs`; completions: `tokens` / `token_logprobs` / `top_logprobs` / `text_offset`),
parsed by the real `openai` client, validated as OpenAI validates them; and a judge reads its
verdicts from them over HTTP. Tiny random fp32 Llama on 127.0.0.1."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import openai
import pytest

from harness.judge.transport import EndpointJudge
from harness.models import parse_spec
from harness.models.choice_probs import choice_probabilities, generate_with_logprobs
from harness.models.hf import HFBackend
from harness.serve import running_server
from harness.types import GenerationConfig

MSGS: Any = [{"role": "user", "content": "The app crashes every time I open the settings page."}]


@pytest.fixture(autouse=True)
def _no_proxy_or_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TUNEBENCH_SERVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def backend(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> HFBackend:
    spec = parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("lp-ws"), dtype="float32")
    return HFBackend(spec, batch_size=8, device="cpu")


@pytest.fixture(scope="module")
def server(backend: HFBackend) -> Any:
    with running_server(backend, model_name="tiny", lifetime_s=300) as handle:
        yield handle


def client_for(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=60)


def test_chat_logprobs_in_openai_shape(server: Any, backend: HFBackend) -> None:
    base_url, model = server
    client = client_for(base_url)
    plain = client.chat.completions.create(model=model, messages=MSGS, max_tokens=5, temperature=0)
    resp = client.chat.completions.create(
        model=model, messages=MSGS, max_tokens=5, temperature=0, logprobs=True, top_logprobs=5
    )
    choice = resp.choices[0]
    assert choice.message.content == plain.choices[0].message.content  # same greedy generation
    assert plain.choices[0].logprobs is None
    assert choice.logprobs is not None and choice.logprobs.content is not None
    content = choice.logprobs.content
    assert len(content) == resp.usage.completion_tokens  # type: ignore[union-attr]
    assert "".join(t.token for t in content) == choice.message.content
    for t in content:
        assert t.logprob <= 0 and t.bytes == list(t.token.encode("utf-8"))
        alts = t.top_logprobs
        assert len(alts) == 5 and [a.logprob for a in alts] == sorted((a.logprob for a in alts), reverse=True)
        assert alts[0].token == t.token and alts[0].logprob == pytest.approx(t.logprob)  # greedy
        assert sum(math.exp(a.logprob) for a in alts) <= 1.0 + 1e-6
    assert resp.system_fingerprint and resp.system_fingerprint.startswith("tb-")
    assert resp.system_fingerprint == plain.system_fingerprint
    only = client.chat.completions.create(
        model=model, messages=MSGS, max_tokens=2, temperature=0, logprobs=True
    )
    assert only.choices[0].logprobs is not None
    assert [t.top_logprobs for t in only.choices[0].logprobs.content or []] == [[], []]


def test_first_token_logprobs_equal_the_in_process_distribution(server: Any, backend: HFBackend) -> None:
    base_url, model = server
    resp = client_for(base_url).chat.completions.create(
        model=model, messages=MSGS, max_tokens=1, temperature=0, logprobs=True, top_logprobs=20
    )
    served = [(a.token, a.logprob) for a in resp.choices[0].logprobs.content[0].top_logprobs]  # type: ignore[index, union-attr]
    (local,) = choice_probabilities(backend, [backend.render(MSGS)], ["1", "2", "tie"], top_k=20)
    assert [t for t, _ in served] == [t for t, _ in local.top]
    assert [lp for _, lp in served] == pytest.approx([lp for _, lp in local.top], abs=1e-4)


def test_completions_logprobs_in_openai_shape(server: Any, backend: HFBackend) -> None:
    base_url, model = server
    resp = client_for(base_url).completions.create(
        model=model,
        prompt=["Paris is the capital of", "refund please"],
        max_tokens=4,
        temperature=0,
        logprobs=2,
    )
    for choice in resp.choices:
        lp = choice.logprobs
        assert lp is not None and lp.tokens is not None and lp.token_logprobs is not None
        assert "".join(lp.tokens) == choice.text
        assert (
            len(lp.tokens)
            == len(lp.token_logprobs)
            == len(lp.top_logprobs or [])
            == len(lp.text_offset or [])
        )
        assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
        for tok, value, alts in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs or [], strict=True):
            assert len(alts) == 2 and alts[tok] == pytest.approx(value) and value == max(alts.values())
    direct = generate_with_logprobs(
        backend, ["Paris is the capital of"], GenerationConfig(max_new_tokens=4, temperature=0.0), 2
    )
    assert direct[0].text == resp.choices[0].text


def test_logprob_parameters_are_validated_like_openai(server: Any) -> None:
    base_url, model = server
    client = client_for(base_url)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"top_logprobs": 3}, "logprobs is true"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs=21 is out of range [0, 20]"),
        ({"logprobs": True, "top_logprobs": -1}, "out of range"),
        ({"logprobs": "yes"}, "logprobs must be a boolean"),
        ({"logprobs": True, "top_logprobs": 2.5}, "top_logprobs must be an integer"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(model=model, messages=MSGS, max_tokens=1, **kwargs)
        assert needle in exc.value.message, (kwargs, exc.value.message)
    with pytest.raises(openai.BadRequestError, match=r"logprobs=6 is out of range \[0, 5\]"):
        client.completions.create(model=model, prompt="x", max_tokens=1, logprobs=6)
    with pytest.raises(openai.BadRequestError, match="top_logprobs"):
        client.completions.create(model=model, prompt="x", max_tokens=1, extra_body={"top_logprobs": 2})


def test_endpoint_judge_reads_probabilities_from_serve(server: Any) -> None:
    base_url, model = server
    judge = EndpointJudge(
        parse_spec(f"openai:{model}@{base_url}"),
        concurrency=2,
        timeout_s=60,
        max_retries=0,
        backoff_base_s=0.01,
        backoff_max_s=0.1,
    )
    replies = judge.choose(
        [MSGS, MSGS], ["1", "2", "tie"], GenerationConfig(max_new_tokens=1, temperature=0.0)
    )
    assert judge.logprobs is True
    for r in replies:
        assert r.error is None and r.probs is not None and len(r.top) == 20
        assert r.fingerprint is not None and r.fingerprint.startswith("tb-")
        assert 0.0 <= sum(r.probs.values()) <= 1.0 + 1e-6
    assert replies[0].probs == replies[1].probs
