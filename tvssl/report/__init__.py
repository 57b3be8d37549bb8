"""Rebuild the paper's Table 1 and Figure 1 from a results tree, with the paper's numbers beside ours.

Input layout (``tvssl.run_names``): ``RESULTS/<row>/pretrain/metrics.csv`` (Lightning CSVLogger) and
``RESULTS/<row>/{ucf101,hmdb51}_split<s>/metrics.json``, ``RESULTS/<row>/esc50_fold<f>_seed<n>/metrics.json``.
A sweep is read while it is still running, so anything missing is shown as missing (never as zero) and
anything unexpected becomes a warning rather than an error.

One concept per module: ``results`` (scanning the tree), ``stats`` (the numbers of each table row),
``table`` (markdown and CSV, both from those rows), ``figure`` (the loss curves, EMA-smoothed) and
``writer`` (the output folder).
"""

from __future__ import annotations

from tvssl.report.figure import ema
from tvssl.report.results import Results, collect_results, read_loss_curve
from tvssl.report.table import CSV_COLUMNS
from tvssl.report.writer import Report, write_report

__all__ = ["CSV_COLUMNS", "Report", "Results", "collect_results", "ema", "read_loss_curve", "write_report"]
