"""tunebench serve SPEC [--adapter NAME=PATH ...] [--host 127.0.0.1] [--port 8000]: an OpenAI-compatible
server for a local model, or for one base with several LoRA adapters served by name"""

from __future__ import annotations

import argparse

from ..errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a local model (adapter included) as an OpenAI-compatible HTTP endpoint",
        description=(
            "Serve a local model as an OpenAI-compatible endpoint (POST /v1/chat/completions, "
            "POST /v1/completions, GET /v1/models, GET /health), offline. Evaluate or judge through it "
            "with --model openai:NAME@http://HOST:PORT/v1. Requests with equal generation parameters that "
            "arrive together are generated as one batch. With --adapter NAME=PATH (repeatable) the base is "
            "loaded once and each adapter is served under its name, the base under its own (vLLM's "
            "--lora-modules convention); requests for different adapters share one batch. SIGTERM or "
            "Ctrl-C finishes in-flight requests and exits 0."
        ),
    )
    p.add_argument("spec", help="default | default+lora:ADAPTER | hf:PATH_OR_HUB_ID[+lora:ADAPTER]")
    p.add_argument(
        "--adapter",
        action="append",
        metavar="NAME=PATH",
        default=[],
        help="serve a LoRA adapter of SPEC (a bare base) under model name NAME; repeat for more",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--model-name", help="model id clients send (default: the spec string)")
    p.add_argument(
        "--batch-size", type=int, default=8, help="most prompts generated in one batch (default 8)"
    )
    p.add_argument(
        "--max-batch-wait-ms",
        type=float,
        default=20.0,
        help="how long a request waits for others to batch with (default 20)",
    )
    p.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"], help="weights dtype"
    )
    p.add_argument(
        "--quantization",
        choices=["nf4", "none"],
        default=None,
        help="load the base in 4-bit NF4 (default: what the adapter was trained on)",
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (default: $TUNEBENCH_SERVE_API_KEY; none = open)",
    )
    p.add_argument("--quiet", action="store_true", help="do not log one line per request to stderr")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..serve import serve
    from ..serve.adapters import parse_adapter_args

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: expected 0..65535")
    if args.batch_size < 1:
        raise InputError(f"--batch-size {args.batch_size}: expected at least 1")
    if args.max_batch_wait_ms < 0:
        raise InputError(f"--max-batch-wait-ms {args.max_batch_wait_ms}: expected 0 or more")
    adapters = parse_adapter_args(args.adapter)
    return serve(
        args.spec,
        args.host,
        args.port,
        model_name=args.model_name,
        batch_size=args.batch_size,
        max_batch_wait_ms=args.max_batch_wait_ms,
        api_key=args.api_key,
        workspace=args.workspace,
        dtype=args.dtype,
        quantization=args.quantization,
        log_requests=not args.quiet,
        adapters=adapters or None,
    )
