"""A trained DDX7's weights for the browser: one classic script per model, read by ddx7/web/ddx7_model.js.

    path = export_weights("results/full/violin-6osc-imax2/model.pt", out_dir)   # → ddx7_weights_<run>.js
    header, tensors = read_weights(path)          # what the browser decodes (float32 tensors)
    model = model_from_weights(header, tensors)   # a DDX7 with exactly those weights (fp16-rounded)

The page is opened as a file (file://), where Chromium blocks fetch() of file: URLs, so the weights
come as a script that assigns a base64 string to a global:

    window.DDX7_WEIGHTS = window.DDX7_WEIGHTS || {};
    window.DDX7_WEIGHTS["<name>"] = "<base64 of the blob>";

The blob (little-endian):

    MAGIC (8 bytes) · header length (uint32) · header (JSON, UTF-8) · payload

The header holds the config (patch graph, ratios, Imax and max_ol, hidden, kernel, dilations, sample
rate, hop, reverb length), the run, its dataset's manifest hash, and ``tensors``: name, shape and
offset (in values) of every tensor. The payload is zlib (``DecompressionStream("deflate")`` in the
browser) of the tensors' fp16 values concatenated in header order, stored as two byte planes (all
high bytes, then all low bytes: the high bytes, sign and exponent, compress well, which keeps a
6-operator model's script below 1 MB; plain fp16 in base64 would be 1.1 MB).

Tensors: the TCN's effective convolution weights (weight norm evaluated) ``blocks.<i>.conv<1|2>.weight``
[C_out, C_in, kernel] and ``.bias``, the 1×1 residual projections ``blocks.<i>.residual.weight``
[C_out, C_in] and ``.bias`` where the channel count changes, and the reverb's tail (``Reverb.tail()``,
wet gain included, without the direct path) ``reverb.tail`` [L], cut after its last non-zero fp16 value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

MAGIC = b"DDX7WTS\x01"
FORMAT = 1
ENCODING = "fp16-byteplanes-zlib"
MAX_BYTES = 1_000_000  # per model script
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

__all__ = ["export_weights", "weights_blob", "weights_script", "read_weights", "model_from_weights",
           "FixedReverb", "MAX_BYTES"]


def _tensors(model) -> dict[str, torch.Tensor]:
    out = {}
    with torch.no_grad():
        for i, block in enumerate(model.decoder.blocks):
            for name, causal in (("conv1", block.conv1), ("conv2", block.conv2)):
                out[f"blocks.{i}.{name}.weight"] = causal.conv.weight.detach()  # weight norm evaluated
                out[f"blocks.{i}.{name}.bias"] = causal.conv.bias.detach()
            if block.residual is not None:
                out[f"blocks.{i}.residual.weight"] = block.residual.weight.detach()[..., 0]
                out[f"blocks.{i}.residual.bias"] = block.residual.bias.detach()
        if model.reverb is not None:
            tail = model.reverb.tail().detach().half()
            nz = torch.nonzero(tail)
            out["reverb.tail"] = tail[: int(nz[-1]) + 1] if len(nz) else tail[:0]
    return {k: v.float().contiguous() for k, v in out.items()}


def _oversampling(synth) -> dict:
    """The header's oversampling fields: the factor and, above 1, the decimation filter's taps (float32) and the
    ``model.decimation`` that made them (model_from_weights rebuilds the same filter from it)."""
    if synth.oversample == 1:
        return {}
    return {"oversample": synth.oversample, "decimation_kernel": [float(v) for v in synth.decimation_kernel],
            **({"decimation": dict(synth.decimation)} if synth.decimation else {})}


def weights_blob(model, run: str = "", extra: dict | None = None) -> bytes:
    """The binary described in the module doc, of a DDX7 ``model`` (``extra``: more header fields)."""
    cfg = getattr(model, "config", {})
    if cfg.get("model") != "ddx7":
        raise ValueError("weights export needs a DDX7 model (HpN is not supported in the browser)")
    patch = model.synth.patch
    tensors = _tensors(model)
    names, values, offset = [], [], 0
    for name, t in tensors.items():
        names.append({"name": name, "shape": list(t.shape), "offset": offset})
        values.append(t.numpy().astype("<f2").ravel())
        offset += t.numel()
    half = np.concatenate(values) if values else np.zeros(0, "<f2")
    if not np.isfinite(half).all():
        raise ValueError("the model has weights that are NaN, infinite or beyond fp16's range (65504)")
    planes = half.view("<u2")
    payload = zlib.compress((planes >> 8).astype(np.uint8).tobytes() + (planes & 0xFF).astype(np.uint8).tobytes(), 9)
    header = {
        "format": FORMAT, "encoding": ENCODING, "run": run,
        "config": {"patch": {"name": patch.name, "n_ops": patch.n_ops, "ratios": [float(r) for r in patch.ratios],
                             "carriers": list(patch.carriers), "order": list(patch.order),
                             "modulators": [list(patch.modulators.get(k, [])) for k in range(patch.n_ops)]},
                   "imax": float(model.synth.imax), "max_ol": float(model.synth.max_ol),
                   "hidden": int(cfg["hidden"]), "kernel": int(cfg["kernel"]),
                   "dilations": [int(d) for d in cfg["dilations"]], "sample_rate": int(model.sample_rate),
                   "hop": int(model.hop), **_oversampling(model.synth),
                   "reverb_length": int(tensors["reverb.tail"].shape[0]) if "reverb.tail" in tensors else 0},
        "tensors": names, "values": int(offset), "payload_bytes": len(payload),
        **(extra or {}),
    }
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return MAGIC + struct.pack("<I", len(head)) + head + payload


def weights_script(blob: bytes, name: str) -> str:
    """The classic script that hands ``blob`` to the page as ``window.DDX7_WEIGHTS[name]`` (base64)."""
    if not _NAME.match(name):
        raise ValueError(f"weights name {name!r}: use letters, digits, '_', '-' and '.' only")
    b64 = base64.b64encode(blob).decode("ascii")
    return ("/* DDX7 weights for ddx7/web/ddx7_model.js, written by ddx7.web.export (do not edit) */\n"
            "(function (g) { g.DDX7_WEIGHTS = g.DDX7_WEIGHTS || {};\n"
            f'g.DDX7_WEIGHTS["{name}"] = "{b64}";\n'
            "})(typeof globalThis !== \"undefined\" ? globalThis : this);\n")


def export_weights(model_path, out_dir, name: str | None = None, max_bytes: int = MAX_BYTES) -> Path:
    """``results/<profile>/<run>/model.pt`` → ``out_dir/ddx7_weights_<name>.js`` (name: the run's by default).

    Raises ValueError if the script would exceed ``max_bytes``."""
    from ..checkpoints import load_model

    model_path = Path(model_path)
    model, ckpt = load_model(model_path)
    run = model_path.parent.name
    name = name or run
    instrument = (ckpt.get("run_config") or {}).get("data", {}).get("instrument")
    extra = {"name": name, "instrument": instrument, "manifest_hash": ckpt.get("manifest_hash"),
             "step": ckpt.get("step"), "source_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest()}
    text = weights_script(weights_blob(model, run, extra), name)
    if len(text.encode("utf-8")) > max_bytes:
        raise ValueError(f"{name}: the weights script has {len(text) / 1e6:.2f} MB, more than {max_bytes / 1e6:g} MB")
    out = Path(out_dir) / f"ddx7_weights_{name}.js"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="ascii")
    return out


# ----------------------------------------------------------------------------- reading back


def parse_blob(blob: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """(header, name → float32 tensor) from a blob; ValueError with the reason if it is damaged."""
    if blob[:8] != MAGIC:
        raise ValueError("not DDX7 weights (wrong magic bytes)")
    (n,) = struct.unpack("<I", blob[8:12])
    header = json.loads(blob[12:12 + n].decode("utf-8"))
    if header.get("format") != FORMAT or header.get("encoding") != ENCODING:
        raise ValueError(f"unsupported weights format {header.get('format')} / {header.get('encoding')}")
    raw = zlib.decompress(blob[12 + n:])
    count = header["values"]
    if len(raw) != 2 * count:
        raise ValueError(f"payload holds {len(raw) // 2} values, the header says {count}")
    planes = np.frombuffer(raw, np.uint8)
    values = ((planes[:count].astype(np.uint16) << 8) | planes[count:]).view("<f2").astype(np.float32)
    tensors = {}
    for t in header["tensors"]:
        size = int(np.prod(t["shape"]))
        tensors[t["name"]] = torch.from_numpy(values[t["offset"]:t["offset"] + size].copy()).reshape(t["shape"])
    return header, tensors


def read_weights(path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(header, tensors) from a ``ddx7_weights_<name>.js`` written by :func:`export_weights`."""
    text = Path(path).read_text(encoding="ascii")
    m = re.search(r'DDX7_WEIGHTS\["[^"]*"\] = "([A-Za-z0-9+/=]*)"', text)
    if m is None:
        raise ValueError(f"{path}: no DDX7_WEIGHTS assignment found")
    return parse_blob(base64.b64decode(m.group(1)))


class FixedReverb(nn.Module):
    """A reverb with a given tail (``Reverb``'s interface as the models use it): y = x + x ⊛ tail."""

    def __init__(self, tail: torch.Tensor):
        super().__init__()
        self.register_buffer("fixed_tail", tail.detach().float().clone())

    def tail(self) -> torch.Tensor:
        return self.fixed_tail

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        from ..models.reverb import fft_convolve

        return audio + fft_convolve(audio, self.fixed_tail)


def model_from_weights(header: dict, tensors: dict[str, torch.Tensor]):
    """A DDX7 (eval mode) computing with exactly the exported weights: the browser's model in Python."""
    from torch.nn.utils import parametrize

    from ..models import DDX7
    from ..synth.patches import Patch

    c = header["config"]
    p = c["patch"]
    patch = Patch(p["name"], modulators={k: v for k, v in enumerate(p["modulators"]) if v},
                  carriers=p["carriers"], ratios=p["ratios"])
    model = DDX7(patch, c["imax"], hidden=c["hidden"], kernel=c["kernel"], dilations=c["dilations"], dropout=0.0,
                 reverb=False, sample_rate=c["sample_rate"], hop=c["hop"], oversample=c.get("oversample", 1),
                 decimation=c.get("decimation"))
    with torch.no_grad():
        for i, block in enumerate(model.decoder.blocks):
            for name, causal in (("conv1", block.conv1), ("conv2", block.conv2)):
                parametrize.remove_parametrizations(causal.conv, "weight", leave_parametrized=True)
                causal.conv.weight.copy_(tensors[f"blocks.{i}.{name}.weight"])
                causal.conv.bias.copy_(tensors[f"blocks.{i}.{name}.bias"])
            if block.residual is not None:
                block.residual.weight.copy_(tensors[f"blocks.{i}.residual.weight"][..., None])
                block.residual.bias.copy_(tensors[f"blocks.{i}.residual.bias"])
    if "reverb.tail" in tensors:
        model.reverb = FixedReverb(tensors["reverb.tail"])
        model.config["reverb"] = True
    return model.eval()
