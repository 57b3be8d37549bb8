"""The rows of the paper's ablation table (Table 1): one name per (pretraining dataset, k, w) policy.

Configs, result directories, the report and the paper's reference numbers all key on `Row.name`, so the naming
rule lives here once: `movie_k1` (baseline, w unused), `movie_k16_Mn` (window = whole title), `tv_k8_w128`.
Beside the paper's rows there is one control, `movie_k16_Mn_masked`: the batches of k = 16 / Mn with the
same-title negatives removed from the softmax, which shows whether k > 1 helps *because* of those negatives.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources

DATASETS = ("movie", "tv")
WHOLE_TITLE = "Mn"
UNUSED_W = "–"
REFERENCE_COLUMNS = ("hmdb51", "esc50_mean", "esc50_stderr", "ucf101")

MASKED = "_masked"
RANDOM_INIT = "random_init"
"""The baseline without pretraining: not a sampling policy, so not a Row; the probe and the report name it so."""

_NAME = re.compile(r"(?P<dataset>[a-z]+)_k(?P<k>[0-9]+)(?:_(?P<w>Mn|w[0-9]+))?(?P<masked>_masked)?")


@dataclass(frozen=True)
class Row:
    """One sampling policy: k clips per title inside a window of w slots (w None = the whole title, M_n).

    For k = 1 the window is meaningless, so w must be None and the table shows "–".
    """

    dataset: str
    k: int
    w: int | None
    masked: bool = False
    """Same-title negatives removed from the softmax (the control row); only meaningful for k > 1."""

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"Row dataset must be one of {DATASETS}, got {self.dataset!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"Row k must be an integer >= 1, got {self.k!r}")
        if self.masked and self.k == 1:
            raise ValueError("a masked row needs k > 1: with k = 1 no negative shares the anchor's title")
        if self.w is None:
            return
        if isinstance(self.w, bool) or not isinstance(self.w, int):
            raise ValueError(f"Row w must be an integer number of slots or None (= Mn), got {self.w!r}")
        if self.k == 1:
            raise ValueError(f"w is unused when k = 1: use Row({self.dataset!r}, 1, None), not w={self.w}")
        if self.w < self.k:
            raise ValueError(
                f"Row w={self.w} is smaller than k={self.k}: a window must hold k distinct slots"
            )

    @property
    def name(self) -> str:
        if self.k == 1:
            return f"{self.dataset}_k1"
        suffix = WHOLE_TITLE if self.w is None else f"w{self.w}"
        return f"{self.dataset}_k{self.k}_{suffix}" + (MASKED if self.masked else "")

    @property
    def w_label(self) -> str:
        """The w column as the paper prints it: "–" (k = 1), "Mn" or the window in slots."""
        if self.k == 1:
            return UNUSED_W
        return WHOLE_TITLE if self.w is None else str(self.w)

    @classmethod
    def parse(cls, name: str) -> Row:
        """Inverse of `.name`; rejects spellings that would not round-trip (e.g. `movie_k04_Mn`, `movie_k1_Mn`)."""
        match = _NAME.fullmatch(name)
        if match is None:
            raise ValueError(
                f"not a table row name: {name!r} (expected <movie|tv>_k<k>[_Mn|_w<w>], e.g. movie_k16_Mn)"
            )
        k = int(match["k"])
        w_text = match["w"]
        if k > 1 and w_text is None:
            raise ValueError(f"row name {name!r} has k={k} but no window: add _Mn or _w<slots>")
        w = None if w_text in (None, WHOLE_TITLE) else int(w_text[1:])
        if match["masked"] and k == 1:
            raise ValueError(f"row name {name!r}: a masked row needs k > 1")
        row = cls(match["dataset"], k, w, masked=bool(match["masked"]))
        if row.name != name:
            raise ValueError(f"row name {name!r} is not canonical: write it as {row.name!r}")
        return row

    @classmethod
    def from_columns(cls, dataset: str, k: int | str, w: str) -> Row:
        """Build a row from table cells: w is "" or "–" (k = 1), "Mn"/"M_n", or a number of slots."""
        k_int = int(k)
        w_text = w.strip()
        if w_text in ("", UNUSED_W, "-"):
            if k_int != 1:
                raise ValueError(f"row {dataset} k={k_int}: empty w is only allowed for k = 1")
            return cls(dataset, k_int, None)
        if w_text in (WHOLE_TITLE, "M_n"):
            return cls(dataset, k_int, None)
        return cls(dataset, k_int, int(w_text))


def _rows(dataset: str, pairs: tuple[tuple[int, int | None], ...]) -> tuple[Row, ...]:
    return tuple(Row(dataset, k, w) for k, w in pairs)


ROWS: tuple[Row, ...] = _rows(
    "movie",
    (
        (1, None),
        (4, None),
        (8, None),
        (16, None),
        (32, None),
        (64, None),
        (16, 64),
        (16, 128),
        (16, 256),
        (16, 512),
        (16, 1024),
        (16, 2048),
        (4, 4),
        (16, 16),
        (64, 64),
    ),
) + _rows("tv", ((1, None), (8, None), (16, None), (8, 64), (8, 128), (16, 256)))

EXTRA_ROWS: tuple[Row, ...] = (Row("movie", 16, None, masked=True),)
"""Rows beside the paper's: the report marks them as ours and has no reference numbers for them."""

ROWS_BY_NAME: dict[str, Row] = {row.name: row for row in (*ROWS, *EXTRA_ROWS)}


def display_order(name: str) -> tuple[int, str]:
    """Sort key of a row in the report's tables: random init first, then the paper's order, then unknown names."""
    order = list(ROWS_BY_NAME)
    return (-1, name) if name == RANDOM_INIT else (order.index(name) if name in order else len(order), name)


def load_reference() -> dict[str, dict[str, float]]:
    """The paper's Table 1 (top-1 %, ESC-50 as mean and standard error), keyed by row name.

    Read from the copy shipped inside the package so an installed tvssl never depends on the source tree.
    """
    text = resources.files("tvssl").joinpath("reference", "table1.csv").read_text(encoding="utf-8")
    reference: dict[str, dict[str, float]] = {}
    for line, record in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row = Row.from_columns(record["dataset"], record["k"], record["w"])
        try:
            reference[row.name] = {column: float(record[column]) for column in REFERENCE_COLUMNS}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"tvssl/reference/table1.csv line {line}: bad number ({error})") from error
    return reference
