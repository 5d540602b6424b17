"""An intervention panel that plays without a kernel: the model's controls + FM synth in JavaScript.

``intervention_panel(f0_hz, envelopes, patch, imax)`` returns an :class:`InterventionPanel`; put it
as the last expression of a cell (or ``display(panel)``) and the notebook, the executed notebook and
the Jupyter Book page all show the same HTML: sliders and number boxes for every operator's ratio
and envelope gain, the paper's interventions as buttons, Play / Unchanged / Original, and a
spectrogram of the current settings. The audio is computed in the browser from the exported
controls with the equations of :mod:`ddx7.synth.fm` (tested sample for sample against
``FMSynth.get_signal``), so changing a ratio is heard at once, also from ``file://``.

Page weight (base64 in the HTML, 250 frames/s): ``precision="float32"`` costs (1 + K) · 1333 bytes per
second of excerpt (K operators: 9.3 KB/s for 6, 4.0 KB/s for 2), ``"16bit"`` (envelopes as uint16 with
a per-operator scale) (2 + K) · 667 B/s (5.3 KB/s for 6). Fixed: ~39 KB of JS + CSS per panel, the
reverb impulse response (1 s: 85 KB float32, 43 KB 16-bit, less after trimming its silent end),
and ``original_audio`` 43 KB/s (int16 PCM).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .. import HOP, SAMPLE_RATE
from ..synth.interventions import paper_intervention
from ..synth.oversample import check_decimation, check_oversample, decimation_kernel
from ..synth.patches import Patch, get_patch, parse_imax

__all__ = ["InterventionPanel", "intervention_panel", "panel_from_model", "paper_presets", "panel_assets"]

_COUNTER = itertools.count(1)
_PRECISIONS = ("float32", "16bit")


def panel_assets() -> tuple[str, str]:
    """(JavaScript, CSS) of the panel, read from the package."""
    pkg = resources.files(__package__)
    return (pkg / "fm_panel.js").read_text(encoding="utf-8"), (pkg / "fm_panel.css").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------- encoding
def _numpy(x, name: str) -> np.ndarray:
    if x is None:
        return None
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _encode(a: np.ndarray, dtype: str) -> dict:
    """Array → {dtype, shape, b64[, scale]}; little-endian; mirrored by decodeArray in fm_panel.js."""
    if dtype == "f32":
        return {"dtype": "f32", "shape": list(a.shape), "b64": _b64(a.astype("<f4"))}
    if dtype == "u16":  # non-negative, one scale per last-axis channel
        if (a < 0).any():
            raise ValueError("uint16 encoding needs non-negative values (envelopes are amplitudes ≥ 0)")
        scale = a.reshape(-1, a.shape[-1]).max(axis=0) if a.ndim > 1 else np.array([a.max()])
        scale = np.where(scale > 0, scale, 1.0).astype(np.float64)
        q = np.round(a / scale * 65535).astype("<u2")
        return {"dtype": "u16", "shape": list(a.shape), "scale": [float(s) for s in scale], "b64": _b64(q)}
    if dtype == "i16":
        scale = float(np.abs(a).max()) or 1.0
        q = np.round(a / scale * 32767).astype("<i2")
        return {"dtype": "i16", "shape": list(a.shape), "scale": scale, "b64": _b64(q)}
    raise ValueError(dtype)


def _decode(spec: dict) -> np.ndarray:
    """The values the browser sees (float64), for reference renders and tests."""
    raw = base64.b64decode(spec["b64"])
    if spec["dtype"] == "f32":
        a = np.frombuffer(raw, "<f4").astype(np.float64)
    elif spec["dtype"] == "u16":
        scale = np.array(spec["scale"])
        a = np.frombuffer(raw, "<u2").astype(np.float64).reshape(-1, len(scale)) / 65535 * scale
    else:
        a = np.frombuffer(raw, "<i2").astype(np.float64) / 32767 * spec["scale"]
    return a.reshape(spec["shape"])


def _trim_ir(ir: np.ndarray, trim_db: float | None) -> np.ndarray:
    """Drop the end of an impulse response once everything after it is trim_db below its peak."""
    if trim_db is None or len(ir) < 2:
        return ir
    thresh = np.abs(ir).max() * 10 ** (-trim_db / 20)
    loud = np.nonzero(np.abs(ir) > thresh)[0]
    return ir[: int(loud[-1]) + 1] if len(loud) else ir[:1]


# ---------------------------------------------------------------------------------- presets
def paper_presets(patch: Patch | str) -> list[dict]:
    """The paper's three interventions (Table 2) applied to ``patch``, plus "Reset" (as trained).

    Each: {label, help, ratios (K or None), env_gain (K or None)}. A preset that changes nothing in
    this patch (e.g. no modulator with ratio 1) is shown disabled by the panel.
    """
    patch = get_patch(patch)
    out = []
    for inst, label in (("violin", "Violin: ratios 1→3"), ("flute", "Flute: mod. envelopes ×2"),
                        ("trumpet", "Trumpet: ratio →√2")):
        iv = paper_intervention(inst, patch)
        new_ratios = iv.ratios or patch.ratios
        changes = [f"OP{k + 1} ratio {r0:g} → {r1:.4g}" for k, (r0, r1) in enumerate(zip(patch.ratios, new_ratios))
                   if not math.isclose(r0, r1)]
        changes += [f"OP{k + 1} envelope × {g:g}" for k, g in enumerate(iv.env_gain or []) if g != 1]
        out.append({"label": label, "help": f"The paper's {inst} intervention (Table 2), {iv.name}: "
                    + ("; ".join(changes) if changes else "nothing to change in this patch"),
                    "ratios": iv.ratios, "env_gain": iv.env_gain})
    out.append({"label": "Reset", "help": "The trained settings: the patch's ratios, every envelope gain 1",
                "ratios": None, "env_gain": None})
    return out


def _patch_data(patch: Patch) -> dict:
    from ..plots import patch_layout  # matplotlib is imported lazily there

    lay = patch_layout(patch)
    return {"name": patch.name, "n_ops": patch.n_ops, "ratios": list(patch.ratios), "carriers": list(patch.carriers),
            "modulators": {str(k): list(v) for k, v in patch.modulators.items()}, "order": list(patch.order),
            "layout": [[float(lay[k][0]), int(lay[k][1])] for k in range(patch.n_ops)], "graph": patch.graph_str()}


# ---------------------------------------------------------------------------------- the panel
@dataclass(repr=False)
class InterventionPanel:
    """HTML of one panel (``_repr_html_``), its embedded data and helpers to check it from Python."""

    element_id: str
    data: dict
    html: str = field(default="")

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return (f"<InterventionPanel {self.data['title']!r}: {self.data['patch']['name']}, "
                f"{self.seconds:.2f} s, {self.nbytes / 1000:.0f} KB>")

    @property
    def nbytes(self) -> int:
        """Bytes this panel adds to a page (HTML + JS + CSS + data)."""
        return len(self.html.encode("utf-8"))

    @property
    def seconds(self) -> float:
        return self.data["f0"]["shape"][0] * self.data["hop"] / self.data["sample_rate"]

    def controls(self) -> dict:
        """The decoded arrays exactly as the browser uses them (float64): f0 [T], envelopes [T, K],
        reverb_ir [L] or None, original [N] or None."""
        d = self.data
        return {"f0_hz": _decode(d["f0"]), "envelopes": _decode(d["envelopes"]),
                "reverb_ir": _decode(d["reverb_ir"]) if d.get("reverb_ir") else None,
                "original": _decode(d["original"]) if d.get("original") else None}

    def reference(self, ratios=None, env_gain=None, reverb: bool = False) -> np.ndarray:
        """ddx7's own render (torch) of the embedded controls: what ``render()`` in the browser matches.

        ``ratios``/``env_gain`` default to the panel's initial settings, as in the JS API.
        """
        import torch

        from ..models.reverb import fft_convolve
        from ..synth.fm import FMSynth

        c, d = self.controls(), self.data
        synth = FMSynth(_patch_from(d["patch"]), d["imax"], d["sample_rate"], d["hop"], d.get("oversample", 1),
                        d.get("decimation"))
        f0 = torch.tensor(c["f0_hz"], dtype=torch.float32)[None]  # float32 as embedded (and as the model has it)
        env = torch.tensor(c["envelopes"], dtype=torch.float64)[None]
        ratios = d["initial"]["ratios"] if ratios is None else ratios
        env_gain = d["initial"]["env_gain"] if env_gain is None else env_gain
        with torch.no_grad():
            audio = synth.get_signal(f0, env, ratios=list(ratios), env_gain=list(env_gain)).double()
            if reverb and c["reverb_ir"] is not None:
                ir = torch.tensor(c["reverb_ir"], dtype=torch.float64)
                audio = fft_convolve(audio, ir)
        return audio[0].numpy()

    def standalone_html(self, title: str | None = None) -> str:
        """A complete HTML page with just this panel (for tests or sharing)."""
        t = html.escape(title or self.data["title"])
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title></head>"
                f"<body style=\"margin:24px\">\n{self.html}\n</body></html>\n")

    def save(self, path, title: str | None = None) -> Path:
        path = Path(path)
        path.write_text(self.standalone_html(title), encoding="utf-8")
        return path


def _patch_from(d: dict) -> Patch:
    return Patch(d["name"], modulators={int(k): v for k, v in d["modulators"].items()}, carriers=d["carriers"],
                 ratios=d["ratios"])


def intervention_panel(f0_hz, envelopes, patch: Patch | str, imax, title: str | None = None, ratios=None,
                       env_gain=None, reverb_ir=None, original_audio=None, element_id: str | None = None, *,
                       subtitle: str | None = None, presets="paper", precision: str = "float32",
                       reverb_on: bool = True, reverb_trim_db: float | None = 60.0, sample_rate: int = SAMPLE_RATE,
                       hop: int = HOP, max_seconds: float = 30.0, oversample: int = 1,
                       decimation: dict | None = None) -> InterventionPanel:
    """A kernel-free intervention panel for one excerpt.

    f0_hz: frame-rate pitch [T] or [1, T] (Hz); envelopes: operator amplitudes a_k [T, K] or [1, T, K]
    (``model.get_controls(...)["envelopes"]``, i.e. max_ol · sigmoid(z)); patch, imax: the model's.
    ratios / env_gain: the settings the panel opens with (default: as trained; "Reset" always returns
    to the trained ones). reverb_ir: the model's full impulse response h (``model.reverb.impulse_response()``,
    direct path included; y = x ⊛ h), trimmed where the rest is ``reverb_trim_db`` below its peak;
    ``reverb_on`` ticks the reverb box at start. original_audio: the excerpt's recording [N] at
    ``sample_rate`` for an "Original" button. presets: "paper" (:func:`paper_presets`) or a list of
    {label, help, ratios, env_gain}. precision: "float32" (exact) or "16bit" (about half the bytes).
    element_id: the HTML id (default: unique and deterministic per kernel session). oversample: the model's
    ``model.oversample`` (the browser then renders at that multiple of the rate and decimates with the
    filter of ddx7.synth.oversample, sent with the data); decimation: its ``model.decimation``.
    """
    patch = get_patch(patch)
    imax = parse_imax(imax)
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
    f0 = _numpy(f0_hz, "f0_hz")
    env = _numpy(envelopes, "envelopes")
    while f0.ndim > 1 and f0.shape[0] == 1:
        f0 = f0[0]
    while env.ndim > 2 and env.shape[0] == 1:
        env = env[0]
    if f0.ndim != 1 or env.ndim != 2:
        raise ValueError(f"expected f0 [T] and envelopes [T, K] (one excerpt); got {f0.shape} and {env.shape}")
    if env.shape[0] != f0.shape[0]:
        raise ValueError(f"f0 has {f0.shape[0]} frames but envelopes have {env.shape[0]}")
    if env.shape[1] != patch.n_ops:
        raise ValueError(f"patch {patch.name!r} has {patch.n_ops} operators, got {env.shape[1]} envelopes")
    if (f0 <= 0).any():
        raise ValueError("f0 must be positive (Hz); give unvoiced frames the last voiced pitch")
    if (env < 0).any():
        raise ValueError("envelopes are amplitudes a_k = max_ol·sigmoid(z) ≥ 0; got negative values")
    seconds = f0.shape[0] * hop / sample_rate
    if seconds > max_seconds:
        raise ValueError(f"excerpt of {seconds:.1f} s is longer than max_seconds={max_seconds:g}: every second "
                         "adds to the page's weight and to the browser's render time; cut it or raise max_seconds")
    k = patch.n_ops
    init_ratios = list(map(float, patch.ratios if ratios is None else ratios))
    init_gain = [1.0] * k if env_gain is None else list(map(float, env_gain))
    if len(init_ratios) != k or len(init_gain) != k:
        raise ValueError(f"patch {patch.name!r} needs {k} ratios and {k} envelope gains")
    if presets == "paper":
        presets = paper_presets(patch)
    presets = [{"label": str(p["label"]), "help": str(p.get("help", p["label"])),
                "ratios": None if p.get("ratios") is None else [float(r) for r in p["ratios"]],
                "env_gain": None if p.get("env_gain") is None else [float(g) for g in p["env_gain"]]}
               for p in (presets or [])]

    env_dtype = "f32" if precision == "float32" else "u16"
    data = {
        "version": 1, "title": title or f"{patch.name}, Imax {imax:.3g}",
        "subtitle": subtitle if subtitle is not None else
        f"{seconds:.1f} s excerpt · the model's envelopes re-synthesised in your browser · "
        f"patch {patch.name}: {patch.graph_str()}",
        "sample_rate": int(sample_rate), "hop": int(hop), "imax": imax, "max_ol": imax / (2 * math.pi),
        "patch": _patch_data(patch), "f0": _encode(f0, "f32"), "envelopes": _encode(env, env_dtype),
        "initial": {"ratios": init_ratios, "env_gain": init_gain, "reverb": bool(reverb_on)},
        "presets": presets,
    }
    oversample = check_oversample(oversample)
    decimation = check_decimation(decimation, oversample)
    if oversample > 1:
        data["oversample"] = oversample
        data["decimation_kernel"] = _encode(decimation_kernel(oversample, decimation).numpy(), "f32")
    if decimation:
        data["decimation"] = decimation
    if reverb_ir is not None:
        ir = _trim_ir(_numpy(reverb_ir, "reverb_ir").reshape(-1), reverb_trim_db)
        data["reverb_ir"] = _encode(ir, "f32" if precision == "float32" else "i16")
    if original_audio is not None:
        orig = _numpy(original_audio, "original_audio").reshape(-1)
        peak = float(np.abs(orig).max()) or 1.0
        data["original"] = _encode(orig / max(peak, 1.0), "i16")  # recordings peaking above 1 are turned down
    data["note"] = ("Audio computed in your browser from the model's exported envelopes; "
                    + ("reverb: the model's impulse response." if reverb_ir is not None else "dry FM (no reverb)."))

    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha1(payload.encode()).hexdigest()[:8]
    element_id = element_id or f"ddx7-panel-{next(_COUNTER)}-{digest}"
    panel = InterventionPanel(element_id, data)
    panel.html = _html(element_id, payload, data)
    return panel


def _html(element_id: str, payload: str, data: dict) -> str:
    js, css = panel_assets()
    eid = html.escape(element_id, quote=True)
    fallback = html.escape(
        f"{data['title']}: an interactive FM panel. It needs JavaScript: in the book it runs in the page; in "
        "Jupyter, run the cell (or trust the notebook) to see it.")
    payload = payload.replace("</", "<\\/")  # never close the script tag from inside the JSON
    return (f'<div id="{eid}" class="ddx7-panel mathjax_ignore tex2jax_ignore" data-ddx7-panel="1">'
            f'<p class="ddx7-fallback">{fallback}</p></div>\n'
            f"<style>{css}</style>\n"
            f"<script>\n{js}\nwindow.ddx7Panel.mount({json.dumps(element_id)}, {payload});\n</script>")


def panel_from_model(model, f0_hz, loudness_db, title: str | None = None, reverb: bool = True,
                     original_audio=None, **kwargs) -> InterventionPanel:
    """Panel for a trained DDX7 model on one excerpt: envelopes from ``model.get_controls`` (eval mode,
    no grad), the model's patch and Imax, and its reverb's impulse response when ``reverb``."""
    import torch

    f0 = torch.as_tensor(f0_hz, dtype=torch.float32)
    ld = torch.as_tensor(loudness_db, dtype=torch.float32)
    if f0.dim() == 1:
        f0, ld = f0[None], ld[None]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            controls = model.get_controls(f0, ld)
            ir = model.reverb.impulse_response() if (reverb and getattr(model, "reverb", None) is not None) else None
    finally:
        model.train(was_training)
    return intervention_panel(controls["f0_hz"], controls["envelopes"], model.patch, model.synth.imax, title=title,
                              reverb_ir=ir, original_audio=original_audio, oversample=model.synth.oversample,
                              decimation=model.synth.decimation, **kwargs)
