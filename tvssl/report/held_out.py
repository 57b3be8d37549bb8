"""What each pretrained encoder pair tells apart on its run's held-out titles: other titles' clips, or its own's.

Pretraining validates on a fixed set of clips from titles it never trains on (``val_titles`` x
``val_clips_per_title``). Its last validation logs, per direction, the share of queries whose best match of all
is from their own title ("title found": what negatives from other titles teach) and the share whose own clip
beats every other clip of their title ("clip in its title": what negatives from the same title teach,
``tvssl.evaluation.title_retrieval``). This is the mechanism the (k, w) policy is about, measured directly: a
model that separates titles but not the moments inside one has learnt what tells titles apart, not what
happens in them. Descriptive numbers beside the verdicts, judged by nothing.
"""

from __future__ import annotations

from tvssl.report.results import Results
from tvssl.rows import display_order


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _pair(values: dict[str, float], metric: str) -> str:
    return f"{_share(values.get(f'val/{metric}_v2a'))} / {_share(values.get(f'val/{metric}_a2v'))}"


def render_held_out_markdown(results: Results) -> str:
    """The section, one line per row whose pretraining logged the split; empty when none did."""
    lines = []
    for name in sorted(results.rows, key=display_order):
        row = results.rows[name]
        values = row.held_out
        if "val/title_found_v2a" not in values:
            continue
        lines.append(
            f"| {name}{row.twin_note} | {row.row.k} | {row.row.w_label} | {_pair(values, 'title_found')} | "
            f"{_pair(values, 'clip_in_title')} | {int(values.get('val/clips', 0))} |"
        )
    if not lines:
        return ""
    return (
        "## What the encoders tell apart: clips of the held-out titles (% video→audio / audio→video)\n\n"
        "Title found: the best match of all is a clip of the query's own title (what other titles' negatives "
        "teach). Clip in its title: the query's own clip beats every other clip of its title (what same-title "
        "negatives teach). A share of n clips has a standard error of up to 50 / sqrt(n) points, and clips of "
        "one title are not independent: read these as directions.\n\n"
        "| row | k | w | title found | clip in its title | clips |\n|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )
