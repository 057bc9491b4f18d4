"""An OpenAI-compatible HTTP server for a local model (adapter included), so that evaluation and
judging run fully offline through the same `openai` client path as a remote endpoint.

    with running_server("hf:./my-model+lora:./adapter") as (base_url, model):
        client = openai.OpenAI(base_url=base_url, api_key="EMPTY")
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])

Endpoints: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models[/ID]`, `GET /health`.
Errors are OpenAI-style JSON (`{"error": {"message", "type", "param", "code"}}`) with the matching
status code, so the `openai` client raises its usual exceptions (BadRequestError, NotFoundError, ...).

Micro-batching: one worker thread owns the model. Request threads enqueue their prompts and wait
on a Future; the worker takes the oldest waiting request, then gathers the requests with the same
generation parameters that arrive within `max_batch_wait_ms` (up to `batch_size` prompts) and runs
them as one batch. Greedy outputs equal the unbatched backend's (left padding with attention masks);
sampled outputs (temperature > 0) are seeded per batch, so they depend on what they were batched with.

Stdlib `http.server` only; bind it to 127.0.0.1 unless you set an API key.

Modules: `protocol` (OpenAI parameter validation, response shapes), `batcher` (micro-batching),
`http` (ModelServer and its request handler), `launcher` (load a backend, `running_server`, `serve`),
`adapters` (one base with several LoRA adapters served by model name, in mixed batches).
"""

from .adapters import AdapterRouter
from .batcher import BatchStats, MicroBatcher
from .http import API_KEY_ENV, ModelServer
from .launcher import ServerHandle, load_backend, running_server, serve
from .protocol import (
    DEFAULT_CHAT_MAX_TOKENS,
    DEFAULT_COMPLETION_MAX_TOKENS,
    APIError,
    generation_config,
)

__all__ = [
    "API_KEY_ENV",
    "AdapterRouter",
    "DEFAULT_CHAT_MAX_TOKENS",
    "DEFAULT_COMPLETION_MAX_TOKENS",
    "APIError",
    "BatchStats",
    "MicroBatcher",
    "ModelServer",
    "ServerHandle",
    "generation_config",
    "load_backend",
    "running_server",
    "serve",
]
