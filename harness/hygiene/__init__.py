"""Training-data hygiene, checked before any training run.

`check_dataset(path, against, config)` (`checks`) reads a training file row by row and reports, per row
(`file:line`), what would make a fine-tune misleading or wasteful:

- `schema`: the row is not a valid chat / instruction row (or repeats an earlier row's id);
- `duplicate`: same input and output as an earlier row (after lowercasing, stripping punctuation
  and collapsing whitespace); the later copy is flagged;
- `near_duplicate`: Jaccard similarity of word shingles with an earlier kept row is at least
  `near_dup_threshold`; the later row of the pair is flagged;
- `short_output`: the assistant output has fewer than `min_output_tokens` whitespace tokens;
- `invalid_json`: the suite expects JSON and the whole assistant output is not one JSON object;
- `contamination`: the row's user text reproduces an evaluation item (every non-train split of
  every `--against` suite): its normalized text is identical (or identical but for its numbers),
  or it shares word n-grams with the item covering at least `contamination_min_coverage` of the
  item's n-grams, or the item is short (under `contamination_short_words` words) and the row's
  word-sequence similarity with it is at least `contamination_short_similarity`.

Why coverage rather than "any shared n-gram": evaluation sets built from templates (the built-in
ticket-triage suite is one) share stock phrases ("not a showstopper, but I'd like an answer
soonish") with their training split by design. On ticket-triage, "any shared 8-gram" flags 378 of
the 400 training rows; requiring the train row to reproduce most of an item (70% of its 8-grams,
the criterion the PaLM paper used for its contamination analysis) flags only real near-copies.
Set `contamination_min_coverage=0` for the strict "any shared n-gram" rule.

Why numbers are masked (`mask_numbers`) and short items get a rule of their own: a copied clinical
dictation that differs only in the patient's age loses every n-gram that spans the age, 8 of them
for each changed number; on a 40-word item one or two numbers push the coverage under 70%, and an
item under 8 words has no 8-gram at all. With every number (digits, dates, "sixty-four") replaced by
one placeholder, such copies are identical again; a short item that also differs in a word is
caught by comparing whole word sequences (difflib's ratio, 0.95 for one word changed in 20). The
built-in ticket-triage train split, whose templated items share stock phrases with its test split,
peaks at 0.75 against its eval items, under the 0.85 default.

Texts compared: near-duplicates and contamination use the user turns (plus the assistant output
for near-duplicates); system turns are left out because a shared system prompt would make every
row look alike. Exact duplicates compare every turn.

An optional seeded dev split (`dev_fraction`) is carved out of the file before any of this, so
no cleaning decision ever looks at the held-out rows.

Modules: `records` (the config and report records), `similarity` (text normalization,
near-duplicates, the eval n-gram index), `checks` (`check_dataset`), `clean` (`write_clean`, the
removed-rows list and the stored record). The text report lives in `reports.console.hygiene`.
"""

from .checks import check_dataset
from .clean import output_paths, store_report, write_clean
from .records import (
    KINDS,
    REPORT_SCHEMA_VERSION,
    Finding,
    HoldoutInfo,
    HygieneConfig,
    HygieneReport,
    Kind,
    RemovedRow,
    SuiteChecked,
)
from .similarity import (
    NearDupIndex,
    bag,
    build_eval_index,
    jaccard,
    mask_numbers,
    masked_words,
    near_duplicate_pairs,
    ngrams,
    sequence_similarity,
    shingles,
    user_text,
    words,
)

__all__ = [
    "KINDS",
    "REPORT_SCHEMA_VERSION",
    "Finding",
    "HoldoutInfo",
    "HygieneConfig",
    "HygieneReport",
    "Kind",
    "NearDupIndex",
    "RemovedRow",
    "SuiteChecked",
    "bag",
    "build_eval_index",
    "check_dataset",
    "jaccard",
    "mask_numbers",
    "masked_words",
    "near_duplicate_pairs",
    "ngrams",
    "output_paths",
    "sequence_similarity",
    "shingles",
    "store_report",
    "user_text",
    "words",
    "write_clean",
]
