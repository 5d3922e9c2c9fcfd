"""Benchmark evaluation: (HR folders x scales x one method) -> per-image metric records and means.

:mod:`attnsr.eval.protocol` makes the LR images and scores one method on a dataset,
:mod:`attnsr.eval.scorers` holds the metrics (:data:`METRICS`), :mod:`attnsr.eval.report` writes the
tables, CSV, JSON and spectrum files.
"""

from attnsr.eval.protocol import (
    IMAGE_SUFFIXES,
    METHODS,
    DatasetResult,
    EvalSettings,
    Method,
    PairSink,
    bicubic_method,
    collect_result,
    dataset_name,
    evaluate_dataset,
    evaluate_image,
    find_lr,
    list_images,
    make_lr,
    score_pair,
)
from attnsr.eval.report import format_spectrum_table, format_table, write_csv, write_json, write_spectra
from attnsr.eval.scorers import METRICS, Metric, MetricOptions, ScoreFn, Scorer, check_metrics, prepare_metrics

__all__ = [
    "IMAGE_SUFFIXES", "METHODS", "METRICS", "DatasetResult", "EvalSettings", "Method", "Metric", "MetricOptions",
    "PairSink", "ScoreFn", "Scorer", "bicubic_method", "check_metrics", "collect_result", "dataset_name",
    "evaluate_dataset", "evaluate_image", "find_lr", "format_spectrum_table", "format_table", "list_images",
    "make_lr", "prepare_metrics", "score_pair", "write_csv", "write_json", "write_spectra",
]
