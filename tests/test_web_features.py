"""The causal features in the browser (ddx7/web/features.js) equal Python's ``CausalFeatures``.

features.js is a JavaScript copy of ``ddx7.data.features.CausalFeatures.__call__`` (A-weighted loudness of
the 2048 samples ending at each frame, librosa's YIN on the 1024 ending there, the pitch hold through
quiet frames). These tests load it from a file:// page in headless Chromium, feed it the same signals
as Python (a synthetic harmonic tone with vibrato, a glide and a silence gap; the first test excerpt
of each instrument's committed data card, or a shipped ``*_original.wav``) in blocks of 64 samples and
of other sizes, and compare: loudness on every frame, f0 on voiced frames (JS found a YIN trough under
the threshold and the frame is above the gate) in cents, and the held pitch through the gap. Also:
the block size does not change the JS output (bit for bit), the resampler (44.1 / 48 kHz → 16 kHz,
16 → 48 kHz, streaming == whole buffer), the downmix, the script inside an AudioWorklet (data: URL), and the
speed at 4 ms blocks (printed).

Run: ``pytest tests/test_web_features.py -s`` (``-s`` shows the measured differences and the speed).
Skips with a reason when playwright or chromium is missing.
"""

from __future__ import annotations

import base64
import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest
from chromium import ARGS, CHROMIUM, open_page, sync_api

from ddx7 import HOP, SAMPLE_RATE
from ddx7.data.features import CausalFeatures

ROOT = Path(__file__).resolve().parents[1]
FEATURES_JS = ROOT / "ddx7" / "web" / "features.js"
GATE_DB = -70.0
# The tolerances, and the tighter ones an exact copy meets (Python computes in float32, JS in
# float64: the differences are float32 rounding, amplified only where YIN's choice is a near tie).
F0_MEDIAN_CENTS, LOUD_MAX_DB = 5.0, 0.5
F0_MEDIAN_CENTS_EXACT, F0_P95_CENTS_EXACT, LOUD_MAX_DB_EXACT = 0.01, 0.1, 0.01

HELPERS = """
window.t = {
  dec: function (b) { var s = atob(b), u = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new Float32Array(u.buffer); },
  enc: function (a) { var u = new Uint8Array(Float32Array.from(a).buffer), s = '';
    for (var i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
    return btoa(s); },
  features: function (b, sizes) {
    var x = t.dec(b), fx = new DDX7Features.CausalFeatures(), parts = [], pos = 0, i = 0;
    while (pos < x.length) { var n = Math.min(sizes[i++ % sizes.length], x.length - pos);
      parts.push(fx.process(x.subarray(pos, pos + n))); pos += n; }
    var cat = function (k) { var out = [], p; for (p of parts) out.push.apply(out, Array.from(p[k])); return out; };
    return {f0: t.enc(cat('f0')), loudness: t.enc(cat('loudness')), voiced: cat('voiced')};
  }
};
"""


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    api = sync_api()
    path = tmp_path_factory.mktemp("features") / "features.html"
    path.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>features</title>"
                    f"<script src='{FEATURES_JS.resolve().as_uri()}'></script><script>{HELPERS}</script>"
                    "</head><body></body></html>")
    messages = []
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = open_page(browser, path, "window.DDX7Features && window.t", messages)
        yield page, browser, messages
        browser.close()


def _b64(x) -> str:
    return base64.b64encode(np.ascontiguousarray(x, "<f4").tobytes()).decode()


def _f32(b: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b), "<f4")


def js_features(page, x: np.ndarray, sizes) -> dict:
    """JS CausalFeatures on x, fed in blocks cycling through ``sizes`` (samples, multiples of 64)."""
    r = page.evaluate("([b, s]) => t.features(b, s)", [_b64(x), list(sizes)])
    return {"f0": _f32(r["f0"]), "loudness": _f32(r["loudness"]), "voiced": np.array(r["voiced"], bool)}


def py_features(x: np.ndarray, block: int) -> dict:
    fx, f0, ld = CausalFeatures(), [], []
    for i in range(0, len(x), block):
        a, b = fx(x[i:i + block])
        f0.append(a)
        ld.append(b)
    return {"f0": np.concatenate(f0), "loudness": np.concatenate(ld)}


def synthetic(seed=0):
    """3.2 s at 16 kHz: 0.2 s silence; a six-harmonic tone at 330 Hz with 5.5 Hz ±40-cent vibrato;
    a glide to 880 Hz; an exact-zero gap (2.2–2.6 s); a quieter tone gliding 196 → 147 Hz.
    Returns (audio float32, true f0 per sample, 0 where silent)."""
    sr, n = SAMPLE_RATE, int(3.2 * SAMPLE_RATE)
    t = np.arange(n) / sr
    f = np.where(t < 1.4, 330.0, 330.0 * (880 / 330) ** np.clip((t - 1.4) / 0.8, 0, 1))
    f = np.where(t >= 2.6, 196 * (147 / 196) ** ((t - 2.6) / 0.6), f)
    f = f * 2 ** (40 / 1200 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    tone = sum(a * np.sin(k * phase + k) for k, a in enumerate([1, 0.5, 0.33, 0.25, 0.2, 0.12], 1))

    def ramp(t0, t1, ms=20.0):  # 1 inside [t0, t1], 20 ms linear fades, 0 outside
        return np.clip(np.minimum(t - t0, t1 - t) * 1000 / ms, 0, 1)

    amp = 0.3 * ramp(0.2, 2.2) + 0.05 * ramp(2.6, 3.2)
    noise = np.random.default_rng(seed).normal(0, 3e-4, n) * (amp > 0)
    x = (amp * tone / 2.4 + noise).astype(np.float32)
    return x, np.where(amp > 0, f, 0.0)


def real_excerpts() -> dict:
    """instrument → 4 s of real audio at 16 kHz: the first test excerpt in the committed data card, or a
    shipped ``*_original.wav`` of a run."""
    found = {}
    for inst in ("violin", "flute", "trumpet"):
        card = ROOT / "results" / "full" / "data" / inst / "card.npz"
        if card.is_file():
            with np.load(card) as d:
                for key in ("test/audio", "valid/audio", "train/audio"):
                    if key in d.files and len(d[key]):
                        found[inst] = d[key][0].astype(np.float32)
                        break
        if inst not in found:
            wavs = sorted((ROOT / "results" / "full").glob(f"{inst}-*/audio/*_original.wav"))
            if wavs:
                import soundfile

                a, sr = soundfile.read(wavs[0], dtype="float32")
                if sr == SAMPLE_RATE:
                    found[inst] = a if a.ndim == 1 else a.mean(axis=1)
    return found


def cents(a, b):
    return 1200 * np.abs(np.log2(np.asarray(a, np.float64) / np.asarray(b, np.float64)))


def compare(js: dict, py: dict, label: str) -> dict:
    """Loudness on all frames; f0 on voiced frames (JS found a trough under YIN's threshold, Python's
    loudness ≥ gate + 1 dB, so the gate cannot flip between the two)."""
    assert len(js["f0"]) == len(py["f0"]) and len(js["f0"]) > 0
    dl = np.abs(js["loudness"].astype(np.float64) - py["loudness"])
    voiced = js["voiced"] & (py["loudness"] >= GATE_DB + 1)
    c = cents(js["f0"], py["f0"])
    cv = c[voiced]
    s = {"frames": len(c), "voiced": int(voiced.sum()), "loud_max_db": float(dl.max()),
         "loud_median_db": float(np.median(dl)), "f0_median_cents": float(np.median(cv)),
         "f0_p95_cents": float(np.percentile(cv, 95)), "f0_max_cents": float(cv.max()),
         "f0_max_cents_all_frames": float(c.max()), "f0_frames_over_1_cent": int((c > 1).sum())}
    print(f"\n{label}: " + json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in s.items()}))
    return s


def assert_close(s: dict):
    assert s["voiced"] >= 0.3 * s["frames"], s
    assert s["loud_max_db"] <= LOUD_MAX_DB and s["f0_median_cents"] <= F0_MEDIAN_CENTS, s
    assert s["loud_max_db"] <= LOUD_MAX_DB_EXACT, s
    assert s["f0_median_cents"] <= F0_MEDIAN_CENTS_EXACT and s["f0_p95_cents"] <= F0_P95_CENTS_EXACT, s


# --------------------------------------------------------------------------------- features
def test_page_loads_without_errors(browser_page):
    page, _, messages = browser_page
    assert page.evaluate("typeof DDX7Features.CausalFeatures") == "function"
    assert messages == []


def test_a_weighting_equals_librosa(browser_page):
    from ddx7.data.features import _a_weighting

    js = np.array(browser_page[0].evaluate("Array.from(DDX7Features.aWeighting(16000, 2048))"))
    assert np.array_equal(js, _a_weighting(SAMPLE_RATE, 2048).astype(np.float64))


def test_fft_equals_numpy(browser_page):
    x = np.random.default_rng(1).normal(size=(2, 512))
    got = browser_page[0].evaluate("""([re, im]) => { var a = Float64Array.from(re), b = Float64Array.from(im);
        new DDX7Features.FFT(512).forward(a, b); return [Array.from(a), Array.from(b)]; }""", x.tolist())
    want = np.fft.fft(x[0] + 1j * x[1])
    assert np.abs(np.array(got[0]) + 1j * np.array(got[1]) - want).max() < 1e-11


def test_synthetic_tone_equals_python(browser_page):
    page = browser_page[0]
    x, f_true = synthetic()
    py = py_features(x, HOP)
    for sizes in ([HOP], [1216]):
        js = js_features(page, x, sizes)
        assert_close(compare(js, py, f"synthetic, JS blocks {sizes}, Python blocks of {HOP}"))
    frames = len(py["f0"])
    ends = (np.arange(frames) + 1) * HOP  # a frame ends at (i + 1)·hop; YIN's window is centred 512 earlier
    f_mid = f_true[ends - 512]
    # the tone is found: voiced where the whole YIN window is in a tone, and on pitch (vibrato and glides included)
    inside = np.array([e >= 1024 and f_true[e - 1024:e].min() > 0 for e in ends])
    assert js["voiced"][inside].mean() > 0.98
    assert np.median(cents(js["f0"][inside], f_mid[inside])) < 10
    # silence: 220 Hz before the first sound, then the last pitch is held through the gap
    first = np.flatnonzero(js["loudness"] >= GATE_DB)[0]
    assert np.all(js["f0"][:first] == np.float32(220.0)) and np.all(py["f0"][:first] == np.float32(220.0))
    gap = np.flatnonzero((ends > 2.2 * SAMPLE_RATE + 2048) & (ends <= 2.6 * SAMPLE_RATE))  # both windows silent
    assert np.all(js["loudness"][gap] == -80.0) and np.all(py["loudness"][gap] == -80.0)
    gated = np.flatnonzero((ends > 2.2 * SAMPLE_RATE) & (ends <= 2.6 * SAMPLE_RATE) & (js["loudness"] < GATE_DB))
    assert gated[-1] - gated[0] + 1 == len(gated) and set(gap) <= set(gated)
    for f in (js, py):  # held through the gap: the pitch of the last frame above the gate
        assert np.all(f["f0"][gated] == f["f0"][gated[0] - 1])
    # While the 1024-sample YIN window is already digitally silent and the 2048-sample loudness window still
    # holds the note's tail (above the gate), the pitch is held too (librosa.yin of zeros would say 2000 Hz).
    silent_yin = (ends > 2.2 * SAMPLE_RATE + 1024) & (js["loudness"] >= GATE_DB) & (ends <= 2.6 * SAMPLE_RATE)
    last_heard = np.flatnonzero(ends - 1024 < 2.2 * SAMPLE_RATE)[-1]  # the last YIN window holding some tone
    for f in (js, py):
        assert silent_yin.any() and np.all(f["f0"][silent_yin] == f["f0"][last_heard])
    assert abs(cents(js["f0"][last_heard], 880.0)) < 100  # the glide's end, not 2000 Hz


def test_real_excerpts_equal_python(browser_page):
    excerpts = real_excerpts()
    if not excerpts:
        pytest.skip("no data card with audio and no shipped *_original.wav in results/full")
    for inst, x in excerpts.items():
        py = py_features(x, 1216)
        js = js_features(browser_page[0], x, [HOP])
        assert_close(compare(js, py, f"{inst} test excerpt ({len(x) / SAMPLE_RATE:.1f} s), JS 64, Python 1216"))


def test_block_size_does_not_change_js_output(browser_page):
    x, _ = synthetic(seed=3)
    runs = [js_features(browser_page[0], x, s) for s in ([64], [4096], [64, 192, 640, 128, 2048, 64 * 17])]
    for r in runs[1:]:
        for k in ("f0", "loudness", "voiced"):
            assert np.array_equal(r[k], runs[0][k]), k
    page = browser_page[0]
    with pytest.raises(Exception, match="multiple of 64"):
        page.evaluate("new DDX7Features.CausalFeatures().process(new Float32Array(100))")


# --------------------------------------------------------------------------------- resampler
def _peak_hz(y: np.ndarray, sr: int) -> float:
    """Frequency of the strongest component: Hann-windowed, 16× zero-padded FFT, parabolic peak."""
    n = 16 * len(y)
    s = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    k = int(np.argmax(s))
    a, b, c = np.log(s[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


@pytest.mark.parametrize("rate", [44100, 48000])
def test_resampler_to_16k(browser_page, rate):
    page = browser_page[0]
    for freq, amp in ((1000.0, 0.5), (440.0, 0.8), (5000.0, 0.5)):
        x = (amp * np.sin(2 * np.pi * freq * np.arange(rate) / rate)).astype(np.float32)
        y = _f32(page.evaluate("([b, r]) => t.enc(DDX7Features.resampleTo16k(t.dec(b), r))", [_b64(x), rate]))
        assert len(y) == SAMPLE_RATE
        want = amp * np.sin(2 * np.pi * freq * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
        err = np.abs(y - want)[200:-200].max() / amp  # the ends see the sine start and stop abruptly
        print(f"\nresample {rate} → 16000, {freq:.0f} Hz: max error {err:.2e} of the amplitude, "
              f"peak {_peak_hz(y, SAMPLE_RATE):.3f} Hz")
        assert err < 1e-4
        assert abs(_peak_hz(y, SAMPLE_RATE) - freq) < 0.01
    # above the new Nyquist: removed, not folded down (10 kHz would alias to 6 kHz)
    x = (0.5 * np.sin(2 * np.pi * 10000 * np.arange(rate) / rate)).astype(np.float32)
    y = _f32(page.evaluate("([b, r]) => t.enc(DDX7Features.resampleTo16k(t.dec(b), r))", [_b64(x), rate]))
    alias_db = 20 * np.log10(np.sqrt(np.mean(y[200:-200] ** 2)) / (0.5 / np.sqrt(2)))
    print(f"resample {rate} → 16000: a 10 kHz sine comes out at {alias_db:.1f} dB")
    assert alias_db < -90


def test_resampler_streaming_and_upsampling(browser_page):
    page = browser_page[0]
    x = (0.5 * np.sin(2 * np.pi * 700 * np.arange(48000) / 48000)).astype(np.float32)
    whole, streamed, latency = page.evaluate("""(b) => {
        var x = t.dec(b), r = new DDX7Features.Resampler(48000, 16000), parts = [];
        for (var i = 0; i < x.length; i += 128) parts.push(...r.push(x.subarray(i, i + 128)));
        return [t.enc(DDX7Features.resample(x, 48000, 16000)), t.enc(parts), r.latencySamples()]; }""", _b64(x))
    whole, streamed = _f32(whole), _f32(streamed)
    # in an AudioWorklet's 128-sample quanta: each output sample once its taps are in, == the whole-buffer result
    assert len(whole) - (latency // 3 + 2) <= len(streamed) <= len(whole)
    assert np.array_equal(streamed, whole[:len(streamed)])
    assert latency < 100  # input samples (< 2.1 ms at 48 kHz)
    # 16 kHz → 48 kHz, the model's output to the sound card
    y16 = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)).astype(np.float32)
    up = _f32(page.evaluate("(b) => t.enc(DDX7Features.resample(t.dec(b), 16000, 48000))", _b64(y16)))
    assert len(up) == 48000
    want = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000)
    assert np.abs(up - want)[600:-600].max() < 1e-4
    assert np.array_equal(_f32(page.evaluate("(b) => t.enc(DDX7Features.resample(t.dec(b), 16000, 16000))",
                                             _b64(y16))), y16)


def test_downmix(browser_page):
    page = browser_page[0]
    got = page.evaluate("Array.from(DDX7Features.toMono([new Float32Array([1, 0.5, -1]), "
                        "new Float32Array([0, 0.5, 1])]))")
    assert got == [0.5, 0.5, 0.0]
    got = page.evaluate("""(() => { var c = new OfflineAudioContext(2, 3, 16000), b = c.createBuffer(2, 3, 16000);
        b.copyToChannel(new Float32Array([0.25, 1, 0]), 0); b.copyToChannel(new Float32Array([0.75, 0, 0]), 1);
        return Array.from(DDX7Features.toMono(b)); })()""")
    assert got == [0.5, 0.5, 0.0]


def test_runs_in_an_audio_worklet(browser_page):
    """features.js needs no DOM: loaded into an AudioWorklet from a data: URL (what works from file://), it
    reads a 440 Hz oscillator as Python reads a 440 Hz sine; the worklet writes each frame's f0 / 1000 as output."""
    processor = """
class P extends AudioWorkletProcessor {
  constructor() { super(); this.fx = new DDX7Features.CausalFeatures(); }
  process(inputs, outputs) {
    var x = inputs[0][0], y = outputs[0][0];
    for (var i = 0; i < y.length; i += 64) { this.fx.processFrame(x, i); y.fill(this.fx.f0 / 1000, i, i + 64); }
    return true;
  }
}
registerProcessor('ddx7-features-test', P);"""
    code = FEATURES_JS.read_text(encoding="utf-8") + processor
    out = browser_page[0].evaluate("""async (code) => {
        var ctx = new OfflineAudioContext(1, 16000, 16000);  // UTF-8 source: encodeURIComponent, not btoa
        await ctx.audioWorklet.addModule('data:text/javascript;charset=utf-8,' + encodeURIComponent(code));
        var osc = new OscillatorNode(ctx, {frequency: 440}), node = new AudioWorkletNode(ctx, 'ddx7-features-test');
        osc.connect(node); node.connect(ctx.destination); osc.start();
        return Array.from((await ctx.startRendering()).getChannelData(0)); }""", code)
    f0 = 1000 * np.array(out[8000:])
    want = py_features(np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32), 16000)["f0"][-1]
    assert np.all(cents(f0, want) < 0.1) and cents(want, 440.0) < 5, (f0, want)  # YIN itself reads 440.7 Hz


# ----------------------------------------------------------------------------------- speed
def cpu_model() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = {k.strip(): v for k, v in (line.split(":", 1) for line in info.splitlines()[:30] if ":" in line)}
    get = lambda k: fields.get(k, "?").strip()  # noqa: E731
    return f"{get('model name')} (family {get('cpu family')}, model {get('model')})"


def test_speed(browser_page):
    """Per-block compute time at 4 ms blocks (one frame), measured in the page and printed (speed is read,
    not asserted: a loaded machine must not fail a test)."""
    page, browser, _ = browser_page
    r = page.evaluate("DDX7Features.benchmark({seconds: 10, blockMs: 4})")
    print(f"\nJS causal features, 4 ms blocks: {r['meanMs'] * 1000:.1f} µs per block (p50 {r['p50Ms'] * 1000:.0f}, "
          f"p99 {r['p99Ms'] * 1000:.0f}, max {r['maxMs'] * 1000:.0f} µs, to performance.now()'s 100 µs), "
          f"RTF {r['rtf']:.4f}; Chromium {browser.version}, "
          f"CPU {cpu_model()}, {os.cpu_count()} cores shared with other work")
    assert r["blocks"] == 2500 and r["blockMs"] == 4.0
    assert r["rtf"] > 0
