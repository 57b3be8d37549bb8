"""Figure 1 of the paper's supplement: training loss against iteration, one panel per comparison of rows.

Each curve is drawn twice, raw and faint, then smoothed by a debiased EMA; rows that have not run yet are named
in the legend, so a figure drawn from an unfinished sweep says what it lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tvssl.report.results import Results
from tvssl.rows import Row


def ema(values: np.ndarray, factor: float) -> np.ndarray:
    """Exponential moving average, debiased so the first points are not dragged towards zero."""
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"smoothing factor must be in [0, 1), got {factor}")
    out = np.empty(len(values), dtype=np.float64)
    accumulator = 0.0
    for i, value in enumerate(values):
        accumulator = factor * accumulator + (1.0 - factor) * float(value)
        out[i] = accumulator / (1.0 - factor ** (i + 1))
    return out


@dataclass(frozen=True)
class Curve:
    row: str
    label: str
    color: str
    linestyle: str = "-"


@dataclass(frozen=True)
class Panel:
    title: str
    curves: tuple[Curve, ...]


def _shades(n: int) -> list[str]:
    """Ordered colours for an ordered parameter (small k/w dark, large light), avoiding the palest yellows."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["viridis"]
    return [to_hex(cmap(0.9 * i / max(n - 1, 1))) for i in range(n)]


def figure1_panels() -> list[Panel]:
    """The supplement's Figure 1 (movie pretraining): (a) k at w = Mn, (b) w at k = 16, (c) w = k vs w = Mn."""
    ks = (1, 4, 8, 16, 32, 64)
    panel_a = tuple(
        Curve(Row("movie", k, None).name, "k=1 (baseline)" if k == 1 else f"k={k}", color)
        for k, color in zip(ks, _shades(len(ks)))
    )
    windows = (64, 128, 256, 512, 1024, 2048)
    panel_b = tuple(
        Curve(Row("movie", 16, w).name, f"w={w}", color) for w, color in zip(windows, _shades(len(windows)))
    ) + (Curve("movie_k16_Mn", "w=Mn", "#d62728"),)
    panel_c = tuple(
        curve
        for k, color in zip((4, 16, 64), ("#1f77b4", "#ff7f0e", "#2ca02c"))
        for curve in (
            Curve(Row("movie", k, None).name, f"k={k}, w=Mn", color, "-"),
            Curve(Row("movie", k, k).name, f"k={k}, w={k}", color, "--"),
        )
    )
    return [
        Panel("(a) sample size k (w = Mn)", panel_a),
        Panel("(b) window w (k = 16)", panel_b),
        Panel("(c) adjacent clips: w = k vs w = Mn", panel_c),
    ]


def figure1_tv_panels() -> list[Panel]:
    """Our addition: the TV rows of Table 1 drawn the same way."""
    ks = (1, 8, 16)
    panel_a = tuple(
        Curve(Row("tv", k, None).name, "k=1 (baseline)" if k == 1 else f"k={k}", color)
        for k, color in zip(ks, _shades(len(ks)))
    )
    panel_b = (
        Curve("tv_k8_w64", "k=8, w=64", "#1f77b4", "--"),
        Curve("tv_k8_w128", "k=8, w=128", "#1f77b4", ":"),
        Curve("tv_k8_Mn", "k=8, w=Mn", "#1f77b4", "-"),
        Curve("tv_k16_w256", "k=16, w=256", "#ff7f0e", "--"),
        Curve("tv_k16_Mn", "k=16, w=Mn", "#ff7f0e", "-"),
    )
    return [Panel("(a) sample size k (w = Mn)", panel_a), Panel("(b) window w (k = 8 and 16)", panel_b)]


def plot_loss_figure(
    results: Results, panels: Sequence[Panel], path: Path, smooth: float, suptitle: str
) -> None:
    """Training loss vs iteration, one panel per comparison; smoothed solid over the faint raw curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    figure = Figure(figsize=(5.6 * len(panels), 4.8), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        ax.set_title(panel.title)
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        missing = []
        for curve in panel.curves:
            found = results.rows.get(curve.row)
            loss = found.loss if found else None
            if loss is None:
                missing.append(curve.label)
                continue
            ax.plot(loss.steps, loss.losses, color=curve.color, linestyle=curve.linestyle, alpha=0.2, lw=0.8)
            ax.plot(
                loss.steps,
                ema(loss.losses, smooth),
                color=curve.color,
                linestyle=curve.linestyle,
                lw=1.8,
                label=curve.label,
            )
        if len(missing) == len(panel.curves):
            ax.text(0.5, 0.5, "no runs yet", transform=ax.transAxes, ha="center", va="center", color="grey")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        handles, labels = ax.get_legend_handles_labels()
        if missing:
            handles.append(Line2D([], [], linestyle="none"))
            labels.append("not run yet: " + "; ".join(missing))
        legend = ax.legend(handles, labels, loc="upper right", fontsize="small", framealpha=0.85)
        if missing:
            legend.get_texts()[-1].set_color("grey")
    figure.suptitle(f"{suptitle} (EMA smoothing {smooth:g}; raw curves faint)")
    figure.savefig(path)
