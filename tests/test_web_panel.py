"""The kernel-free intervention panel (ddx7.web): encoding in Python, and the panel in headless Chromium.

ddx7/web/fm_panel.js is a JavaScript copy of the synth in ddx7/synth/fm.py and sampling.py (``upsample_frames``,
``phase_sum``/``accumulate_phase``, ``fm_operators``, ``mix_carriers``: ``FMSynth.get_signal``) and
of ``ddx7.models.reverb.fft_convolve``; these tests are what keeps the copy equal to the original:
``test_js_fm_equals_python`` renders one panel per patch (every graph in ``PATCHES``) in the browser
and compares it sample for sample with ``FMSynth.get_signal`` on the same embedded controls, with the
trained and with changed ratios and envelope gains; ``test_reverb_equals_python`` does the reverb.

Browser tests load a static page with these panels over file:// and also check: no console errors,
the controls are drawn, ratio / envelope-gain changes (through the UI) give non-silent, different
audio, presets work, panels are independent, and the WebAudio path (AudioBuffer →
OfflineAudioContext) renders the same samples. They skip with a reason when playwright or
chromium is missing.
"""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest
from chromium import ARGS, CHROMIUM, open_page, sync_api

from ddx7 import FRAME_RATE, HOP, SAMPLE_RATE
from ddx7.synth import PATCHES, get_patch, modulator_gains, modulator_ratios
from ddx7.web import intervention_panel, paper_presets
from ddx7.web.panel import _decode, _encode

TOL = 1e-4  # max abs difference JS vs Python (measured: ~1e-6; Python uses float32 phases)
# a panel for every patch the two main panels (violin-6osc, 2osc) leave out: JS == Python on every graph
OTHER_PATCHES = [p for p in PATCHES if p not in ("violin-6osc", "2osc")]


def random_controls(patch, imax, seconds, seed):
    """Seeded smooth random controls: f0 random walk (150–600 Hz), envelopes in [0, max_ol]."""
    rng = np.random.default_rng(seed)
    t = int(round(seconds * FRAME_RATE))
    f0 = 220.0 * 2 ** (np.cumsum(rng.normal(0, 0.01, t)) + rng.uniform(-0.5, 1.0))
    f0 = np.clip(f0, 150, 600)
    k = get_patch(patch).n_ops
    z = np.cumsum(rng.normal(0, 0.3, (t, k)), axis=0)
    env = (imax / (2 * math.pi)) / (1 + np.exp(-z)) * np.clip(np.arange(t) / 10, 0, 1)[:, None]
    return f0.astype(np.float32), env.astype(np.float32)


# ----------------------------------------------------------------------------- Python only
def test_encoding_roundtrip():
    a = np.random.default_rng(0).uniform(0, 3, (50, 4))
    assert np.array_equal(_decode(_encode(a, "f32")), a.astype(np.float32).astype(np.float64))
    q = _decode(_encode(a, "u16"))
    assert np.abs(q - a).max() <= a.max(axis=0).max() / 65535 * 0.51
    ir = np.random.default_rng(1).normal(0, 0.1, 300)
    assert np.abs(_decode(_encode(ir, "i16")) - ir).max() <= np.abs(ir).max() / 32767 * 0.51


def test_panel_validates_inputs():
    f0, env = random_controls("2osc", 2.0, 0.2, 0)
    with pytest.raises(ValueError, match="operators"):
        intervention_panel(f0, env[:, :1], "2osc", 2.0)
    with pytest.raises(ValueError, match="frames"):
        intervention_panel(f0[:-1], env, "2osc", 2.0)
    with pytest.raises(ValueError, match="positive"):
        intervention_panel(np.zeros_like(f0), env, "2osc", 2.0)
    with pytest.raises(ValueError, match="max_seconds"):
        intervention_panel(f0, env, "2osc", 2.0, max_seconds=0.1)
    p = intervention_panel(f0[None], env[None], "2osc", "2pi")  # batch dim of 1 is accepted
    assert p.data["max_ol"] == pytest.approx(1.0) and p._repr_html_() == p.html


def test_page_weight_scales_with_duration():
    """Bytes per second of excerpt: (1 + K)·1000 raw float32 → ·4/3 in base64; 16-bit about half."""
    def size(sec, patch, precision):
        f0, env = random_controls(patch, 2.0, sec, 0)
        return intervention_panel(f0, env, patch, 2.0, precision=precision, element_id="x").nbytes

    for patch, k in (("violin-6osc", 6), ("2osc", 2)):
        per_s = (size(4.0, patch, "float32") - size(2.0, patch, "float32")) / 2
        assert per_s == pytest.approx((1 + k) * 1000 * 4 / 3, rel=0.02)
        per_s16 = (size(4.0, patch, "16bit") - size(2.0, patch, "16bit")) / 2
        assert per_s16 == pytest.approx((4 + 2 * k) * 250 * 4 / 3, rel=0.02)


def test_presets_are_the_papers_interventions():
    pv = {p["label"].split(":")[0]: p for p in paper_presets("violin-6osc")}
    assert pv["Violin"]["ratios"] == modulator_ratios("violin-6osc", 1, 3)
    assert pv["Flute"]["env_gain"] == modulator_gains("violin-6osc", 2.0)
    p2 = {p["label"].split(":")[0]: p for p in paper_presets("2osc")}
    assert p2["Trumpet"]["ratios"] == [1.0, math.sqrt(2)]
    assert p2["Reset"]["ratios"] is None and p2["Reset"]["env_gain"] is None


def test_panel_from_model_exports_what_the_model_renders():
    """Envelopes, patch, Imax and the reverb's impulse response: the panel's reference == model(f0, loudness)."""
    import torch

    from ddx7.models import DDX7
    from ddx7.web import panel_from_model

    torch.manual_seed(0)
    model = DDX7("2osc", "2pi", hidden=16)
    with torch.no_grad():
        model.reverb.wet.fill_(0.1)
    f0, _ = random_controls("2osc", 2.0, 0.5, 0)
    ld = np.linspace(-50, -10, len(f0)).astype(np.float32)
    panel = panel_from_model(model, f0, ld, reverb_trim_db=None)
    assert model.training  # restored
    with torch.no_grad():
        model.eval()
        want = model(torch.tensor(f0)[None], torch.tensor(ld)[None])[0].double().numpy()
    assert np.abs(panel.reference(reverb=True) - want).max() < 1e-5
    assert panel.data["initial"]["reverb"] and len(panel.controls()["reverb_ir"]) == SAMPLE_RATE
    over = DDX7("2osc", "2pi", hidden=16, oversample=2).eval()
    over.load_state_dict(model.state_dict())
    panel = panel_from_model(over, f0, ld, reverb_trim_db=None)
    with torch.no_grad():
        want = over(torch.tensor(f0)[None], torch.tensor(ld)[None])[0].double().numpy()
    assert panel.data["oversample"] == 2 and np.abs(panel.reference(reverb=True) - want).max() < 1e-5
    wide = DDX7("2osc", "2pi", hidden=16, oversample=2, decimation={"cutoff": 0.97, "taps_per_factor": 96}).eval()
    wide.load_state_dict(model.state_dict())
    panel = panel_from_model(wide, f0, ld, reverb_trim_db=None)
    with torch.no_grad():
        want = wide(torch.tensor(f0)[None], torch.tensor(ld)[None])[0].double().numpy()
    assert panel.data["decimation_kernel"]["shape"] == [192] and panel.data["decimation"] == wide.synth.decimation
    assert np.abs(panel.reference(reverb=True) - want).max() < 1e-5


# ----------------------------------------------------------------------------- browser
AUTOPLAY = ["--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def page_with_panels(tmp_path_factory):
    api = sync_api()
    f0a, enva = random_controls("violin-6osc", 2.0, 2.0, seed=1)
    f0b, envb = random_controls("2osc", 2 * math.pi, 1.5, seed=2)
    rng = np.random.default_rng(3)
    ir = rng.uniform(-1, 1, 4000) * 0.3 * np.exp(-np.arange(4000) / 800)
    ir[0] = 1.0
    orig = 0.5 * np.sin(2 * np.pi * 220 * np.arange(len(f0b) * HOP) / SAMPLE_RATE)
    panels = {
        "violin": intervention_panel(f0a, enva, "violin-6osc", 2.0, title="Violin (random envelopes)"),
        "two": intervention_panel(f0b, envb, "2osc", "2pi", title="2osc (random envelopes)", reverb_ir=ir,
                                  reverb_on=False, original_audio=orig, precision="16bit"),
    }
    # model.oversample: the same violin controls rendered at 2 × fs and decimated in the page
    panels["oversampled"] = intervention_panel(f0a, enva, "violin-6osc", 2.0, title="Violin, oversampled",
                                               oversample=2)
    for i, patch in enumerate(OTHER_PATCHES):
        f0, env = random_controls(patch, 2 * math.pi, 0.5, seed=10 + i)
        panels[patch] = intervention_panel(f0, env, patch, "2pi", title=patch)
    html = "\n".join(p.html for p in panels.values())
    path = tmp_path_factory.mktemp("web") / "panels.html"
    head = "<head><meta charset='utf-8'><title>t</title></head>"
    path.write_text(f"<!DOCTYPE html><html>{head}<body>{html}</body></html>")
    messages = []
    ids = [p.element_id for p in panels.values()]
    ready = f"{ids!r}.every(id => window.ddx7Panels[id] && window.ddx7Panels[id].ready)"
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + AUTOPLAY)
        page = open_page(browser, path, ready, messages, timeout=15000, viewport={"width": 1280, "height": 900})
        yield page, panels, messages
        browser.close()


def js_render(page, panel, settings=None, offline_opts=None) -> np.ndarray:
    """Render in the page (JS synth, or the OfflineAudioContext path) → numpy float32."""
    import json

    s = json.dumps(settings or {})
    p = f"window.ddx7Panels[{json.dumps(panel.element_id)}]"
    if offline_opts is None:
        b64 = page.evaluate(f"window.ddx7Panel.toBase64({p}.render({s}))")
    else:
        render = f"{p}.renderOffline({s}, {json.dumps(offline_opts)})"
        b64 = page.evaluate(f"{render}.then(x => window.ddx7Panel.toBase64(x))")
    return np.frombuffer(base64.b64decode(b64), "<f4").astype(np.float64)


def current(page, panel) -> np.ndarray:
    import json

    return np.frombuffer(base64.b64decode(page.evaluate(
        f"window.ddx7Panel.toBase64(window.ddx7Panels[{json.dumps(panel.element_id)}].current)")), "<f4")


def wait_rendered(page, panel, before: int):
    page.wait_for_function(f"window.ddx7Panels['{panel.element_id}'].rendered > {before}")


def rendered(page, panel) -> int:
    return page.evaluate(f"window.ddx7Panels['{panel.element_id}'].rendered")


def test_page_loads_without_console_errors(page_with_panels):
    page, panels, messages = page_with_panels
    assert messages == []


def test_panels_render_controls(page_with_panels):
    page, panels, _ = page_with_panels
    for p in panels.values():
        k = p.data["patch"]["n_ops"]
        root = f"#{p.element_id}"
        assert page.locator(f"{root} .ddx7-fallback").count() == 0
        assert page.locator(f"{root} input[type=range]").count() == 2 * k
        assert page.locator(f"{root} input[type=number]").count() == 2 * k
        assert page.locator(f"{root} [data-role=preset]").count() == 4
        assert page.locator(f"{root} [data-role=play-current]").is_visible()
        assert page.locator(f"{root} svg.ddx7-graph rect").count() == k
        # the spectrogram canvas has been drawn (not all one colour)
        spread = page.evaluate(f"""(() => {{ const c = document.querySelector('{root} canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lo = 255, hi = 0;
            for (let i = 0; i < d.length; i += 4) {{ lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }}
            return hi - lo; }})()""")
        assert spread > 50
    assert page.locator(f"#{panels['two'].element_id} [data-role=play-original]").count() == 1
    assert page.locator(f"#{panels['violin'].element_id} [data-role=play-original]").count() == 0


@pytest.mark.parametrize("name", ["violin", "two", "oversampled"] + OTHER_PATCHES)
def test_js_fm_equals_python(page_with_panels, name):
    """The JavaScript copy of the FM synth (fm_panel.js renderFM) == FMSynth.get_signal, per patch."""
    page, panels, _ = page_with_panels
    p = panels[name]
    x, ref = js_render(page, p), p.reference()
    assert x.shape == ref.shape and np.abs(ref).max() > 0.05
    assert np.abs(x - ref).max() <= TOL
    patch = p.data["patch"]["name"]
    ratios, gains = modulator_ratios(patch, 1, 3), [0.5 + 0.25 * k for k in range(len(p.data["patch"]["ratios"]))]
    x2 = js_render(page, p, {"ratios": ratios, "envGain": gains})
    assert np.abs(x2 - p.reference(ratios, gains)).max() <= TOL


def test_the_oversampled_panel_is_not_the_plain_render(page_with_panels):
    page, panels, _ = page_with_panels
    over, plain = js_render(page, panels["oversampled"]), js_render(page, panels["violin"])
    assert panels["oversampled"].data["oversample"] == 2 and np.abs(over - plain).max() > 0.01


def test_reverb_equals_python(page_with_panels):
    page, panels, _ = page_with_panels
    p = panels["two"]
    wet, ref = js_render(page, p, {"reverb": True}), p.reference(reverb=True)
    assert np.abs(wet - ref).max() <= TOL
    assert np.abs(wet - p.reference()).max() > 0.01  # the reverb does something


def test_ratio_change_in_ui_changes_audio(page_with_panels):
    page, panels, _ = page_with_panels
    p = panels["violin"]
    unchanged = current(page, p).copy()
    n = rendered(page, p)
    page.fill(f"#{p.element_id} [data-role=ratio-number][data-op='1']", "3")  # OP2 (modulator of OP1)
    wait_rendered(page, p, n)
    changed = current(page, p)
    settings = page.evaluate(f"window.ddx7Panels['{p.element_id}'].settings()")
    assert settings["ratios"] == [1, 3, 1, 1, 3, 14]
    assert np.sqrt(np.mean(changed.astype(np.float64) ** 2)) > 1e-2  # not silent
    assert np.abs(changed - unchanged).max() > 1e-2  # and different
    assert np.abs(changed - p.reference(ratios=settings["ratios"])).max() <= TOL
    page.click(f"#{p.element_id} [data-role=preset]:has-text('Reset')")
    page.wait_for_function(f"window.ddx7Panels['{p.element_id}'].settings().ratios[1] === 1")


def test_env_gain_slider_changes_audio(page_with_panels):
    page, panels, _ = page_with_panels
    p = panels["two"]
    unchanged = current(page, p).copy()
    n = rendered(page, p)
    page.eval_on_selector(f"#{p.element_id} [data-role=gain-range][data-op='1']",
                          "e => { e.value = '2.5'; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    wait_rendered(page, p, n)
    assert page.input_value(f"#{p.element_id} [data-role=gain-number][data-op='1']") == "2.5"
    changed = current(page, p)
    assert np.sqrt(np.mean(changed.astype(np.float64) ** 2)) > 1e-2
    assert np.abs(changed - unchanged).max() > 1e-2
    assert np.abs(changed - p.reference(env_gain=[1.0, 2.5])).max() <= TOL
    page.click(f"#{p.element_id} [data-role=preset]:has-text('Reset')")


def test_presets_and_independence(page_with_panels):
    page, panels, _ = page_with_panels
    a, b = panels["violin"], panels["two"]
    before_b = page.evaluate(f"window.ddx7Panels['{b.element_id}'].settings()")
    page.click(f"#{a.element_id} [data-role=preset]:has-text('Violin')")
    sa = page.evaluate(f"window.ddx7Panels['{a.element_id}'].settings()")
    assert sa["ratios"] == modulator_ratios("violin-6osc", 1, 3)
    page.wait_for_selector(f"#{a.element_id} [data-role=preset][aria-pressed=true]:has-text('Violin')")
    page.click(f"#{a.element_id} [data-role=preset]:has-text('Flute')")
    sa = page.evaluate(f"window.ddx7Panels['{a.element_id}'].settings()")
    assert sa["envGain"] == modulator_gains("violin-6osc", 2.0) and sa["ratios"] == [1, 1, 1, 1, 3, 14]
    assert page.evaluate(f"window.ddx7Panels['{b.element_id}'].settings()") == before_b  # other panel untouched
    page.click(f"#{b.element_id} [data-role=preset]:has-text('Trumpet')")
    settings = "window.ddx7Panels['{}'].settings()"
    assert page.evaluate(settings.format(b.element_id))["ratios"] == pytest.approx([1, math.sqrt(2)])
    assert page.evaluate(settings.format(a.element_id))["envGain"] == modulator_gains("violin-6osc", 2.0)
    for p in (a, b):
        page.click(f"#{p.element_id} [data-role=preset]:has-text('Reset')")


def test_webaudio_path_offline(page_with_panels):
    """AudioBuffer → BufferSource → Gain → OfflineAudioContext: the samples come out unchanged."""
    page, panels, _ = page_with_panels
    p = panels["two"]
    raw = {"fade": False, "normalize": False}
    for settings in ({}, {"ratios": [1, math.sqrt(2)]}):
        off, x = js_render(page, p, settings, raw), js_render(page, p, settings)
        assert np.abs(off - x).max() <= 1e-6 and np.abs(off).max() > 0.05
    played = js_render(page, p, {"ratios": [1, 3]}, {})  # as played: fades, never louder than 0.99
    assert 0.05 < np.abs(played).max() <= 0.99 + 1e-6 and played[0] == 0
    assert np.abs(played - js_render(page, p, {}, {})).max() > 1e-2


def test_play_buttons(page_with_panels):
    page, panels, messages = page_with_panels
    p = panels["two"]
    root = f"#{p.element_id}"
    page.click(f"{root} [data-role=play-current]")
    page.wait_for_function(f"document.querySelector('{root}').dataset.playing === 'current'")
    page.click(f"{root} [data-role=play-original]")
    page.wait_for_function(f"document.querySelector('{root}').dataset.playing === 'original'")
    page.click(f"{root} [data-role=play-original]")  # second click stops
    page.wait_for_function(f"document.querySelector('{root}').dataset.playing === undefined")
    assert messages == []
