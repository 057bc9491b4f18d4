"""tunebench data check TRAIN --against SUITE [SUITE...] [--write-clean OUT]

Exit codes: 0 clean (or cleaned with --write-clean), 1 problems found and no --write-clean (so CI
can fail on a dirty file), 2 usage errors (missing file, unknown suite)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import InputError
from ..hygiene import KINDS, HygieneConfig, check_dataset, store_report, write_clean


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text}")
    return v


def _unit(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return v


def _help(field: str) -> str:
    info = HygieneConfig.model_fields[field]
    return f"{info.description} (default {info.default})"


def add_parser(dsub: argparse._SubParsersAction) -> None:
    c = dsub.add_parser(
        "check",
        help="training-data hygiene: duplicates, near-duplicates, short/invalid outputs, eval contamination",
        description="Check a training file before training: schema errors, exact and near duplicates, short "
        "outputs, invalid JSON outputs and overlap with the eval splits of the given suites. Every finding "
        "names file:line. Exit 0 when clean (or cleaned with --write-clean), 1 when problems were found.",
    )
    c.add_argument("file", help="training file (JSONL, CSV or Parquet; chat or instruction/output rows)")
    c.add_argument(
        "--against",
        nargs="+",
        metavar="SUITE",
        default=[],
        help="suites whose dev/test items must not leak into training (name, folder or suite.yaml)",
    )
    c.add_argument(
        "--near-dup-threshold", metavar="T", type=_unit, default=None, help=_help("near_dup_threshold")
    )
    c.add_argument("--shingle-n", metavar="N", type=int, default=None, help=_help("shingle_n"))
    c.add_argument(
        "--min-output-tokens", metavar="N", type=int, default=None, help=_help("min_output_tokens")
    )
    c.add_argument("--contamination-n", metavar="N", type=int, default=None, help=_help("contamination_n"))
    c.add_argument(
        "--contamination-min-overlap",
        metavar="K",
        type=int,
        default=None,
        help=_help("contamination_min_overlap"),
    )
    c.add_argument(
        "--contamination-min-coverage",
        metavar="FRAC",
        type=_unit,
        default=None,
        help=_help("contamination_min_coverage"),
    )
    mask = c.add_mutually_exclusive_group()
    mask.add_argument(
        "--mask-numbers",
        dest="mask_numbers",
        action="store_true",
        default=None,
        help="mask numbers before comparing with eval items (the default)",
    )
    mask.add_argument(
        "--no-mask-numbers",
        dest="mask_numbers",
        action="store_false",
        default=None,
        help="compare numbers as words: a copy that differs only in an age or a date may be missed",
    )
    c.add_argument(
        "--contamination-short-words",
        metavar="N",
        type=int,
        default=None,
        help=_help("contamination_short_words"),
    )
    c.add_argument(
        "--contamination-short-similarity",
        metavar="S",
        type=_unit,
        default=None,
        help=_help("contamination_short_similarity"),
    )
    c.add_argument("--dev-fraction", metavar="FRAC", type=_fraction, default=None, help=_help("dev_fraction"))
    c.add_argument("--seed", metavar="SEED", type=int, default=None, help=_help("seed"))
    js = c.add_mutually_exclusive_group()
    js.add_argument(
        "--check-json",
        dest="check_json",
        action="store_true",
        default=None,
        help="require JSON-object outputs (default: when a suite expects JSON)",
    )
    js.add_argument(
        "--no-check-json", dest="check_json", action="store_false", default=None, help="skip the JSON check"
    )
    c.add_argument(
        "--remove",
        nargs="+",
        choices=KINDS,
        default=None,
        metavar="KIND",
        help=f"finding kinds whose rows --write-clean drops (default: all of {', '.join(KINDS)}; "
        "schema rows are always dropped)",
    )
    c.add_argument(
        "--write-clean",
        metavar="OUT",
        help="write the kept rows to OUT (.jsonl) plus "
        "OUT.removed.jsonl, OUT.report.json and, with --dev-fraction, OUT.dev.jsonl (OUT's stem)",
    )
    c.add_argument("--format", choices=["text", "json"], default="text", help="report format on stdout")
    c.add_argument("--no-store", action="store_true", help="do not save the report in the store")
    c.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> HygieneConfig:
    fields: dict[str, Any] = {}
    for name in HygieneConfig.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = tuple(value) if name == "remove" else value
    try:
        return HygieneConfig(**fields)
    except ValueError as e:  # pydantic.ValidationError
        raise InputError(f"invalid option: {e}") from None


def run(args: argparse.Namespace) -> int:
    from ..suite import load_suite

    cfg = config_from_args(args)
    if args.write_clean and not str(args.write_clean).endswith(".jsonl"):
        raise InputError(f"--write-clean {args.write_clean}: the clean file must be a .jsonl file")
    suites = [load_suite(name) for name in args.against]  # InputError (exit 2) on an unknown suite
    if not suites:
        print(
            "note: no --against suite given, so contamination with eval data is not checked", file=sys.stderr
        )
    report = check_dataset(args.file, suites, cfg, progress=True)

    rec_id = None
    if not args.no_store:
        from .common import open_store

        rec_id = store_report(open_store(args), report)
    written = write_clean(report, report.samples, args.write_clean) if args.write_clean else {}

    if args.format == "json":
        body = report.model_dump(mode="json")
        body["record_id"] = rec_id
        body["written"] = {k: str(v) for k, v in written.items()}
        print(json.dumps(body, ensure_ascii=False, indent=1))
    else:
        from reports.console.hygiene import render_hygiene

        print(render_hygiene(report))
        if rec_id:
            print(f"report stored as {rec_id} (hygiene record, ref sha256:{report.data_hash[:12]})")
        for what, path in written.items():
            print(f"wrote {what}: {path}")
    if report.clean or args.write_clean:
        return 0
    if args.format == "text":
        print("hint: pass --write-clean OUT.jsonl to write a cleaned copy", file=sys.stderr)
    return 1
