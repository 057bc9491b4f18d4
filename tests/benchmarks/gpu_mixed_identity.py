"""Where does a mixed-adapter batch part from separate loads? A diagnostic for CUDA, where the
multi-adapter bench's greedy outputs of mixed batches were not all identical to separate loads'
(40/48 on the H200, tests/benchmarks/README.md "Third lease"; 48/48 on the project's CPUs).

Three random adapters (as bench_multi_adapter.py makes them), the first `--batch-size` ticket-triage
test prompts in the hf backend's batch order. Three parts:

1. End to end: greedy outputs of `HFBackend(adapter a)` at batch `--batch-size` vs the same backend at
   three times that batch (the same prompts three times over: pure batch-size variance, no routing),
   and `MultiAdapterHF.generate_mixed` vs the three separate loads.
2. Trace: each separate load decodes its rows for `--steps` steps in tunebench's loop layout
   (one prompt pass, in-place KV buffer, one token a step), recording every module's output (and
   the attention output, o_proj's input) at every pass. The mixed batch then runs the same rows for
   all adapters (each adapter's prompt pass alone, as prefill_by_adapter does, then decode steps of
   all rows), fed the separate loads' tokens (teacher forcing, so both sides see the same inputs
   whatever they would pick), and each module's output rows are compared bit for bit with the
   separate load's. Prints the first module that differs and how many differ per step.
3. The same trace with `torch.nn.attention.sdpa_kernel` pinned to each available backend on both
   sides, to tell whether the attention kernel's choice by batch size is the cause.

    python tests/benchmarks/gpu_mixed_identity.py --n 16 --batch-size 8 --steps 64
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def module_hooks(
    model: Any,
    store: dict[str, Any],
    rows: slice | None,
    compare: dict[str, Any] | None,
    log: list,
    k: int = 0,
    state: dict[str, int] | None = None,
) -> tuple[dict[str, int], list[Any]]:
    """Forward hooks recording (or comparing with `compare`) each module's output at each pass, keys
    'pass/name'. Comparing (the mixed batch): decode passes compare rows `rows`; the prompt pass runs
    once per adapter (prefill_by_adapter), and the k-th call of a module there is adapter k's, whole.
    `log` gets (pass, name, max abs diff) for every mismatch; `state` holds the pass counter (shared
    by hooks that must count together)."""
    import torch

    state = {"pass": 0} if state is None else state
    calls: dict[str, int] = {}
    handles = []

    def take(name: str, t: Any) -> None:
        if isinstance(t, tuple):
            t = t[0]
        if not torch.is_tensor(t) or t.dim() < 2:
            return
        part = t
        if rows is not None and compare is not None:
            if state["pass"] == 0:
                c = calls.get(name, 0)
                calls[name] = c + 1
                if c != k:
                    return
            else:
                part = t[rows]
        key = f"{state['pass']}/{name}"
        if compare is None:
            store[key] = part.detach().clone()
            return
        ref = compare.get(key)
        if ref is None or ref.shape != part.shape:
            log.append((state["pass"], name, "shape"))
        elif not torch.equal(ref, part):
            log.append((state["pass"], name, float((ref.float() - part.float()).abs().max())))

    for name, m in model.named_modules():
        short = name.replace("base_model.model.", "")
        if not short or "lora_" in short or "dropout" in short or short.endswith("rotary_emb"):
            continue
        handles.append(m.register_forward_hook(lambda _m, _a, out, n=short: take(n, out)))
        if short.endswith("o_proj"):
            handles.append(m.register_forward_pre_hook(lambda _m, a, n=short + ":input": take(n, a[0])))
    return state, handles


def trace(
    net: Any,
    model: Any,
    ids: Any,
    attn: Any,
    names: list[str] | None,
    forced: Any,
    steps: int,
    device: str,
    hook_state: dict,
) -> Any:
    """Tunebench's decode layout: prompt pass (per adapter when `names`), in-place KV buffer, one
    token a step fed from `forced` (rows, steps; None: the picks themselves); returns the greedy picks,
    (rows, steps + 1): the prompt pass's, then each step's."""
    import torch
    from transformers import DynamicCache

    from harness.models.hf_fast import cache_kwarg, greedy_pick, prefill_by_adapter
    from harness.models.kv_buffer import buffer_cache
    from harness.models.routing import route_adapters

    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    picks = torch.empty((ids.shape[0], steps + 1), dtype=torch.long)
    with torch.inference_mode():
        if names is None:
            out = net(
                input_ids=ids.to(device),
                attention_mask=attn.to(device),
                position_ids=pos.to(device),
                use_cache=True,
                logits_to_keep=1,
                **{cache_kwarg(): cache},
            )
            picks[:, 0] = greedy_pick(out.logits[:, -1]).cpu()
        else:
            first, cache = prefill_by_adapter(model, ids, attn.to(device), pos, cache, names, device)
            picks[:, 0] = first
        hook_state["pass"] += 1
        buffer_cache(cache, steps + 8)
        attn = attn.to(device)
        last = pos[:, -1].clone()
        for s in range(steps):
            tok = forced[:, s : s + 1] if forced is not None else picks[:, s : s + 1]
            attn = torch.cat([attn, torch.ones((ids.shape[0], 1), dtype=attn.dtype, device=device)], dim=-1)
            last += 1
            with route_adapters(model, names) if names is not None else contextlib.nullcontext():
                out = net(
                    input_ids=tok.to(device),
                    attention_mask=attn,
                    position_ids=last.unsqueeze(1).to(device),
                    use_cache=True,
                    **{cache_kwarg(): cache},
                )
            picks[:, s + 1] = greedy_pick(out.logits[:, -1]).cpu()
            hook_state["pass"] += 1
    return picks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="ticket-triage test prompts per adapter (end to end)")
    ap.add_argument("--batch-size", type=int, default=8, help="rows per adapter (separate loads' batch)")
    ap.add_argument("--steps", type=int, default=64, help="decode steps traced")
    ap.add_argument("--no-e2e", action="store_true", help="skip part 1")
    ap.add_argument("--backends", default="all", help="sdpa backends to pin in part 3: all | none | MATH,...")
    args = ap.parse_args()
    from harness.allocator import tune_malloc

    tune_malloc()
    import torch
    from bench_multi_adapter import adapters_and_prompts, mixed_outputs

    from harness import parse_spec
    from harness.models.hf import HFBackend
    from harness.models.hf_fast import batch_layout, generation_module
    from harness.models.multi import MultiAdapterHF

    torch.manual_seed(0)
    t0 = time.perf_counter()
    _, ws, base, adapters, suite, prompts = adapters_and_prompts(args.n, "mixed-id-")
    cfg = suite.generation
    b = args.batch_size
    seps = {
        name: HFBackend(parse_spec(f"default+lora:{p}", workspace=ws), batch_size=b)
        for name, p in adapters.items()
    }
    multi = MultiAdapterHF(base, adapters, batch_size=b, mixed_batch_size=b * len(adapters), workspace=ws)
    hf = multi.hf
    device = hf.device
    print(f"device {device} torch {torch.__version__}; loads {time.perf_counter() - t0:.1f}s", flush=True)

    if not args.no_e2e:
        a = next(iter(seps.values()))
        ref = [c.text for c in a.generate(prompts, cfg)]
        a.batch_size = 3 * b
        big = [c.text for c in a.generate(prompts * 3, cfg)]
        a.batch_size = b
        same = [
            sum(x == y for x, y in zip(ref, big[k * len(ref) : (k + 1) * len(ref)], strict=True))
            for k in range(3)
        ]
        print(
            f"[e2e] adapter a alone, batch {b} vs batch {3 * b} (prompts x3): identical {same} of {len(ref)}",
            flush=True,
        )
        seprefs = {name: [c.text for c in be.generate(prompts, cfg)] for name, be in seps.items()}
        mixed, _ = mixed_outputs(multi, prompts, cfg, b)
        per = {
            name: sum(x == y for x, y in zip(mixed[name], seprefs[name], strict=True)) for name in adapters
        }
        bad = {
            name: [i for i in range(len(prompts)) if mixed[name][i] != seprefs[name][i]] for name in adapters
        }
        print(
            f"[e2e] mixed vs separate loads: identical {per} of {len(prompts)} each; differing prompts {bad}",
            flush=True,
        )

    # trace: the first batch of the backend's order
    keys = [hf.batch_key(p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: keys[i])[:b]
    rows = [hf._encode(hf.render(prompts[i])) for i in order]
    ids, attn, _ = batch_layout(rows, 0, hf.tokenizer.pad_token_id)
    names = list(adapters)
    kernels: list[Any] = [None]
    if args.backends != "none":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        wanted = (
            [x.strip().upper() for x in args.backends.split(",")]
            if args.backends != "all"
            else ["MATH", "EFFICIENT_ATTENTION", "FLASH_ATTENTION", "CUDNN_ATTENTION"]
        )
        kernels += [getattr(SDPBackend, w) for w in wanted if hasattr(SDPBackend, w)]
    for kern in kernels:
        label = "default sdpa" if kern is None else f"sdpa {kern.name}"
        ctx = contextlib.nullcontext if kern is None else (lambda k=kern: sdpa_kernel([k]))
        t1 = time.perf_counter()
        live: list[Any] = []  # every hook handle of this variant, removed whatever happens
        try:
            stores: dict[str, dict[str, Any]] = {}
            forced: dict[str, Any] = {}
            for name, be in seps.items():
                stores[name] = {}
                st, hs = module_hooks(be.model, stores[name], None, None, [])
                live += hs
                with ctx():
                    forced[name] = trace(
                        generation_module(be.model), be.model, ids, attn, None, None, args.steps, device, st
                    )
            big_ids, big_attn = ids.repeat(len(names), 1), attn.repeat(len(names), 1)
            tags = [n for n in names for _ in range(b)]
            forced_all = torch.cat([forced[n][:, :-1] for n in names])  # what each step fed
            logs: dict[str, list] = {}
            shared = {"pass": 0}  # one pass counter for the three adapters' hooks
            for k, name in enumerate(names):
                logs[name] = []
                _, hs = module_hooks(
                    hf.model, {}, slice(k * b, (k + 1) * b), stores[name], logs[name], k, shared
                )
                live += hs
            with ctx():
                got = trace(
                    generation_module(hf.model),
                    hf.model,
                    big_ids,
                    big_attn,
                    tags,
                    forced_all,
                    args.steps,
                    device,
                    shared,
                )
        except RuntimeError as e:
            print(f"[trace, {label}] not available: {str(e).splitlines()[0][:160]}", flush=True)
            continue
        finally:
            for h in live:
                h.remove()
        pick_same = [
            int((got[k * b : (k + 1) * b] == forced[n]).all(dim=1).sum()) for k, n in enumerate(names)
        ]
        print(
            f"[trace, {label}] {args.steps} steps, {time.perf_counter() - t1:.1f}s; greedy picks equal on all steps for rows: {pick_same} of {b}",
            flush=True,
        )
        for name in names:
            log = logs[name]
            if not log:
                print(f"  adapter {name}: every module output equal at every pass", flush=True)
                continue
            first = log[0]
            per_pass: dict[int, int] = {}
            for p, _, _ in log:
                per_pass[p] = per_pass.get(p, 0) + 1
            kinds: dict[str, int] = {}
            for p, n, _ in log:
                if p == first[0]:
                    kind = n.split(".")[-1]
                    kinds[kind] = kinds.get(kind, 0) + 1
            head = [f"{n} ({d})" for p, n, d in log if p == first[0]][:6]
            print(
                f"  adapter {name}: first difference at pass {first[0]} (0 = prompt pass) in {first[1]} (max |diff| {first[2]}); "
                f"that pass's first differing modules: {head}; by kind {kinds}; differing modules per pass (first 8): "
                f"{dict(list(per_pass.items())[:8])}",
                flush=True,
            )


if __name__ == "__main__":
    main()
