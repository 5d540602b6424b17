"""The C streamer (ddx7/native/stream_ddx7.c through ddx7.stream_native) gives the offline render's samples.

It is a third copy of the DDX7 forward pass, kept for speed (issue 15); these tests hold it to the offline
model as tests/test_stream.py holds the Python streamers, and to the eager streamer it takes its weights from
(test_stream.py's tests of changing block sizes, high Imax and the paper's interventions run it too).
No timing is asserted (``ddx7 bench rtf --streaming`` measures it).
"""

import math
import os

import pytest
import torch
from test_stream import BLOCKS, TOL, controls, ddx7_model, hpn_model, max_diff

from ddx7 import HOP, SAMPLE_RATE
from ddx7 import stream_native as native
from ddx7.models import DDX7
from ddx7.stream import StreamingDDX7, make_streamer, stream
from ddx7.stream_native import NativeStreamingDDX7
from ddx7.synth import PATCHES


@pytest.mark.parametrize("patch, imax", [(p, 2.0) for p in PATCHES] + [("2osc", 2 * math.pi)])
def test_native_streamer_equals_offline_for_every_patch_and_block_size(patch, imax):
    model = ddx7_model(patch, imax=imax)
    f0, ld = controls()  # batch 2, 301 frames: every ring wraps
    with torch.no_grad():
        offline = model(f0, ld)
    assert offline.abs().max() > 0.1
    streamer = make_streamer(model, native=True)
    for block in BLOCKS:
        streamer.reset()
        assert max_diff(stream(streamer, f0, ld, block), offline) <= TOL, (patch, block)
    streamer.reset()
    assert max_diff(stream(streamer, f0, ld, 1), stream(StreamingDDX7(model), f0, ld, 1)) <= TOL


def test_native_reset_reproduces_the_first_render_at_any_batch():
    model = ddx7_model("violin-6osc")
    f0, ld = controls()
    streamer = make_streamer(model, native=True)
    first = stream(streamer, f0, ld, 3)
    streamer.reset()
    stream(streamer, ld.new_full(ld.shape, 300.0), ld, 7)  # a different stream in between
    streamer.reset()
    assert torch.equal(stream(streamer, f0, ld, 3), first)
    streamer.reset()
    one = stream(streamer, f0[1:], ld[1:], 3)  # a new batch size after reset: rows are independent
    assert torch.equal(one, first[1:])


def test_native_intervention_mid_stream_keeps_every_operator_phase_continuous():
    model = ddx7_model("2osc", wet=0.0)
    f0, ld = torch.full((1, 20), 220.0), torch.full((1, 20), -20.0)
    native_s, eager = make_streamer(model, native=True), StreamingDDX7(model)
    for s in (native_s, eager):
        s.process(f0[:, :10], ld[:, :10])
    phase_before = native_s.operator_phases().clone()
    assert torch.allclose(phase_before, eager.operator_phases(), atol=1e-12)
    for s in (native_s, eager):
        s.set_intervention(ratios=[1.0, math.sqrt(2)], env_gain=[1.0, 0.5])
    assert torch.equal(native_s.operator_phases(), phase_before)
    out = native_s.process(f0[:, 10:], ld[:, 10:])
    step = 2 * math.pi * 220.0 / SAMPLE_RATE * HOP * torch.tensor([1.0, math.sqrt(2)], dtype=torch.float64)
    expected = torch.remainder(phase_before + 10 * step, 2 * math.pi)
    assert torch.allclose(native_s.operator_phases(), expected, atol=1e-9)
    assert max_diff(out, eager.process(f0[:, 10:], ld[:, 10:])) <= TOL


def test_native_dry_and_short_reverb_and_oversampled_models_match_offline():
    f0, ld = controls(frames=200)
    models = [ddx7_model("flute-4osc-y", wet=0.0)]
    for factor, decimation in [(1, None), (2, None), (3, None), (2, {"cutoff": 0.97, "taps_per_factor": 96})]:
        torch.manual_seed(0)
        model = DDX7("violin-6osc", oversample=factor, decimation=decimation, reverb_seconds=0.25).eval()
        with torch.no_grad():
            model.reverb.wet.fill_(0.3)
        models.append(model)
    for model in models:
        with torch.no_grad():
            offline = model(f0, ld)
        streamer = make_streamer(model, native=True)
        for block in (1, 5):
            streamer.reset()
            assert max_diff(stream(streamer, f0, ld, block), offline) <= TOL, (model.synth.oversample, block)


def test_native_streamer_rejects_bad_input_and_keeps_its_state():
    model = ddx7_model("2osc")
    streamer = make_streamer(model, native=True)
    f0, ld = controls(batch=1, frames=8)
    first = streamer.process(f0[:, :4], ld[:, :4])
    cases = [(torch.tensor([[220.0, float("nan")]]), "positive"), (torch.tensor([[220.0, 0.0]]), "positive"),
             (torch.tensor([[-1.0, 220.0]]), "positive"), (torch.tensor([[220.0, float("inf")]]), "infinite")]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            streamer.process(bad, torch.full_like(bad, -30.0))
    with pytest.raises(ValueError, match="infinite"):
        streamer.process(f0[:, 4:], torch.tensor([[-30.0, float("nan"), -30.0, -30.0]]))
    with pytest.raises(ValueError, match=r"\[batch, frames\]"):
        streamer.process(f0[:, 4:], ld[:, 4:7])
    with pytest.raises(ValueError, match="batch size"):
        streamer.process(f0[:, 4:].repeat(2, 1), ld[:, 4:].repeat(2, 1))
    rest = streamer.process(f0[:, 4:], ld[:, 4:])  # the rejected blocks changed nothing
    with torch.no_grad():
        assert max_diff(torch.cat([first, rest], 1), model(f0, ld)) <= TOL
    with pytest.raises(ValueError, match="StreamingDDX7"):
        NativeStreamingDDX7(hpn_model())
    with pytest.raises(ValueError):
        make_streamer(model, ratios=[1.0], native=True)
    with pytest.raises(ValueError, match="DDX7 model"):
        make_streamer(hpn_model(), native=True)
    with pytest.raises(ValueError, match="one of"):
        make_streamer(model, compiled=True, native=True)


def test_the_library_is_built_once_per_source_and_a_missing_compiler_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "BUILD_DIR", tmp_path / "build")
    path = native.build()
    assert path.parent == tmp_path / "build" and os.access(path, os.X_OK)
    mtime = path.stat().st_mtime_ns
    assert native.build() == path and path.stat().st_mtime_ns == mtime  # cached: not compiled again
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    edited = tmp_path / "stream_ddx7.c"
    edited.write_text(native.SOURCE.read_text() + "\n/* edited */\n")
    monkeypatch.setattr(native, "SOURCE", edited)
    assert native.library_path() != path  # another source, another library
    broken = tmp_path / "broken.c"
    broken.write_text("int broken( {\n")
    monkeypatch.setattr(native, "SOURCE", broken)
    with pytest.raises(RuntimeError, match="compiling broken.c failed"):
        native.build()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    monkeypatch.setenv("CC", "no-such-compiler-ddx7")
    with pytest.raises(RuntimeError, match="no C compiler"):
        native.library_path()


def test_stream_cli_native_renders_the_file_as_the_python_streamer(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from ddx7.cli import main

    model = ddx7_model("2osc")
    ckpt = tmp_path / "model.pt"
    torch.save({"config": model.config, "model": model.state_dict()}, ckpt)
    wav = tmp_path / "in.wav"
    n = 64 * 60
    sf.write(wav, 0.5 * np.sin(2 * np.pi * 330 * np.arange(n) / SAMPLE_RATE), SAMPLE_RATE)
    outs = {}
    for flag in ("--native", None):
        out = tmp_path / f"out{flag or ''}.wav"
        assert main(["stream", str(wav), "--checkpoint", str(ckpt), "-o", str(out)] + ([flag] if flag else [])) == 0
        outs[flag] = sf.read(out, dtype="float32")[0]
    assert "real-time factor" in capsys.readouterr().out
    assert np.abs(outs["--native"]).max() > 0.05
    np.testing.assert_allclose(outs["--native"], outs[None], atol=2 / 32768)  # 16-bit files
    assert main(["stream", str(wav), "--checkpoint", str(ckpt), "--native", "--compiled",
                 "-o", str(tmp_path / "both.wav")]) == 2
    assert not (tmp_path / "both.wav").exists()
