"""The book's "Play it live" page (ddx7/web/live_page.*) in headless Chromium, opened as a file.

The page is built standalone with ``ddx7.web.live_page.standalone_page`` (the HTML, scripts and exported
weights the book's Sphinx extension writes, in the book's layout) and driven like a reader would:
- a recording (10 s, 44.1 kHz stereo, a melody with glides and vibrato) on the file input → an <audio>
  whose WAV (fetched from its blob URL in the page) follows the input's pitch (librosa.pyin, Python) for
  each Table 1 instrument, and a "download WAV" link;
- an undecodable file, digital silence and white noise → the page's sentences;
- weights missing (a build without one weights script) and a microphone refused → sentences;
- the microphone with Chromium's fake capture (a 48 kHz melody file): the AudioWorklet's output,
  recorded in the page (the "Record" button), follows the input's pitch; the pitch-shift slider moved
  to +12 while it plays raises the output an octave.
Speed: the live path's compute per 4 ms frame (the worklet's own timing) and the offline render time of
the 10 s phrase are printed with the CPU and Chromium version and checked against the issue's targets
(RTF ≤ 0.3 of one core, 10 s in ≤ 3 s). With DDX7_WEB_SPEED_OUT=path the numbers are also written
there (results/full/web_live_speed.json is what the book shows).

Run: ``pytest tests/test_web_live_page.py -s``. Skips when playwright/chromium or the results/full models
are missing.
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from chromium import ARGS, CHROMIUM, open_page, sync_api

from ddx7.paper import table1_pairs
from ddx7.web.live_page import standalone_page

ROOT = Path(__file__).resolve().parents[1]
AUTOPLAY = ["--autoplay-policy=no-user-gesture-required"]
FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
INSTRUMENTS = ["violin", "flute", "trumpet"]
MEASURED: dict = {}
FETCH_B64 = """async (sel) => { const r = await fetch(document.querySelector(sel).src);
  const u = new Uint8Array(await r.arrayBuffer()); let s = "";
  for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
  return btoa(s); }"""
TAP_B64 = """() => { const t = DDX7LivePage.lastTap;
  const enc = (a) => { const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = ""; for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
  return btoa(s); }; return {rate: t.rate, input: enc(t.input), output: enc(t.output)}; }"""


def melody(seconds: float, sr: int, seed: int = 0, notes=(0, 4, 7, 5, 2, 9), note_s: float = 0.5) -> tuple:
    """A bowed-string-like test tone: 20 harmonics (1/k), notes from C4 every ``note_s`` seconds joined by
    60 ms glides, 5.5 Hz ±25-cent vibrato, noise at −60 dBFS. Returns (audio, true f0 per sample)."""
    t = np.arange(int(seconds * sr)) / sr
    knots_t, knots_v = [], []
    for i in range(int(np.ceil(seconds / note_s)) + 1):
        knots_t += [i * note_s, i * note_s + note_s - 0.06]
        knots_v += [notes[i % len(notes)]] * 2
    f = 261.63 * 2 ** (np.interp(t, knots_t, knots_v) / 12 + 0.25 / 12 * np.sin(2 * np.pi * 5.5 * t))
    ph = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 21))
    x = 0.4 * x / np.abs(x).max() + np.random.default_rng(seed).normal(0, 1e-3, len(t))
    return x.astype(np.float32), f


def pyin(x: np.ndarray, sr: int) -> np.ndarray:
    """f0 (Hz, NaN where unvoiced) every 16 ms."""
    import librosa

    if sr != 16000:
        x = librosa.resample(np.asarray(x, np.float64), orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    f0, voiced, _ = librosa.pyin(np.asarray(x, np.float64), fmin=80, fmax=1500, sr=16000, frame_length=1024,
                                 hop_length=256)
    return np.where(voiced, f0, np.nan)


def follows(f_in: np.ndarray, f_out: np.ndarray, max_lag: int = 8) -> dict:
    """Cents out − in on frames voiced in both, at the lag (0 … max_lag frames of 16 ms, output later) where
    the median absolute error is least (the causal features and the live buffers delay the output)."""
    best = None
    for lag in range(max_lag + 1):
        a, b = f_in[: len(f_in) - lag], f_out[lag: lag + len(f_in) - lag]
        n = min(len(a), len(b))
        both = np.isfinite(a[:n]) & np.isfinite(b[:n])
        if both.sum() < 20:
            continue
        c = 1200 * np.log2(b[:n][both] / a[:n][both])
        r = {"lag_ms": 16 * lag, "frames": int(both.sum()), "in_voiced": int(np.isfinite(a).sum()),
             "median_abs_cents": float(np.median(np.abs(c))), "median_cents": float(np.median(c))}
        if best is None or r["median_abs_cents"] < best["median_abs_cents"]:
            best = r
    assert best is not None, "no frames voiced in both input and output"
    return best


def _wav_bytes(x: np.ndarray, sr: int) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def cpu_model() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in info.splitlines()[:30] if ":" in ln)}
    return f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The standalone page (book layout) and the test signals."""
    sync_api()
    runs = table1_pairs("full")
    if not all((ROOT / "results" / "full" / run / "model.pt").is_file() for _, run in runs.values()):
        pytest.skip("the Table 1 DDX7 models are not all in results/full")
    out = tmp_path_factory.mktemp("live_page")
    page = standalone_page(out / "site", "full", ROOT)
    import soundfile

    x, _ = melody(10.0, 44100)
    soundfile.write(out / "phrase.wav", np.stack([x, 0.7 * x], 1), 44100, subtype="PCM_16")  # stereo
    mic, _ = melody(4.0, 48000, seed=1, notes=(0, 5, 9, 7), note_s=0.5)  # the fake capture loops it
    soundfile.write(out / "mic.wav", mic, 48000, subtype="PCM_16")
    (out / "not_audio.wav").write_bytes(b"RIFF....WAVEthis is not audio at all" * 20)
    soundfile.write(out / "silence.wav", np.zeros(32000, np.float32), 16000, subtype="PCM_16")
    noise = np.random.default_rng(2).normal(0, 0.1, 2 * 22050).astype(np.float32)
    soundfile.write(out / "noise.wav", noise, 22050, subtype="PCM_16")
    return out, page


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    out, _ = site
    with sync_playwright() as pw:
        mic = [f"--use-file-for-fake-audio-capture={out / 'mic.wav'}"]
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + AUTOPLAY + FAKE_MIC + mic)
        yield b
        b.close()


def open_live(browser, path: Path, messages: list | None = None):
    return open_page(browser, path, "window.DDX7LivePage && (DDX7LivePage.state.model || DDX7LivePage.lastError)",
                     messages, timeout=60000)


@pytest.fixture(scope="module")
def page(site, browser):
    messages: list = []
    pg = open_live(browser, site[1], messages)
    yield pg, messages
    pg.close()


def choose(pg, inst: str):
    pg.select_option("#ddx7l-instrument", inst)
    pg.wait_for_function("(i) => DDX7LivePage.state.model && DDX7LivePage.state.inst === i && "
                         "DDX7LivePage.state.model.header.instrument === i", arg=inst, timeout=60000)


def give_file(pg, path: Path):
    """Hand the file input a file; wait for the render or the error sentence."""
    pg.evaluate("DDX7LivePage.last = null; DDX7LivePage.lastError = null")
    pg.set_input_files("#ddx7l-file", str(path))
    pg.wait_for_function("DDX7LivePage.last || DDX7LivePage.lastError", timeout=120000)
    return pg.evaluate("DDX7LivePage.lastError")


# ----------------------------------------------------------------------------- a recording


def test_page_loads_with_three_instruments(page):
    pg, messages = page
    opts = pg.eval_on_selector_all("#ddx7l-instrument option", "os => os.map(o => o.value + ':' + o.textContent)")
    assert opts == [f"{i}:{i}" for i in INSTRUMENTS]
    assert "Ready" in pg.inner_text("#ddx7l-status")
    assert pg.inner_text("#ddx7l-ua") == pg.evaluate("navigator.userAgent")
    assert messages == []


@pytest.mark.parametrize("inst", INSTRUMENTS)
def test_file_output_follows_input_pitch(site, page, inst):
    import soundfile

    out, _ = site
    pg, messages = page
    choose(pg, inst)
    assert give_file(pg, out / "phrase.wav") is None, pg.inner_text("#ddx7l-status")
    last = pg.evaluate("DDX7LivePage.last")
    wav = base64.b64decode(pg.evaluate(FETCH_B64, "#ddx7l-audio"))
    y, sr = soundfile.read(io.BytesIO(wav), dtype="float32")
    assert sr == 16000 and y.ndim == 1 and abs(len(y) - 160000) <= 64
    assert pg.get_attribute("#ddx7l-download", "href") == pg.get_attribute("#ddx7l-audio", "src")
    assert pg.get_attribute("#ddx7l-download", "download") == f"phrase-ddx7-{inst}.wav"
    assert pg.is_visible("#ddx7l-download") and "download WAV" in pg.inner_text("#ddx7l-download")
    x, xsr = soundfile.read(out / "phrase.wav", dtype="float32")
    f_in = pyin(x.mean(axis=1), xsr)
    assert np.nanmax(f_in) / np.nanmin(f_in) > 2 ** (6 / 12)  # a melody: following it is not trivial
    r = follows(f_in, pyin(y, sr))
    rms = float(np.sqrt(np.mean(y ** 2)))
    print(f"\n{inst} ({last['run']}), 10 s file: output pitch vs input {json.dumps(r)}, output RMS {rms:.3f}, "
          f"peak {last['peak']:.2f}; rendered in {last['renderMs'] / 1000:.2f} s "
          f"(features {last['featuresMs'] / 1000:.2f} s, model {last['modelMs'] / 1000:.2f} s)")
    assert rms > 0.01
    assert r["frames"] > 0.6 * r["in_voiced"] and r["median_abs_cents"] < 50, r
    MEASURED.setdefault("offline", {})[inst] = last
    assert messages == []


def test_rerender_uses_new_settings(page):
    """The offline path reads the controls at the next render: +12 semitones → an octave up."""
    import soundfile

    pg, _ = page
    choose(pg, "violin")
    if pg.evaluate("!DDX7LivePage.state.features"):
        pytest.skip("needs the file test first")
    before = pyin(soundfile.read(io.BytesIO(base64.b64decode(pg.evaluate(FETCH_B64, "#ddx7l-audio"))))[0], 16000)
    pg.fill("#ddx7l-pitch", "12")
    pg.dispatch_event("#ddx7l-pitch", "input")
    pg.evaluate("DDX7LivePage.last = null")
    pg.click("#ddx7l-rerender")
    pg.wait_for_function("DDX7LivePage.last", timeout=60000)
    after = pyin(soundfile.read(io.BytesIO(base64.b64decode(pg.evaluate(FETCH_B64, "#ddx7l-audio"))))[0], 16000)
    pg.click("#ddx7l-reset")
    r = follows(before, after, max_lag=0)
    print(f"\nre-rendered at +12 semitones: {json.dumps(r)}")
    assert abs(r["median_cents"] - 1200) < 60, r


@pytest.mark.parametrize("name, words", [("not_audio.wav", "cannot decode"), ("silence.wav", "No pitch found"),
                                         ("noise.wav", "No pitch found")])
def test_file_errors_in_words(site, page, name, words):
    pg, _ = page
    err = give_file(pg, site[0] / name)
    shown = pg.inner_text("#ddx7l-status")
    print(f"\n{name}: {shown}")
    assert err is not None and words in err and shown == err and name in shown
    assert "error" in pg.get_attribute("#ddx7l-status", "class")


def test_missing_weights_in_words(site, browser):
    """A build where a weights script is absent: choosing that instrument says so in the page."""
    out, page_path = site
    broken = out / "broken"
    if not broken.exists():
        shutil.copytree(page_path.parents[1], broken)
    run = table1_pairs("full")["flute"][1]
    (broken / "_static" / "live" / f"ddx7_weights_{run}.js").unlink()
    pg = open_live(browser, broken / "book" / "live.html")
    pg.select_option("#ddx7l-instrument", "flute")
    pg.wait_for_function("DDX7LivePage.lastError", timeout=30000)
    msg = pg.inner_text("#ddx7l-status")
    print(f"\nflute weights removed: {msg}")
    assert "weights are missing" in msg and f"ddx7_weights_{run}.js" in msg
    pg.close()


def test_no_model_in_words(site, browser):
    """A book built for a profile whose runs were never trained says so instead of offering a player."""
    empty = site[0] / "empty"
    page_path = standalone_page(empty / "site", "smoke", empty)  # root without results/: no model.pt
    pg = open_live(browser, page_path)
    msg = pg.inner_text("#ddx7l-status")
    print(f"\nno trained model: {msg}")
    assert "No model is available in this book" in msg and "error" in pg.get_attribute("#ddx7l-status", "class")
    assert "(no model)" in pg.inner_text("#ddx7l-instrument")
    pg.close()


def test_microphone_refused_in_words(site, browser):
    """A second browser whose (fake) permission prompt says no."""
    deny = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream=deny"]
    b = browser.browser_type.launch(executable_path=CHROMIUM, args=ARGS + AUTOPLAY + deny)
    try:
        pg = open_live(b, site[1])
        pg.click("#ddx7l-mic")
        pg.wait_for_function("DDX7LivePage.lastError", timeout=30000)
        msg = pg.inner_text("#ddx7l-status")
        print(f"\nmicrophone denied: {msg}")
        assert "microphone was refused" in msg
        assert pg.is_enabled("#ddx7l-mic") and not pg.is_enabled("#ddx7l-stop")
    finally:
        b.close()


# ----------------------------------------------------------------------------- the microphone


def record(pg, seconds: float) -> tuple:
    pg.evaluate("DDX7LivePage.lastTap = null")
    pg.click("#ddx7l-record")
    time.sleep(seconds)
    pg.click("#ddx7l-record")
    pg.wait_for_function("DDX7LivePage.lastTap", timeout=30000)
    t = pg.evaluate(TAP_B64)
    dec = lambda b: np.frombuffer(base64.b64decode(b), "<f4")  # noqa: E731
    return dec(t["input"]), dec(t["output"]), t["rate"]


@pytest.fixture(scope="module")
def mic(page):
    pg, _ = page
    choose(pg, "violin")
    pg.click("#ddx7l-reset")
    pg.evaluate("DDX7LivePage.lastError = null")
    pg.click("#ddx7l-mic")
    pg.wait_for_function("DDX7LivePage.liveStats && DDX7LivePage.liveStats.frames > 500 || DDX7LivePage.lastError",
                         timeout=60000)
    assert pg.evaluate("DDX7LivePage.lastError") is None, pg.inner_text("#ddx7l-status")
    yield pg
    pg.click("#ddx7l-stop")


def test_microphone_output_follows_input(mic):
    pg = mic
    x, y, rate = record(pg, 2.5)
    stats = pg.evaluate("DDX7LivePage.liveStats")
    f_in = pyin(x, rate)
    assert np.nanmax(f_in) / np.nanmin(f_in) > 2 ** (6 / 12)  # the recording holds several notes
    r = follows(f_in, pyin(y, rate))
    rms = float(np.sqrt(np.mean(y ** 2)))
    print(f"\nmicrophone (fake capture, context {rate} Hz), {len(y) / rate:.2f} s recorded: output pitch vs input "
          f"{json.dumps(r)}, output RMS {rms:.3f}; live stats {json.dumps(stats)}")
    assert len(x) == len(y) and len(y) > 1.5 * rate and np.sqrt(np.mean(x ** 2)) > 0.05
    assert rms > 0.01 and np.abs(y).max() <= 1.5
    assert r["frames"] > 0.5 * r["in_voiced"] and r["median_abs_cents"] < 50, r
    assert "Live at 4 ms frames" in pg.inner_text("#ddx7l-live-stats")
    assert pg.get_attribute("#ddx7l-rec-download", "href").startswith("blob:")
    MEASURED["live"] = stats


def test_pitch_shift_acts_live(mic):
    pg = mic
    pg.fill("#ddx7l-pitch", "12")
    pg.dispatch_event("#ddx7l-pitch", "input")
    assert pg.inner_text("#ddx7l-pitch-out") == "+12 semitones"
    time.sleep(0.6)  # the envelope of the TCN settles on the new input (receptive field 0.5 s)
    x, y, rate = record(pg, 2.5)
    pg.click("#ddx7l-reset")
    r = follows(pyin(x, rate), pyin(y, rate))
    print(f"\nmicrophone at +12 semitones, live: output pitch vs input {json.dumps(r)}")
    assert r["frames"] > 0.5 * r["in_voiced"] and abs(r["median_cents"] - 1200) < 60, r


# ----------------------------------------------------------------------------- speed


def test_speed(page, browser):
    """The live path's compute per 4 ms frame (worklet, and the page's main-thread benchmark) and the
    offline 10 s render: printed, and written to DDX7_WEB_SPEED_OUT when set (the record the page shows).
    Read against the issue's targets (live ≤ 0.3 of a core, 10 s offline ≤ 3 s), not asserted: a loaded
    machine must not fail a test."""
    pg, _ = page
    if "live" not in MEASURED or "violin" not in MEASURED.get("offline", {}):
        pytest.skip("needs the file and microphone tests first")
    choose(pg, "violin")
    bench = pg.evaluate("DDX7LivePage.benchmark()")
    live, off = MEASURED["live"], MEASURED["offline"]["violin"]
    rec = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "cpu": cpu_model(), "cores": os.cpu_count(),
           "chromium": browser.version, "user_agent": off["userAgent"], "instrument": "violin", "run": off["run"],
           "live_rtf": round(live["rtf"], 4), "live_frames": live["frames"], "live_underruns": live["underruns"],
           "live_context_hz": live["rate"], "bench_rtf": round(bench["rtf"], 4),
           "bench_rtf_p99": round(bench["rtfP99"], 4),
           "offline_seconds": off["seconds"], "offline_render_s": round(off["renderMs"] / 1000, 3),
           "offline_by_instrument_s": {k: round(v["renderMs"] / 1000, 3) for k, v in MEASURED["offline"].items()},
           "load_avg_1min": round(os.getloadavg()[0], 2)}  # other work on the machine while measured
    print(f"\nspeed: {json.dumps(rec, indent=1)}")
    if os.environ.get("DDX7_WEB_SPEED_OUT"):
        Path(os.environ["DDX7_WEB_SPEED_OUT"]).write_text(json.dumps(rec, indent=1) + "\n")
    assert rec["live_rtf"] > 0 and rec["bench_rtf"] > 0 and rec["offline_render_s"] > 0


# ----------------------------------------------------------------------------- the book's wiring (no browser)


def test_book_wiring():
    """_toc.yml puts the page right after the interventions chapter, book/live.md includes the one HTML
    fragment, and _config.yml loads the extension that writes the page's assets."""
    import yaml

    from ddx7.book import toc_files

    files = toc_files(ROOT)
    assert files[files.index("book/executed/04_interventions") + 1] == "book/live"
    md = (ROOT / "book" / "live.md").read_text()
    assert "```{raw} html\n:file: ../ddx7/web/live_page.html\n```" in md
    assert (ROOT / "book" / "../ddx7/web/live_page.html").resolve() == ROOT / "ddx7" / "web" / "live_page.html"
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "ddx7.web.live_page" in cfg["sphinx"]["extra_extensions"]


def test_sphinx_hook_exports_the_profiles_models(tmp_path, monkeypatch):
    """What `make book` runs when the HTML is written: the assets under _static/live/, the weights of the
    profile's Table 1 runs (results/full here), and the missing ones named in words for another profile."""
    from types import SimpleNamespace

    from ddx7.web import live_page

    runs = table1_pairs("full")
    have = {i for i, (_, r) in runs.items() if (ROOT / "results" / "full" / r / "model.pt").is_file()}
    monkeypatch.setenv(live_page.PROFILE_ENV, "full")
    app = SimpleNamespace(srcdir=str(ROOT), outdir=str(tmp_path), builder=SimpleNamespace(format="html"))
    live_page._build_finished(app, None)
    static = tmp_path / "_static" / "live"
    for name in ("features.js", "ddx7_model.js", "live_page.js", "ddx7_worklet_source.js", "live_manifest.js"):
        assert (static / name).is_file(), name
    man = json.loads((static / "live_manifest.js").read_text().split(" = ", 1)[1].rstrip().rstrip(";"))
    assert man["profile"] == "full" and [i["instrument"] for i in man["instruments"]] == list(runs)
    for item in man["instruments"]:
        if item["instrument"] in have:
            assert (static / item["script"]).stat().st_size == item["bytes"] <= 1_000_000
        else:
            assert "was not there" in item["missing"]
    src = (static / "ddx7_worklet_source.js").read_text()
    assert "registerProcessor(\\\"ddx7-live\\\"" in src and "DDX7Features" in src and "DDX7Live" in src
    # a profile without trained models: every instrument says so, and the page gets a note
    empty = live_page.live_manifest(tmp_path / "none", "smoke", tmp_path)
    assert all("model.pt was not there" in i["missing"] for i in empty["instruments"])
    assert empty["note"].startswith("No model is available in this book")
