#!/usr/bin/env bash
# The CUDA checks of tunebench, one script for one short lease of a GPU machine
# (tests/benchmarks/README.md, "On a GPU"). Run from the repository root with every package
# tunebench needs importable (PYTHONPATH), the embedded model's wheels among them;
# tests/benchmarks/gpu_payload.sh builds them here and prints the device calls that carry them:
#
#   OUT=/tmp/out bash tests/benchmarks/gpu_check.sh [preflight] [convert] [demo] [multi] [gen]
#
# preflight  versions, imports, bitsandbytes' NF4 linear and paged 8-bit AdamW on CUDA
# convert    the embedded Gemma 3 270M converted from its GGUF wheels (timed)
# demo       the full `tunebench demo --quantization nf4`: QLoRA on a 4-bit NF4 base, paged 8-bit
#            AdamW, every stage on the GPU; its log, summary and stage table go to $OUT
# multi      bench_multi_adapter.py: 3 adapters in mixed batches vs 3 separate loads, on CUDA
# (DEMO_FLAGS replaces "--quantization nf4", e.g. "--quick" for a dry run on a CPU)
# gen        bench_generation.py: batched greedy generation, samples/s by batch size (GEN_BATCHES), on CUDA
# lookup     gpu_lookup.py (exact prompt lookup vs `generate` and the plain loop, timed, outputs
#            compared) and the slow embedded-Gemma test of tests/test_exact_verify.py, on CUDA
# mixedid    gpu_mixed_identity.py: where mixed-adapter batches part from separate loads (module by
#            module, per sdpa backend)
# serve      gpu_serve.py: `tunebench serve` of the base and three adapters to concurrent openai
#            clients, answers compared with separate loads
# Each part runs under its own hang guard; a failed part does not stop the next.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
PY=${PY:-python3}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTHONPATH="${SITE:+$SITE:}$PWD"
export TUNEBENCH_MODELS=${TUNEBENCH_MODELS:-/tmp/tb-models}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(preflight convert demo multi gen)
t_start=$(date +%s)
stamp() { echo "[gpu_check +$(($(date +%s) - t_start))s] $*"; }

for part in "${parts[@]}"; do
  stamp "begin $part"
  case $part in
    preflight)
      nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv 2>&1
      timeout 300 "$PY" tests/benchmarks/gpu_preflight.py
      ;;
    convert)
      TIMEFORMAT="convert: %R s wall"; time timeout 300 "$PY" -c \
        "from harness.models.embedded import ensure_default_model as e; print(e())"
      ;;
    demo)
      ws=/tmp/ws-demo-nf4
      [ -n "${DEMO_KEEP:-}" ] || rm -rf "$ws"
      TIMEFORMAT="demo: %R s wall"; time timeout ${DEMO_GUARD:-420} "$PY" -m harness.cli.main \
        --workspace "$ws" demo ${DEMO_FLAGS:---quantization nf4} --no-progress > "$OUT/demo-nf4.log" 2>&1
      echo "demo exit $?"
      grep -E "^(tunebench demo|== |trained |category_accuracy|  |demo finished)|verdict|PASS|FAIL|quantization|device" \
        "$OUT/demo-nf4.log" | cut -c1-220 | head -90
      cp "$ws"/demo/*/summary.json "$OUT/demo-nf4-summary.json" 2>/dev/null
      "$PY" tests/benchmarks/demo_stages.py "$ws/tunebench.db" > "$OUT/demo-nf4-stages.txt" 2>&1
      cat "$OUT/demo-nf4-stages.txt"
      "$PY" - "$ws/tunebench.db" <<'PYEOF'
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for (rec,) in con.execute("select body from records where kind = 'training'"):
    b = json.loads(rec)
    keep = ["quantization", "quantization_note", "device", "base_precision", "steps", "wall_time_s",
            "tokens_per_s", "peak_memory_mb", "first_loss", "final_loss", "eval_metric_curve", "early_stopped",
            "eot_prob", "trainable_params", "notes"]
    print("training record:", json.dumps({k: b.get(k) for k in keep if k in b}))
PYEOF
      ;;
    multi)
      timeout ${MULTI_GUARD:-300} "$PY" tests/benchmarks/bench_multi_adapter.py ${MULTI_ARGS:---n 48 --batch-size 16 --repeat 1} \
        > "$OUT/multi.log" 2>&1
      echo "multi exit $?"
      tail -n 30 "$OUT/multi.log"
      ;;
    gen)
      timeout ${GEN_GUARD:-200} "$PY" tests/benchmarks/bench_generation.py --n 32 --batch-sizes ${GEN_BATCHES:-1 16 32} \
        > "$OUT/gen.log" 2>&1
      echo "gen exit $?"
      tail -n 15 "$OUT/gen.log"
      ;;
    lookup)
      timeout ${LOOKUP_GUARD:-200} "$PY" tests/benchmarks/gpu_lookup.py --n 40 --repeat 2 > "$OUT/lookup.log" 2>&1
      echo "lookup exit $?"
      tail -n 12 "$OUT/lookup.log"
      timeout ${LOOKUP_GUARD:-200} "$PY" -m pytest -q -p no:cacheprovider --run-slow \
        "tests/test_exact_verify.py::test_embedded_gemma_exact_lookup_equals_generate_on_benchmark_items" 2>&1 | tail -n 15
      ;;
    mixedid)
      timeout ${MIXEDID_GUARD:-240} "$PY" tests/benchmarks/gpu_mixed_identity.py ${MIXEDID_ARGS:---n 16 --batch-size 8 --steps 64} \
        > "$OUT/mixedid.log" 2>&1
      echo "mixedid exit $?"
      grep -E "^(device|\[|  adapter)" "$OUT/mixedid.log" | cut -c1-900
      ;;
    serve)
      timeout ${SERVE_GUARD:-200} "$PY" tests/benchmarks/gpu_serve.py --n 16 --batch-size 32 > "$OUT/serve.log" 2>&1
      echo "serve exit $?"
      grep -v -i "warn" "$OUT/serve.log" | tail -n 8
      ;;
    *) echo "unknown part $part" ;;
  esac
  stamp "end $part"
done
