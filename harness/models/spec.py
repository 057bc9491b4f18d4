"""Model specs: `default`, `hf:PATH`, `hf:PATH+lora:ADAPTER`, `openai:MODEL@URL`, `mock:SCRIPT`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import InputError
from ..types import ModelSpec
from ..workspace import workspace_dir

SPEC_HELP = (
    "model specs: 'default' (embedded Gemma 3 270M), 'default+lora:ADAPTER', 'hf:PATH_OR_HUB_ID', "
    "'hf:PATH+lora:ADAPTER', 'openai:MODEL@http://host:port/v1', 'mock:echo' or 'mock:SCRIPT.yaml'"
)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def _hash_files(root: Path, suffixes: tuple[str, ...] | None = None) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and (suffixes is None or p.suffix in suffixes))
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def weights_digest(path: str | Path) -> str:
    """sha256 over a model folder's weight files (or an adapter folder's files): the identity a run
    records for its base and adapter, and a training run for the adapter it wrote. A folder with
    weight files is hashed over those plus its .json, .jinja and .model files (config, tokenizer,
    chat template), so a README does not change it; a folder without, over every file; a file over
    its bytes."""
    root = Path(path).resolve()
    if root.is_file():
        return hashlib.sha256(root.read_bytes()).hexdigest()
    has_weights = any(p.suffix in WEIGHT_SUFFIXES for p in root.rglob("*") if p.is_file())
    return _hash_files(root, WEIGHT_SUFFIXES + (".json", ".jinja", ".model") if has_weights else None)


def weights_hash(path: str | Path, workspace: str | Path | None = None) -> str:
    """`weights_digest`, cached in the workspace by (path, sizes, mtimes) so a 500 MB base is
    hashed once."""
    root = Path(path).resolve()
    if root.is_file():
        root_files = [root]
    else:
        root_files = sorted(p for p in root.rglob("*") if p.is_file())
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root_files]
    cache_file = workspace_dir(workspace) / "hash-cache.json"
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    cache: dict[str, str] = {}
    if cache_file.exists():
        try:
            cache = json.loads(cache_file.read_text())
        except json.JSONDecodeError:
            cache = {}
    if key in cache:
        return cache[key]
    digest = weights_digest(root)
    cache[key] = digest
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:
        pass
    return digest


def read_adapter_meta(adapter: str | Path) -> dict:
    p = Path(adapter) / "tunebench_adapter.json"
    if p.exists():
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def parse_spec(
    text: str,
    *,
    workspace: str | Path | None = None,
    dtype: str = "auto",
    quantization: str | None = None,
    resolve: bool = True,
) -> ModelSpec:
    """Parse a model spec string. With `resolve`, local paths are checked and weights hashed
    (and the embedded default model converted on first use)."""
    raw = text.strip()
    if not raw:
        raise InputError("empty model spec", hint=SPEC_HELP)
    if raw == "default" or raw.startswith("default+"):
        base_part, _, rest = raw.partition("+")
        if resolve:
            from .embedded import ensure_default_model

            base = str(ensure_default_model(workspace))
        else:
            from .embedded import default_model_dir

            base = str(default_model_dir(workspace))
        raw_hf = f"hf:{base}" + (f"+{rest}" if rest else "")
        spec = parse_spec(
            raw_hf, workspace=workspace, dtype=dtype, quantization=quantization, resolve=resolve
        )
        return spec.model_copy(update={"raw": raw})
    backend, sep, body = raw.partition(":")
    if not sep or not body:
        raise InputError(f"model spec {raw!r}: expected BACKEND:..., e.g. hf:./my-model", hint=SPEC_HELP)
    if backend == "hf":
        base, _, adapter_part = body.partition("+")
        adapter = None
        if adapter_part:
            kind, _, adapter = adapter_part.partition(":")
            if kind != "lora" or not adapter:
                raise InputError(
                    f"model spec {raw!r}: expected '+lora:ADAPTER_PATH' after the base", hint=SPEC_HELP
                )
        base_hash = adapter_hash = None
        if resolve:
            bp = Path(base)
            if bp.exists():
                base_hash = weights_hash(bp, workspace)
                base = str(bp.resolve())
            elif base.startswith((".", "/", "~")) or os.sep in base and not _looks_like_hub_id(base):
                raise InputError(f"model spec {raw!r}: base model folder {base!r} does not exist")
            if adapter is not None:
                ap = Path(adapter)
                if not (ap / "adapter_config.json").exists():
                    raise InputError(
                        f"model spec {raw!r}: {adapter!r} is not a PEFT adapter folder (no adapter_config.json)"
                    )
                adapter_hash = weights_hash(ap, workspace)
                adapter = str(ap.resolve())
                if quantization is None:
                    quantization = read_adapter_meta(ap).get("quantization")
                    if quantization == "none":
                        quantization = None
        return ModelSpec(
            backend="hf",
            base=base,
            base_hash=base_hash,
            adapter=adapter,
            adapter_hash=adapter_hash,
            dtype=dtype,
            quantization=quantization,
            raw=raw,
        )
    if backend == "openai":
        model, at, url = body.rpartition("@")
        if not at or not model or not url.startswith(("http://", "https://")):
            raise InputError(f"model spec {raw!r}: expected openai:MODEL@http(s)://HOST/v1", hint=SPEC_HELP)
        return ModelSpec(backend="openai", base=model, url=url, raw=raw)
    if backend == "mock":
        base_hash = None
        if resolve and body != "echo":
            p = Path(body)
            if not p.exists():
                raise InputError(f"model spec {raw!r}: mock script {body!r} not found (or use mock:echo)")
            base_hash = hashlib.sha256(p.read_bytes()).hexdigest()
            body = str(p.resolve())
        return ModelSpec(backend="mock", base=body, base_hash=base_hash, raw=raw)
    from ..registry import Registry

    reg: Registry[int] = Registry("backend")
    for b in ("hf", "openai", "mock"):
        reg.add(b, 0)
    raise InputError(f"model spec {raw!r}: " + reg.unknown_message(backend), hint=SPEC_HELP)


def _looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "/", "~"))
