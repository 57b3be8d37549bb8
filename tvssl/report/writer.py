"""`tvssl report`'s output folder: table1.md, table1.csv, figure1.png, probe.csv and, for TV, figure1_tv.png.

Only these derived files are touched; anything else in the folder is the user's and is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tvssl.errors import UserError
from tvssl.report.figure import figure1_panels, figure1_tv_panels, plot_loss_figure
from tvssl.report.held_out import render_held_out_markdown
from tvssl.report.orderings import TAIL_SHARE, ordering_lines
from tvssl.report.probes import (
    PROBE_CSV,
    collect_probes,
    finetune_records,
    render_probe_csv,
    render_probe_markdown,
    verdicts,
)
from tvssl.report.replicates import pool_replicates
from tvssl.report.results import collect_results
from tvssl.report.stats import build_table
from tvssl.report.table import render_csv, render_markdown
from tvssl.rows import load_reference
from tvssl.run_names import FINETUNE_RESULT, LOSS_LOG, PRETRAIN, split_run_name

TABLE_MD = "table1.md"
TABLE_CSV = "table1.csv"
FIGURE = "figure1.png"
FIGURE_TV = "figure1_tv.png"


@dataclass(frozen=True)
class Report:
    markdown: str
    """table1.md: Table 1 with every row of the paper, the probe table, the verdicts, Figure 1's orderings and
    what the encoders tell apart on their held-out titles."""
    console: str
    """The same, with Table 1 cut to the rows that have a result of ours: what ``tvssl report`` prints."""
    verdicts: list[str]
    written: list[Path]
    removed: list[Path]
    warnings: list[str]


def write_report(
    results_dir: Path, out_dir: Path, smooth: float = 0.9, replicates: Sequence[Path] = ()
) -> Report:
    """Write table1.md, table1.csv and figure1.png (plus figure1_tv.png when TV curves exist) into out_dir.

    A results tree with no result of any row is refused (UserError) and nothing is written: an all-missing
    table says nothing but "wrong folder". A stale figure1_tv.png (no TV curves any more) is removed.
    ``replicates``: further trees of the same sweep pretrained with other training seeds; the probe table,
    probe.csv and the verdicts pool them with ``results_dir`` (``pool_replicates``), while Table 1 and
    Figure 1 stay ``results_dir``'s.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smoothing factor must be in [0, 1), got {smooth}")
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results directory {results_dir} does not exist or is not a directory")
    results = collect_results(results_dir, ignore=[out_dir])
    probes, probe_warnings = collect_probes(results_dir)
    results.warnings.extend(probe_warnings)
    if replicates:
        trees = [probes]
        for tree in replicates:
            if not Path(tree).is_dir():
                raise UserError(f"replicate {tree} is not a directory: pass the results tree of another run")
            more, more_warnings = collect_probes(Path(tree))
            if not more:
                raise UserError(f"replicate {tree} holds no probe result (<row>/probe_<task>/probe.json)")
            trees.append(more)
            results.warnings.extend(more_warnings)
        probes = pool_replicates(trees)
    if not results.rows and not probes:
        example = f"movie_k16_Mn/{split_run_name('ucf101', 1)}/{FINETUNE_RESULT}"
        raise UserError(
            f"no results found under {results_dir} (expected <row>/{PRETRAIN}/{LOSS_LOG} or "
            f"<row>/<task>/{FINETUNE_RESULT}, e.g. {example}); nothing written"
        )
    reference = load_reference()
    table = build_table(results, reference)
    probes += finetune_records(table)
    claims = verdicts(probes)
    rest = ""
    notes = {name: found.twin_note for name, found in results.rows.items()}
    probe_md = render_probe_markdown(probes, reference, runs=1 + len(replicates), notes=notes)
    if probe_md:
        rest += "\n" + probe_md + "".join(f"\n- {claim}" for claim in claims) + ("\n" if claims else "")
    figure_claims = ordering_lines(results)
    if figure_claims:
        rest += (
            f"\n## Figure 1: training loss, mean of the last {TAIL_SHARE:.0%} of logged steps\n\n"
            + "".join(f"- {line}\n" for line in figure_claims)
        )
    held_out = render_held_out_markdown(results)
    if held_out:
        rest += "\n" + held_out
    markdown = render_markdown(table) + rest
    console = render_markdown(table, results_only=True) + rest
    out_dir.mkdir(parents=True, exist_ok=True)
    written, removed = [out_dir / TABLE_MD, out_dir / TABLE_CSV, out_dir / FIGURE], []
    written[0].write_text(markdown, encoding="utf-8")
    written[1].write_text(render_csv(table), encoding="utf-8")
    if probes:
        written.append(out_dir / PROBE_CSV)
        written[-1].write_text(render_probe_csv(probes), encoding="utf-8")
    plot_loss_figure(results, figure1_panels(), written[2], smooth, "Self-supervised training loss, Movie")
    tv_curves = any(r.row.dataset == "tv" and r.loss is not None for r in results.rows.values())
    tv_figure = out_dir / FIGURE_TV
    if tv_curves:
        plot_loss_figure(results, figure1_tv_panels(), tv_figure, smooth, "Self-supervised training loss, TV")
        written.append(tv_figure)
    elif tv_figure.is_file():
        tv_figure.unlink()
        removed.append(tv_figure)
    return Report(markdown, console, claims, written, removed, results.warnings)
