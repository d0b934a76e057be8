"""The benchmarking harness: paired learning-curve sweeps, their statistics, plots and report.

- :mod:`agents.evaluation.methods`: the selection methods of a sweep (``parse_method``) and the
  selector that runs each;
- :mod:`agents.evaluation.sweep`: runs every (dataset, method, seed) episode into a resumable
  ``curves.csv`` (:func:`evaluate`);
- :mod:`agents.evaluation.sweep_files`: a sweep folder's files, the settings it records, the
  finished runs of a killed sweep, and :func:`merge_sweeps`;
- :mod:`agents.evaluation.summary`: paired differences, intervals and ratios from the curves;
- :mod:`agents.evaluation.plots`: learning-curve and overlap figures;
- :mod:`agents.evaluation.report`: ``summary.md``/``summary.csv`` and the plots of a folder.

Heuristic sweeps need neither imitation nor stable-baselines3: a trained policy's modules are
imported only when a sweep evaluates one.
"""

from agents.evaluation.methods import (
    MethodSpec,
    make_selector,
    parse_method,
    policy_env_overrides,
)
from agents.evaluation.report import write_report
from agents.evaluation.summary import summarize, summary_markdown, write_summary_csv
from agents.evaluation.sweep import EvalConfig, RunResult, check_sweep, evaluate, run_episode
from agents.evaluation.sweep_files import (
    CONFIG_JSON,
    CURVES_CSV,
    ORACLE_CSV,
    OVERLAP_CSV,
    merge_sweeps,
)
from agents.runs.files import read_csv

__all__ = [
    "CONFIG_JSON",
    "CURVES_CSV",
    "ORACLE_CSV",
    "OVERLAP_CSV",
    "EvalConfig",
    "MethodSpec",
    "RunResult",
    "check_sweep",
    "evaluate",
    "make_selector",
    "merge_sweeps",
    "parse_method",
    "policy_env_overrides",
    "read_csv",
    "run_episode",
    "summarize",
    "summary_markdown",
    "write_report",
    "write_summary_csv",
]
