"""The records of a hygiene check: what counts as a problem (`HygieneConfig`, every field a
`tunebench data check` option), one `Finding` per problem, the rows a clean file drops, and the
`HygieneReport` stored as a record of kind "hygiene"."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ..types import Sample

Kind = Literal["schema", "duplicate", "near_duplicate", "short_output", "invalid_json", "contamination"]
KINDS: tuple[Kind, ...] = get_args(Kind)
REPORT_SCHEMA_VERSION = 1


class HygieneConfig(BaseModel):
    """What counts as a problem. Every field is a `tunebench data check` option of the same name."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    near_dup_threshold: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="flag a row whose Jaccard similarity (word shingles) with an earlier kept row is at least this",
    )
    shingle_n: int = Field(3, ge=1, description="words per shingle for near-duplicate detection")
    min_output_tokens: int = Field(
        2,
        ge=0,
        description="flag assistant outputs with fewer whitespace tokens than this (0 turns the check off)",
    )
    contamination_n: int = Field(
        8,
        ge=1,
        description="n-gram size (words, lowercased, punctuation stripped) for overlap with eval items",
    )
    contamination_min_overlap: int = Field(
        1,
        ge=1,
        description="a train row must share at least this many n-grams with an eval item to be flagged",
    )
    contamination_min_coverage: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="...and those shared n-grams must cover at least this fraction of the eval item's n-grams "
        "(0: any shared n-gram flags the row). Identical normalized texts are always flagged",
    )
    mask_numbers: bool = Field(
        True,
        description="compare with eval items after replacing every number (digits, dates, number words) "
        "by one placeholder, so a copy that differs only in an age or a date is still a copy",
    )
    contamination_short_words: int = Field(
        60,
        ge=0,
        description="eval items with fewer words than this are also compared word by word with each row "
        "(their n-grams are too few to judge a near-copy by; 0 turns the short-item rule off)",
    )
    contamination_short_similarity: float = Field(
        0.85,
        gt=0.0,
        le=1.0,
        description="...and a row is flagged when its word-sequence similarity with such an item "
        "(2 x words matched in order / words in both) is at least this",
    )
    dev_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="carve this fraction of the valid rows out as a seeded dev split before any check "
        "(written next to the clean file; never looked at by the checks)",
    )
    seed: int = Field(0, description="seed for the dev split")
    check_json: bool | None = Field(
        None,
        description="require each assistant output to be a JSON object (None: when any suite expects JSON)",
    )
    remove: tuple[Kind, ...] = Field(
        KINDS,
        description="finding kinds whose rows are removed from the clean file; schema rows are always removed "
        "(they cannot be written)",
    )


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: int | None = Field(description="1-based line in the file (CSV: row number + 1)")
    sample_id: str | None = None
    kind: Kind
    detail: str
    data: dict[str, Any] = Field(
        default_factory=dict, description="machine-readable specifics (other line, eval item, ...)"
    )


class RemovedRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: int | None
    sample_id: str | None
    kinds: list[Kind]
    reasons: list[str]


class SuiteChecked(BaseModel):
    model_config = ConfigDict(frozen=True)
    ref: str = Field(description="name@version+hash")
    name: str
    version: str
    content_hash: str
    splits: dict[str, int] = Field(description="eval splits compared against, with their item counts")


class HoldoutInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    fraction: float
    seed: int
    n: int
    lines: list[int]
    ids: list[str]


class HygieneReport(BaseModel):
    schema_version: int = REPORT_SCHEMA_VERSION
    file: str
    data_hash: str = Field(description="sha256 of the file's bytes")
    n_rows: int = Field(description="rows read, including rows with schema errors")
    n_holdout: int = 0
    n_checked: int = Field(0, description="rows the checks looked at (n_rows minus the held-out rows)")
    n_kept: int = Field(0, description="rows a clean file keeps (n_checked minus removed rows)")
    n_removed: int = 0
    counts: dict[str, int] = Field(default_factory=dict, description="findings per kind (every kind listed)")
    findings: list[Finding] = Field(default_factory=list)
    removed: list[RemovedRow] = Field(default_factory=list)
    config: HygieneConfig
    suites: list[SuiteChecked] = Field(default_factory=list)
    contamination_checked: bool = False
    json_checked: bool = False
    holdout: HoldoutInfo | None = None
    created_at: str = ""
    elapsed_s: float = 0.0
    _samples: dict[int, Sample] = PrivateAttr(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def samples(self) -> dict[int, Sample]:
        """Every parsed row by line (held-out rows included); empty on a report loaded from JSON."""
        return self._samples
