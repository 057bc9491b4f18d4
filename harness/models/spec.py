"""Model specs: `default`, `hf:PATH`, `hf:PATH+lora:ADAPTER`, `openai:MODEL@URL`, `mock:SCRIPT`.

Revisions: `hf:ORG/NAME#rev=REV` (a hub model at a branch, tag or commit; without it, main) is
pinned to the commit REV resolves to (harness/models/hub.py); `openai:MODEL@URL#rev=REV` names a
deployment of an endpoint model (any label the user chooses: a checkpoint, a date, a vLLM build),
so two revisions never share generation-cache entries. A URL fragment is never sent to a server,
which is why the revision rides there. Local folders are identified by their files' hash instead."""

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
    "'hf:PATH+lora:ADAPTER', 'hf:ORG/NAME#rev=REVISION', 'openai:MODEL@http://host:port/v1' "
    "(optionally ...#rev=REVISION), 'mock:echo' or 'mock:SCRIPT.yaml'"
)

REV_MARK = "#rev="

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


IDENTITY_SUFFIXES = WEIGHT_SUFFIXES + (".json", ".jinja", ".model", ".txt", ".tiktoken", ".py", ".spm")
"""What a model folder's identity covers besides weights: configs and tokenizer configs (.json, with
the chat_template key of tokenizer_config.json), chat templates (chat_template.jinja and
additional_chat_templates/), sentencepiece and tiktoken vocabularies (.model, .spm, .tiktoken),
BPE/WordPiece vocabularies and merges (vocab.txt, merges.txt) and remote code (.py). READMEs,
licences and images are not."""


def identity_files(root: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """The files a folder's digest covers, sorted: those with one of `suffixes` (None: every file),
    skipping hidden folders and files (.git, .cache: download bookkeeping, not the model)."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if suffixes is None or p.suffix in suffixes:
            out.append(p)
    return sorted(out)


def _hash_files(root: Path, suffixes: tuple[str, ...] | None = None) -> str:
    h = hashlib.sha256()
    for p in identity_files(root, suffixes):
        h.update(str(p.relative_to(root)).encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def weights_digest(path: str | Path) -> str:
    """sha256 over a model folder's weight files (or an adapter folder's files): the identity a run
    records for its base and adapter, and a training run for the adapter it wrote. A folder with
    weight files is hashed over those plus every config and tokenizer file and the chat template
    (IDENTITY_SUFFIXES), so a changed template or vocabulary is another model while a README is
    not; a folder without, over every file; a file over its bytes."""
    root = Path(path).resolve()
    if root.is_file():
        return hashlib.sha256(root.read_bytes()).hexdigest()
    has_weights = any(p.suffix in WEIGHT_SUFFIXES for p in identity_files(root))
    return _hash_files(root, IDENTITY_SUFFIXES if has_weights else None)


def weights_hash(path: str | Path, workspace: str | Path | None = None) -> str:
    """`weights_digest`, cached in the workspace by (path, size, mtime, ctime, inode) of every file
    in the folder, so a 500 MB base is hashed once and any change to any file is seen."""
    root = Path(path).resolve()
    if root.is_file():
        root_files = [root]
    else:
        root_files = sorted(p for p in root.rglob("*") if p.is_file())
    # every file's size, mtime, ctime and inode: an edit, a replacement (even one that restores the
    # mtime, as `cp -p` does) or a new file all miss the cache
    stats = [(p, p.stat()) for p in root_files]
    stamp = [(str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino) for p, st in stats]
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
        base, revision = _split_rev(raw, base)
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
            else:  # a hub id: pinned to the commit it resolves to now
                from .hub import resolve_hub_revision

                revision = resolve_hub_revision(base, revision)
            if revision is not None and base_hash is not None:
                raise InputError(
                    f"model spec {raw!r}: {REV_MARK}REV pins a hub model or an endpoint; a local folder "
                    "is identified by the hash of its files",
                    hint=SPEC_HELP,
                )
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
            revision=revision,
            raw=raw,
        )
    if backend == "openai":
        model, at, url = body.rpartition("@")
        url, revision = _split_rev(raw, url)
        if not at or not model or not url.startswith(("http://", "https://")):
            raise InputError(f"model spec {raw!r}: expected openai:MODEL@http(s)://HOST/v1", hint=SPEC_HELP)
        return ModelSpec(backend="openai", base=model, url=url, revision=revision, raw=raw)
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


def _split_rev(raw: str, part: str) -> tuple[str, str | None]:
    """`PART#rev=REV` -> (PART, REV); (PART, None) without a revision."""
    head, mark, rev = part.partition(REV_MARK)
    if not mark:
        return part, None
    if not rev or any(c.isspace() or c in "#+@" for c in rev):
        raise InputError(
            f"model spec {raw!r}: expected {REV_MARK}REVISION (a branch, tag, commit or deployment label)",
            hint=SPEC_HELP,
        )
    return head, rev


def _looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "/", "~"))
