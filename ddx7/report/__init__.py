"""What the book's notebooks call (``from ddx7 import report``; ``report.X(...)``): one facade over

* :mod:`ddx7.pipeline` — make sure results exist (``ensure_results``, ``ensure_rtf``, ``ensure_streaming_rtf``);
* :mod:`ddx7.paper` — which runs make a paper table (``table_runs``, ``table1_pairs``, ``table2_runs``);
* :mod:`.loaders` — ``results/<profile>/`` as tables; :mod:`.speed` — the training-speed records;
* :mod:`.findings` — our tables against the paper's claims, in words (pure functions of tables);
* :mod:`.analyses` — analyses that run the trained models;
* :mod:`.players`, :mod:`.figures`, :mod:`.widgets` — audio players, figures, interactive views;
* :mod:`.display` — how a table is shown (``show``: no pandas index column).
"""

from ..paper import table1_pairs, table2_runs, table_runs
from ..pipeline import ensure_results, ensure_rtf, ensure_streaming_rtf, find_root, results_dir
from .analyses import (
    collapsed_flatness,
    dropout_gap_runs,
    dropout_gap_table,
    excerpt_controls,
    init_flatness,
    mss_band_table,
    pitch_band_table,
    rest_level_table,
    reverb_response,
    reverb_table,
)
from .display import show
from .figures import (
    plot_curves,
    plot_fad_heatmap,
    plot_grid_spectrograms,
    plot_intervention_spectrograms,
    plot_metric_bars,
    plot_rtf,
    plot_test_curves,
)
from .findings import (
    ablation_finding,
    collapsed_finding,
    collapsed_runs,
    convergence_finding,
    doubling_finding,
    dropout_finding,
    equal_budget_finding,
    experiment_finding,
    imax_finding,
    oracle_finding,
    oracle_unseen_finding,
    paper_note,
    rest_finding,
    reverb_finding,
    rtf_note,
    same_reverb_finding,
    streaming_finding,
    table1_finding,
    unseen_runs_finding,
    variant_finding,
)
from .loaders import (
    best_valid_mss,
    budget_table,
    convergence_table,
    doubling_table,
    embedding_names,
    equal_budget_table,
    experiment_table,
    experiments_dir,
    fad_table,
    load_curves,
    load_metrics,
    load_metrics_json,
    metrics_table,
    oracle_table,
    pivot_metric,
    rtf_meta,
    same_reverb_table,
    snapshot_table,
    training_summary,
    unseen_runs_table,
    unseen_table,
    variant_table,
)
from .players import grid_players, table1_players, table2_players, unseen_players
from .speed import denormal_bench_table, train_bench_tables
from .widgets import intervention_panel_for, live_sliders

__all__ = [
    "table1_pairs", "table2_runs", "table_runs",
    "ensure_results", "ensure_rtf", "ensure_streaming_rtf", "find_root", "results_dir",
    "collapsed_flatness", "dropout_gap_runs", "dropout_gap_table",
    "excerpt_controls", "init_flatness", "mss_band_table", "pitch_band_table", "rest_level_table", "reverb_response",
    "reverb_table",
    "plot_curves", "plot_fad_heatmap", "plot_grid_spectrograms", "plot_intervention_spectrograms", "plot_metric_bars",
    "plot_rtf", "plot_test_curves", "show",
    "ablation_finding", "collapsed_finding", "collapsed_runs", "convergence_finding", "doubling_finding",
    "dropout_finding",
    "equal_budget_finding", "experiment_finding", "imax_finding", "paper_note", "rest_finding", "rtf_note",
    "oracle_finding", "oracle_unseen_finding", "reverb_finding", "same_reverb_finding", "streaming_finding",
    "unseen_runs_finding",
    "table1_finding", "variant_finding",
    "best_valid_mss", "budget_table", "convergence_table", "doubling_table", "embedding_names", "experiment_table",
    "experiments_dir",
    "equal_budget_table", "fad_table", "snapshot_table",
    "load_curves",
    "load_metrics", "load_metrics_json", "metrics_table", "pivot_metric", "rtf_meta", "train_bench_tables",
    "denormal_bench_table",
    "same_reverb_table",
    "oracle_table", "training_summary", "unseen_runs_table", "unseen_table", "variant_table",
    "grid_players", "table1_players", "table2_players", "unseen_players",
    "intervention_panel_for", "live_sliders",
]
