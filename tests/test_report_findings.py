"""The book's verdicts (ddx7.report.findings) on small hand-made tables with known answers, and the paper's
table definitions (ddx7.paper) they and the notebooks rely on."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ddx7.eval.rtf import paper_table
from ddx7.paper import paper, paper_rtf, table1_pairs, table2_runs, table_runs
from ddx7.report import findings
from ddx7.runs import list_runs, run_config

COLUMNS = ["run", "instrument", "model", "patch", "imax", "FAD aisfx", "MSS", "f0 error (cents)"]


def metrics(*rows) -> pd.DataFrame:
    """A metrics_table-shaped frame: one tuple per run in COLUMNS order."""
    return pd.DataFrame(rows, columns=COLUMNS).set_index("run")


def line_of(text: str, instrument: str) -> str:
    [line] = [ln for ln in text.splitlines() if ln.startswith(f"- **{instrument}**")]
    return line


# ------------------------------------------------------------------------------------ Table 1
def test_table1_finding_names_the_lower_model_and_the_ratio():
    table = metrics(("hpn-violin", "violin", "hpn", "harmonic+noise", "—", 100.0, 8.0, 4.0),
                    ("violin-6osc-imax2", "violin", "ddx7", "violin-6osc", "2", 50.0, 16.0, 4.0),
                    ("hpn-flute", "flute", "hpn", "harmonic+noise", "—", 10.0, np.nan, 3.0),
                    ("flute-6osc-imax2", "flute", "ddx7", "flute-6osc", "2", 30.0, 9.0, 6.0))
    text = findings.table1_finding(table)
    violin = line_of(text, "violin")
    assert "(violin-6osc-imax2 vs hpn-violin)" in violin
    assert "FAD aisfx HpN 100 / DDX7 50 (DDX7 lower, ratio 0.50)" in violin
    assert "MSS HpN 8 / DDX7 16 (HpN lower, ratio 2.00)" in violin
    flute = line_of(text, "flute")
    assert "FAD aisfx HpN 10 / DDX7 30 (HpN lower, ratio 3.00)" in flute
    assert "MSS" not in flute  # a missing value is left out, not compared
    assert "comparable" in text


def test_table1_finding_skips_an_instrument_without_its_pair():
    table = metrics(("hpn-violin", "violin", "hpn", "harmonic+noise", "—", 100.0, 8.0, 4.0))
    assert "**violin**" not in findings.table1_finding(table)


# ------------------------------------------------------------------------------------ Table 3
def imax_table(instrument: str, fads: dict) -> pd.DataFrame:
    """fads: Imax label ('2', '2π', '4π') → FAD aisfx; runs named as in configs/runs."""
    suffix = {"2": "2", "2π": "2pi", "4π": "4pi"}
    return metrics(*((f"{instrument}-6osc-imax{suffix[k]}", instrument, "ddx7", f"{instrument}-6osc", k, fad, 10.0, 5.0)
                     for k, fad in fads.items()))


def test_imax_finding_agrees_when_the_papers_imax_wins():
    assert paper()["table3"]["chosen_imax"]["violin"] == "2"
    line = line_of(findings.imax_finding(imax_table("violin", {"2": 50.0, "2π": 80.0, "4π": 120.0})), "violin")
    assert "best $I_{max}$ = 2 (FAD aisfx 50), worst 4π (120)" in line
    assert line.endswith("the paper uses 2 — agrees.")


def test_imax_finding_disagrees_when_another_imax_wins():
    assert paper()["table3"]["chosen_imax"]["trumpet"] == "2π"
    line = line_of(findings.imax_finding(imax_table("trumpet", {"2": 40.0, "2π": 60.0, "4π": 90.0})), "trumpet")
    assert "best $I_{max}$ = 2 " in line and line.endswith("the paper uses 2π — disagrees.")


def test_imax_finding_checks_convergence_only_with_validation_losses():
    table = imax_table("flute", {"2": 50.0, "2π": 60.0, "4π": 90.0})
    assert "Validation loss" not in findings.imax_finding(table)
    worst_4pi = {"flute-6osc-imax2": 9.0, "flute-6osc-imax2pi": 9.5, "flute-6osc-imax4pi": 12.0}
    line = line_of(findings.imax_finding(table, worst_4pi), "flute")
    assert "4π reached 12, the worst is 4π (12) — agrees with 4π harming convergence." in line
    worst_2 = {**worst_4pi, "flute-6osc-imax2": 13.0}
    line = line_of(findings.imax_finding(table, worst_2), "flute")
    assert "the worst is 2 (13) — disagrees with 4π harming convergence." in line


def test_imax_finding_ranks_by_mss_without_fad():
    table = imax_table("violin", {"2": 50.0, "2π": 80.0}).drop(columns="FAD aisfx")
    table["MSS"] = [12.0, 7.0]
    assert "best $I_{max}$ = 2π (MSS 7)" in findings.imax_finding(table)


# ------------------------------------------------------------------------------------ Table 4
def ablation_table(instrument: str, by_ops: dict) -> pd.DataFrame:
    """by_ops: operators → (FAD aisfx, MSS)."""
    return metrics(*((f"{instrument}-{n}osc", instrument, "ddx7", f"{instrument}-{n}osc", "2", fad, mss, 5.0)
                     for n, (fad, mss) in by_ops.items()))


def test_ablation_finding_expectations_come_from_the_paper():
    assert paper()["table4"]["best_operators"] == {"violin": "most", "flute": "most", "trumpet": 2}


def test_ablation_finding_more_operators_for_violin():
    text = findings.ablation_finding(ablation_table("violin", {2: (90.0, 12.0), 4: (80.0, 11.0), 6: (70.0, 13.0)}))
    line = line_of(text, "violin")
    assert "(paper: more oscillators help)" in line
    assert "by FAD aisfx the best is **violin-6osc** (6 operators, 70) — agrees with the paper" in line
    assert "by MSS the best is **violin-4osc** (4 operators, 11) — disagrees with the paper" in line


def test_ablation_finding_two_operators_for_trumpet():
    agree = line_of(findings.ablation_finding(ablation_table("trumpet", {2: (50.0, 9.0), 6: (70.0, 10.0)})), "trumpet")
    assert "(paper: 2 oscillators are best)" in agree
    assert agree.count("— agrees with the paper") == 2
    disagree = findings.ablation_finding(ablation_table("trumpet", {2: (90.0, 11.0), 6: (70.0, 10.0)}))
    disagree = line_of(disagree, "trumpet")
    assert disagree.count("— disagrees with the paper") == 2


def test_ablation_finding_flute_with_fewer_operators_disagrees():
    line = line_of(findings.ablation_finding(ablation_table("flute", {2: (60.0, 9.0), 6: (70.0, 10.0)})), "flute")
    assert line.count("— disagrees with the paper") == 2


def test_ablation_finding_without_runs():
    empty = metrics(("hpn-violin", "violin", "hpn", "harmonic+noise", "—", 1.0, 1.0, 1.0))
    assert findings.ablation_finding(empty.iloc[:0]) == "No ablation runs evaluated for this profile."


def test_primary_fad_column_prefers_aisfx():
    assert findings.primary_fad_column(pd.DataFrame(columns=["FAD mfcc", "FAD aisfx", "MSS"])) == "FAD aisfx"
    assert findings.primary_fad_column(pd.DataFrame(columns=["MSS", "FAD mfcc"])) == "FAD mfcc"
    assert findings.primary_fad_column(pd.DataFrame(columns=["MSS"])) is None


# ------------------------------------------------------------------------------------ failures
def test_collapsed_runs_and_finding():
    table = metrics(("a", "flute", "ddx7", "flute-6osc", "4π", 400.0, 20.0, 1750.0),
                    ("b", "flute", "ddx7", "flute-6osc", "2", 100.0, 10.0, 100.0),
                    ("c", "flute", "ddx7", "flute-6osc", "2π", 90.0, 10.0, 4.0))
    assert findings.collapsed_runs(table) == ["a"]  # above 100 cents, not at it
    assert findings.collapsed_runs(table, cents=50.0) == ["a", "b"]
    text = findings.collapsed_finding(table, {"a": 0.04})
    assert "**a** (1750 cents; spectral flatness of a note at initialisation 0.040)" in text
    assert "**b**" not in text and "**c**" not in text
    assert findings.collapsed_finding(table.drop(index="a"), {}).startswith("Every run here follows the pitch")
    assert findings.collapsed_finding(table.drop(columns="f0 error (cents)"), {}) == ""


def test_convergence_finding_counts_flat_runs_and_names_the_most_improving():
    table = pd.DataFrame({"change over last third (%)": [-0.5, -8.0, -3.0],
                          "verdict": ["flat", "still improving", "still improving"]},
                         index=pd.Index(["a", "b", "c"], name="run"))
    text = findings.convergence_finding(table)
    assert "**1 of 3 runs flat**" in text and "2 still improving" in text
    assert "(most: b, -8.0 %)" in text
    all_flat = findings.convergence_finding(table.assign(verdict="flat"))
    assert "**3 of 3 runs flat**" in all_flat and "most:" not in all_flat
    assert findings.convergence_finding(pd.DataFrame()) == "No validation curves for this profile."


def gap_table(ratios: dict) -> pd.DataFrame:
    off = 10.0
    return pd.DataFrame([{"run": r, "MSS (dropout off, as evaluated)": off, "MSS (dropout on, as trained)": off * q,
                          "on / off": q, "reverb tail energy": 0.5} for r, q in ratios.items()]).set_index("run")


def test_dropout_finding():
    odd = findings.dropout_finding(gap_table({"a": 0.5, "b": 0.95}))
    assert "**a** (5 with dropout on vs 10 off, reverb tail energy 0.5)" in odd and "**b**" not in odd
    assert findings.dropout_finding(gap_table({"a": 1.0, "b": 1.0})).startswith("These runs train without dropout")
    assert findings.dropout_finding(gap_table({"a": 0.9})).startswith("Every DDX7 run renders")
    assert findings.dropout_finding(gap_table({"a": 0.7})).startswith("Every DDX7 run renders")  # the bound is not odd
    assert findings.dropout_finding(pd.DataFrame()) == ""


def reverb_rows(energies: dict) -> pd.DataFrame:
    return pd.DataFrame([{"run": r, "FAD aisfx": 100.0 * e, "MSS": 7.0, "tail energy (× direct)": e,
                          "peak gain (dB)": 30.0, "peak at (Hz)": 7400.0, "median gain (dB)": 10.0}
                         for r, e in energies.items()])


def test_reverb_finding_names_the_runs_whose_reverb_outweighs_the_direct_sound():
    text = findings.reverb_finding(reverb_rows({"a": 200.0, "b": 2.0, "c": 0.5}))
    assert "**a** (200×, +30 dB at 7.4 kHz, FAD 2e+04)" in text and "**b**" not in text and "**c**" not in text
    assert "The other 2 stay at 0.5–2×, with a median FAD of 125 against 2e+04." in text
    assert findings.reverb_finding(reverb_rows({"a": 10.0})).startswith("Every DDX7 run's")  # the bound is not loud
    assert findings.reverb_finding(pd.DataFrame()).startswith("No DDX7 run")


def test_reverb_response_of_a_dry_reverb_and_of_a_one_tap_echo():
    """h = δ is 0 dB everywhere; h = δ + a·δ[n−1] has |H(ω)|² = 1 + a² + 2a·cos ω: the peak 1 + a at 0 Hz and
    the median (ω = π/2, half of the uniform grid lies below) √(1 + a²)."""
    from ddx7.models.reverb import Reverb
    from ddx7.report import reverb_response

    reverb = Reverb(length=256, sample_rate=16000)
    dry = reverb_response(reverb, 16000, n_fft=1024)
    assert dry["tail energy (× direct)"] == 0 and abs(dry["peak gain (dB)"]) < 1e-9
    assert abs(dry["median gain (dB)"]) < 1e-9
    a = 0.5
    with torch.no_grad():
        reverb.wet.fill_(1.0)
        reverb.noise.zero_()
        reverb.noise[1] = a * math.exp(float(reverb.decay) * float(reverb.t[1]))
    echo = reverb_response(reverb, 16000, n_fft=1024)
    assert echo["tail energy (× direct)"] == pytest.approx(a ** 2, rel=1e-5)
    assert echo["peak gain (dB)"] == pytest.approx(20 * math.log10(1 + a), rel=1e-5) and echo["peak at (Hz)"] == 0
    assert echo["median gain (dB)"] == pytest.approx(10 * math.log10(1 + a * a), abs=0.02)


def oracle_rows(run: str, decoder: float, free: float, free_dry: float, hpn: float = 7.0) -> list[dict]:
    return [{"run": run, "synth": "with its reverb", "HpN MSS": hpn, "decoder MSS": decoder, "free-envelope MSS": free,
             "free / HpN": free / hpn, "decoder / HpN": decoder / hpn},
            {"run": run, "synth": "dry (no reverb)", "HpN MSS": hpn, "decoder MSS": decoder + 2, "free-envelope MSS":
             free_dry, "free / HpN": free_dry / hpn, "decoder / HpN": (decoder + 2) / hpn}]


def test_oracle_finding_says_where_the_decoder_not_the_synth_is_the_limit():
    table = pd.DataFrame(oracle_rows("a", 8.7, 7.1, 10.0) + oracle_rows("b", 7.2, 6.9, 9.0))
    text = findings.oracle_finding(table)
    assert "- **a**: the decoder 8.7, free envelopes 7.1, HpN 7 (free / HpN 1.01); the synth without its reverb, " \
           "free envelopes: 10." in text
    assert "Free envelopes bring a within 1.05×" in text and "bring a, b" not in text  # b's decoder is close to HpN
    assert findings.oracle_finding(pd.DataFrame(oracle_rows("c", 9.0, 8.0, 10.0))).endswith(
        "while free envelopes come within 1.05×.")  # free envelopes do not reach HpN: no verdict on the decoder
    assert findings.oracle_finding(pd.DataFrame()) == ""


def unseen_oracle(rows) -> pd.DataFrame:
    """(run, decoder, free) → oracle_table(unseen=True) rows of one instrument, HpN at 8."""
    return pd.DataFrame([{"instrument": "trumpet", "run": run, "synth": "with its reverb", "HpN MSS": 8.0,
                          "decoder MSS": d, "free-envelope MSS": f, "free / HpN": f / 8, "decoder / HpN": d / 8,
                          "decoder / free": d / f} for run, d, f in rows])


def test_oracle_unseen_finding_sets_the_needed_decoder_beside_the_reached_ones():
    test = pd.DataFrame(oracle_rows("a", 8.7, 7.5, 10.0) + oracle_rows("f", 7.0, 7.0, 9.0))
    test["instrument"] = ["trumpet"] * 2 + ["flute"] * 2  # the trumpet's decoder / free 1.16; the flute's 1.00
    test["decoder / free"] = test["decoder MSS"] / test["free-envelope MSS"]
    # Table 1's run: free envelopes 1.08× HpN, so it needs decoder / free ≤ 1.2 / 1.08 = 1.11, while ours reach 1.2
    text = findings.oracle_unseen_finding(unseen_oracle([("two", 10.4, 8.64), ("six", 9.2, 7.52)]), test)
    assert "- **two**: the decoder 1.30× HpN's MSS, free envelopes 1.08×; the decoder 1.20× its free envelopes." in text
    assert "two would need a decoder within 1.11× of its free envelopes" in text
    assert "come within 1.20–1.22×" in text and "Table 1's trumpet decoder comes within 1.16×." in text
    assert "No trumpet decoder we trained comes that close" in text
    assert "while six (free envelopes 0.94× HpN's) would need only 1.28×." in text
    # a decoder that transfers as well as needed: no verdict; a patch whose free envelopes miss: the patch is the limit
    assert "decoder we trained" not in findings.oracle_unseen_finding(unseen_oracle([("two", 9.0, 8.64)]), test)
    assert "even free envelopes leave two at 1.25×" in findings.oracle_unseen_finding(
        unseen_oracle([("two", 11.0, 10.0)]), test)
    assert findings.oracle_unseen_finding(pd.DataFrame(), test) == ""


# ------------------------------------------------------------------------------------ the paper's tables
def test_table_membership_comes_from_the_run_configs():
    for table in (1, 2, 3, 4):
        runs = table_runs(table)
        assert sorted(runs) == sorted(r for r in list_runs() if table in run_config(r).get("tables", []))
        order = paper()[f"table{table}"]["instruments"]
        instruments = [run_config(r)["data"]["instrument"] for r in runs]
        assert instruments == sorted(instruments, key=order.index)


def test_table1_pairs_hpn_with_ddx7_per_instrument():
    pairs = table1_pairs()
    assert list(pairs) == paper()["table1"]["instruments"]
    for inst, (hpn, ddx7) in pairs.items():
        assert run_config(hpn)["model"]["kind"] == "hpn" and run_config(ddx7)["model"]["kind"] == "ddx7"
        assert run_config(hpn)["data"]["instrument"] == run_config(ddx7)["data"]["instrument"] == inst
    # Table 2 intervenes on Table 1's DDX7 models
    assert table2_runs() == {inst: ddx7 for inst, (_, ddx7) in pairs.items()}


def test_imax_choice_matches_the_table1_models():
    chosen = paper()["table3"]["chosen_imax"]
    for inst, (_, ddx7) in table1_pairs().items():
        imax = run_config(ddx7)["model"]["imax"]
        assert math.isclose(imax, {"2": 2.0, "2π": 2 * math.pi, "4π": 4 * math.pi}[chosen[inst]]), inst


def test_rtf_paper_columns_come_from_paper_yaml():
    rows = [{"latency_ms": ms, "model": m, "rtf_mean": 1.0, "rtf_std": 0.1} for ms in (256, 4) for m in ("ddx7", "hpn")]
    out = paper_table(rows).set_index("latency_ms")
    assert out.loc[4, "paper_ddx7"] == paper_rtf()[4][0] == 5.01
    assert out.loc[256, "paper_hpn"] == paper_rtf()[256][2] == 0.231
    assert out.loc[4, "paper_hpn_over_ddx7"] == pytest.approx(15.2 / 5.01)


def test_streaming_finding_reads_the_shortest_block_and_judges_the_fastest_ddx7():
    rows = [{"variant": v, "latency_ms": ms, "rtf_mean": r / (ms / 4), "cpu": "CPU X", "threads": 1}
            for ms in (16, 4) for v, r in (("ddx7-eager", 0.2), ("ddx7-torchscript", 0.12), ("ddx7-native", 0.03),
                                           ("hpn-eager", 0.8))]
    text = findings.streaming_finding(pd.DataFrame(rows))
    assert text.startswith("At 4 ms blocks on **CPU X**, 1 thread(s), mean real-time factor: DDX7 in C 0.030, "
                           "DDX7 TorchScript 0.120, DDX7 eager 0.200, HpN 0.800.")
    assert "4.0× faster than TorchScript" in text and "(DDX7 in C) **meets** the target of 0.04" in text
    slow = pd.DataFrame([r for r in rows if r["variant"] != "ddx7-native"])
    text = findings.streaming_finding(slow)
    assert "in C" not in text and "(DDX7 TorchScript) **misses** the target" in text
    assert "No streaming" in findings.streaming_finding(pd.DataFrame())


def test_experiment_finding_names_pitched_variants_and_the_best_against_the_baseline():
    table = pd.DataFrame([
        {"run": "v", "variant": "baseline", "MSS": 14.0, "loudness error (dB)": 5.0, "pitched": False},
        {"run": "v", "variant": "a", "MSS": 12.0, "loudness error (dB)": 6.0, "pitched": True},
        {"run": "f", "variant": "baseline", "MSS": 10.0, "loudness error (dB)": 2.0, "pitched": True},
    ])
    text = findings.experiment_finding(table)
    assert "**v**: pitched (median f0 error < 20 cents): a. Lowest MSS: a (12.00; baseline 14.00)." in text
    assert "Lowest loudness error: baseline (5.00 dB)." in text
    assert "**f**" not in text  # a lone run has nothing to compare
    assert "No recipe experiment" in findings.experiment_finding(pd.DataFrame())


def test_unseen_runs_finding_names_table_1_the_best_run_and_those_within_the_bound():
    table = pd.DataFrame([
        {"instrument": "trumpet", "run": "trumpet-2osc", "MSS ratio": 1.30},
        {"instrument": "trumpet", "run": "trumpet-6osc", "MSS ratio": 1.14},
        {"instrument": "trumpet", "run": "trumpet-4osc", "MSS ratio": 1.20},
        {"instrument": "violin", "run": "violin-6osc", "MSS ratio": 1.25}])
    text = findings.unseen_runs_finding(table)
    trumpet, violin = text.splitlines()
    assert "Table 1's trumpet-2osc at 1.30×" in trumpet and "best, trumpet-6osc, at 1.14×" in trumpet
    assert "Within 1.2×: trumpet-6osc, trumpet-4osc." in trumpet  # the bound is inclusive
    assert "Within 1.2×: none." in violin
    assert findings.unseen_runs_finding(pd.DataFrame()) == ""


def test_unseen_runs_finding_sets_each_ratio_beside_the_test_set_ratio():
    table = pd.DataFrame([
        {"instrument": "trumpet", "run": "t2", "MSS ratio": 1.30, "test-set MSS ratio": 1.33},
        {"instrument": "trumpet", "run": "t6", "MSS ratio": 1.15, "test-set MSS ratio": 1.10},
        {"instrument": "trumpet", "run": "t4", "MSS ratio": 1.20, "test-set MSS ratio": 1.25},
        {"instrument": "trumpet", "run": "exp", "MSS ratio": 1.10, "test-set MSS ratio": float("nan")}])
    trumpet, across = findings.unseen_runs_finding(table).splitlines()
    assert "Table 1's t2 at 1.30× HpN's MSS (on its own test set 1.33×)" in trumpet
    r = np.corrcoef([1.30, 1.15, 1.20], [1.33, 1.10, 1.25])[0, 1]  # the experiment, without one, left out
    assert "Across the 3 runs" in across and f"r = {r:.2f}" in across
    assert across.endswith("higher on these phrases than on the test set: t6.")
    two = findings.unseen_runs_finding(table.iloc[[0, 1]])
    assert len(two.splitlines()) == 1  # too few runs for a correlation
