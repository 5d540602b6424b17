"""Streaming (block-by-block) rendering that gives the offline render's samples.

    s = StreamingDDX7(model)                  # model: a DDX7 (weights are snapshot here)
    for f0_block, ld_block in blocks:         # [B, k] frames each, any k >= 1
        audio = s.process(f0_block, ld_block) # [B, k · hop]
    s.reset()                                 # start a new stream

    c = compile_streaming(model)              # the same, compiled with TorchScript
    h = StreamingHpN(hpn, seed=0)             # the HpN baseline, streamed the same way

Why the concatenated blocks equal ``model(f0, loudness)`` of the whole excerpt — the streamers call
the offline functions wherever a block-wise form costs nothing (all TorchScript-compatible):

* Decoder inputs and envelopes: ``models.tcn.InputScaling.stacked_last`` (the offline map in three
  operations, equal to float32 rounding) and ``synth.fm.fm_envelopes``.
* TCN decoder, re-expressed for speed (a copy of ``models.tcn.TCNDecoder``/``TCNBlock``: RAVE-style
  cached convolutions): every dilated causal convolution keeps its last (kernel − 1) · dilation
  input frames, zeros at the start = the offline left padding. The cache is a ring of per-frame
  tensors, so a block copies nothing: the kernel taps are list look-ups joined by one ``cat``
  into the rows that multiply the weights (all taps in one matrix product; ``F.conv1d`` with
  dilation costs ~30× more on one frame). The bias is the weights' last row, met by a tap of ones.
* Controls: ``synth.sampling.upsample_frames`` with the last control frame of the previous block as
  frame −1 (f0 and the envelopes after ``env_gain``), so the samples are the offline ones; a one-frame
  block does its three operations inline (the same bits).
* FM: ``synth.sampling.RunningPhase`` continues the float64 phase sum exactly as the offline ``cumsum``
  runs, so every operator's phase equals the offline one bit for bit (until it is folded mod 2π,
  every ``REBASE_SAMPLES`` samples and when the ratios change); then ``fm_operators`` and
  ``mix_carriers``, the offline operator graph. Oversampled: ``synth.oversample.decimate`` as one
  matrix product per frame (:func:`decimation_matrix`, with ÷ max_ol folded in). HpN: the same phase,
  ``harmonic_frames`` and the noise filters of ``synth.harmonic``.
* Reverb, re-expressed for speed (a copy of ``models.reverb.Reverb``, i.e. ``x + fft_convolve(x,
  tail)``): uniformly partitioned overlap-save convolution (partition = one hop; a 1 s tail at
  16 kHz, hop 64 → 250 partitions of 128-point transforms, a frequency-domain delay line in a ring),
  so a 4 ms block costs two small float64 DFT matrix products and 250 × 65 complex multiply-adds
  instead of a 2^17-point FFT. A model whose reverb tail is exactly zero (wet = 0) skips it: offline adds
  exact zeros then.

The two copies are tested against the offline model in tests/test_stream.py (every patch, block
sizes 1, 2, 3, 16, eager and TorchScript; the reverb alone against ``fft_convolve``), the
re-expressed parts alone in tests/test_stream_parts.py.

Speed (issue 15): a 4 ms block is ~130 small operations, so the block-size-1 paths count operations
(inline upsampling, bias rows, no outer ReLU where its input is ≥ 0, matrix products instead of
conv1d and small FFTs). Below that per-operation floor: the C copy, ddx7.stream_native (``native=True``).

What remains is float32 rounding of the decoder's matrix products (per block instead of one conv
over the excerpt) and of the FFTs: ≤ 2.5e-6 for every patch at Imax 2 in the tests (bound 1e-5);
at Imax 2π / 4π deep stacks magnify the envelopes' last-bit differences to ~1e-5 / 7e-5, still
≥ 100× below the offline float32 render's own distance from float64 (tested).

Interventions (``ratios``, ``env_gain``) may change mid-stream (eager module): each operator keeps
its phase (no click) and envelopes ramp from the last frame. The weights are copied when the
streamer is built: build a new one after changing the model. State tensors are made at
construction and by ``reset()``: do that outside ``torch.inference_mode`` if the stream is then
run outside it (inference tensors cannot be updated in place outside inference mode).
"""

import math
from typing import List, Optional

import torch
from torch import Tensor, nn

from .models.ddx7 import check_inputs
from .models.reverb import StreamingReverb
from .models.tcn import InputScaling
from .synth.fm import check_env_gain, check_ratios, fm_envelopes, fm_operators, mix_carriers, operator_graph
from .synth.harmonic import filter_noise, harmonic_frames, noise_filters, uniform_noise
from .synth.sampling import TWO_PI, RunningPhase, constant, frame_ramp, upsample_frames

# ----------------------------------------------------------------------------- DDX7


def decimation_matrix(kernel: Tensor, factor: int, hop: int) -> Tensor:
    """T [L − M + M·hop, hop] float32 with window @ T = one frame of ddx7.synth.oversample.decimate:
    y[n] = Σ_j h[j] · x[M·n + M − 1 − j], the window's first L − M samples being the previous ones."""
    taps = kernel.shape[0]
    rows = torch.arange(taps - factor + factor * hop).unsqueeze(1)
    j = factor * torch.arange(hop).unsqueeze(0) + taps - 1 - rows  # the tap that meets x[row] in output n
    inside = (j >= 0) & (j < taps)
    return torch.where(inside, kernel.double()[j.clamp(0, taps - 1)], 0.0).float()


class StreamingDDX7(nn.Module):
    """Block-by-block DDX7 whose concatenated output equals the offline render (see module doc).

    ``process(f0 [B, k] Hz, loudness [B, k] dB) -> audio [B, k · hop]`` for any k ≥ 1; the batch
    size is fixed by the first block after construction or ``reset()``. ``validate`` checks every
    block (f0 finite and > 0, loudness finite) with one reduction and one sync.

    One flat module (no sub-module per layer) so that eager Python overhead stays small; the same
    code compiles with TorchScript (:func:`compile_streaming`). CPU, float32.

    A JavaScript copy for the book's live page: ddx7/web/ddx7_model.js (``DDX7Live``), compared with this
    class by tests/test_web_live.py; a C copy, ddx7/native/stream_ddx7.c, by tests/test_stream_native.py.
    """

    weights: List[Tensor]
    dilations: List[int]
    c_in: List[int]
    history: List[List[Tensor]]
    hidden: List[int]
    has_residual: List[bool]
    order: List[int]
    modulators: List[List[int]]
    carriers: List[int]

    def __init__(self, model, ratios=None, env_gain=None, validate: bool = True):
        super().__init__()
        if getattr(model, "config", {}).get("model") != "ddx7":
            raise ValueError("StreamingDDX7 needs a DDX7 model (use StreamingHpN for HpN)")
        self.hop = int(model.hop)
        self.sample_rate = int(model.sample_rate)
        self.validate = bool(validate)
        with torch.no_grad():
            self._init_decoder(model.decoder)
            self._init_synth(model.synth)
            self.reverb = StreamingReverb(model.reverb.tail() if model.reverb is not None else None, self.hop)
        # state exists from here on (batch 1) and is re-made by reset(): made outside
        # torch.inference_mode, it may then be used both inside and outside of it
        self.batch = 1
        self.fresh = True
        self.init_state(1)
        self.set_intervention(ratios, env_gain)
        self.eval()

    # -- construction

    def _init_decoder(self, decoder):
        """Per conv: weight [kernel · C_in + 1, C_out] (all taps in one matrix product, the bias as its last
        row), dilation and the history ring. A 1×1 residual projection is appended to conv1's output columns (it reads
        conv1's current-frame tap), saving a matrix product per block where channels change."""
        self.weights, self.dilations, self.c_in, self.history = [], [], [], []
        self.step = 0  # frames processed: the ring position of every conv's history
        self.n_blocks = len(decoder.blocks)
        self.hidden = []
        self.has_residual = []
        self.kernel = int(decoder.blocks[0].conv1.conv.kernel_size[0])
        self.inputs = InputScaling()
        for block in decoder.blocks:
            for i, causal in enumerate((block.conv1, block.conv2)):
                conv = causal.conv
                w = conv.weight.detach()  # evaluates the weight-norm parametrisation
                c_out, c_in, kernel = w.shape
                if kernel != self.kernel:
                    raise ValueError("all TCN convolutions must share one kernel size")
                w2 = w.permute(0, 2, 1).reshape(c_out, kernel * c_in)
                b2 = conv.bias.detach()
                if i == 0:
                    self.hidden.append(int(c_out))
                    self.has_residual.append(block.residual is not None)
                    if block.residual is not None:
                        r = block.residual.weight.detach()[..., 0]  # [C_res, C_in]
                        rw = torch.zeros(r.shape[0], kernel * c_in)
                        rw[:, (kernel - 1) * c_in:] = r
                        w2 = torch.cat([w2, rw], 0)
                        b2 = torch.cat([b2, block.residual.bias.detach()], 0)
                d = int(conv.dilation[0])
                # [kernel · C_in + 1, C_out]: the bias as the last row, read by a tap of ones (one op less
                # per conv than addmm, which TorchScript splits into mm and add)
                self.weights.append(torch.cat([w2.t(), b2.unsqueeze(0)], 0).contiguous())
                self.dilations.append(d)
                self.c_in.append(int(c_in))
                self.history.append([torch.zeros(1, int(c_in))] * ((kernel - 1) * d))

    def _init_synth(self, synth):
        patch = synth.patch
        self.n_ops = patch.n_ops
        self.order, self.modulators, self.carriers = operator_graph(patch)
        self.register_buffer("max_ol", constant(synth.max_ol))  # float32 constants: see ddx7.synth.sampling.s doc
        self.register_buffer("two_pi", constant(TWO_PI))
        # oversampled FM (ddx7.synth.oversample): controls and phases at oversample · fs, then the causal
        # decimation filter, whose last L − M fast samples carry over to the next block
        self.oversample = int(synth.oversample)
        self.fast_hop = self.hop * self.oversample
        self.register_buffer("ramp", frame_ramp(self.fast_hop))
        kernel = synth.decimation_kernel if self.oversample > 1 else torch.ones(1)
        self.register_buffer("decimation_matrix", decimation_matrix(kernel / synth.max_ol, self.oversample, self.hop))
        self.fast_history = torch.zeros(1, kernel.shape[0] - self.oversample)
        self.register_buffer("env_gain", torch.ones(self.n_ops))
        self.use_gain = False
        self.started = False
        self.register_buffer("last_frame", torch.zeros(1, 1 + self.n_ops, 1), persistent=False)  # f0, a_1 … a_K
        self.phase = RunningPhase(patch.ratios, self.sample_rate * self.oversample)

    def set_intervention(self, ratios=None, env_gain=None):
        """Replace the patch's ratios (K values) and/or scale the envelopes (K gains); None keeps
        the current setting. Mid-stream, each operator keeps its phase and envelopes ramp from the
        last frame. (Eager module; a compiled one takes them in :func:`compile_streaming`.)"""
        check_ratios(ratios, self.n_ops)
        check_env_gain(env_gain, self.n_ops)
        if ratios is not None:
            self.phase.set_ratios(ratios)
        if env_gain is not None:
            self.env_gain.copy_(torch.as_tensor(env_gain, dtype=torch.float32).flatten())
            self.use_gain = True

    # -- state

    @torch.jit.export
    def reset(self):
        """Forget the stream: the next block starts a new one (of any batch size)."""
        self.init_state(self.batch)

    @torch.jit.export
    def init_state(self, batch: int):
        for i in range(len(self.history)):
            zero = torch.zeros(batch, self.c_in[i])
            self.history[i] = [zero] * len(self.history[i])
        self.step = 0
        self.one = torch.ones(batch, 1)
        self.last_frame = torch.zeros(batch, 1 + self.n_ops, 1)
        self.phase.reset(batch)
        self.fast_history = torch.zeros(batch, self.fast_history.shape[1])
        self.reverb.reset(batch)
        self.batch = batch
        self.fresh = True
        self.started = False

    # -- processing

    # The decoder: ddx7.models.tcn.TCNDecoder, re-expressed for one block at a time (a copy kept for
    # speed; tests/test_stream.py checks it against the offline model). The cache of conv i
    # (RAVE-style cached convolution) is a ring of its last (kernel − 1)·d input frames, each
    # [B, C_in]: frame t sits in slot t mod (kernel − 1)·d. A block copies nothing from it: the
    # kernel taps of every output frame are list look-ups (ring or current block), joined by one
    # cat into the rows that multiply the weights [kernel · C_in, C_out].

    def _conv(self, i: int, x: Tensor, b: int, k: int) -> Tensor:
        """Conv i on a block of k frames, rows [B · k, C_in] (batch-major) → [B · k, C_out]."""
        hist = self.history[i]
        n = len(hist)
        d = self.dilations[i]
        now = self.step % n if n > 0 else 0
        if k == 1:  # the 4 ms case: frame −(kernel − 1 − t)·d sits in slot (now + t·d) mod n
            if self.kernel == 3:  # the TCN's (spelt out: the interpreter's loop costs more than the product)
                taps = [hist[now], hist[(now + d) % n], x, self.one]
            else:
                taps = [hist[(now + t * d) % n] for t in range(self.kernel - 1)]
                taps.append(x)
                taps.append(self.one)
            if n > 0:
                hist[now] = x
            return torch.mm(torch.cat(taps, 1), self.weights[i])
        frames = x.view(b, k, -1).unbind(1)
        taps: List[Tensor] = []
        for j in range(k):  # output frame j reads frames j − (kernel − 1 − t)·d, t = 0 … kernel − 1
            for t in range(self.kernel):
                src = j - (self.kernel - 1 - t) * d
                taps.append(frames[src] if src >= 0 else hist[(now + n + src) % n])
            taps.append(self.one)  # × the bias row of the weights
        for j in range(max(0, k - n), k):  # then the newest frames replace the oldest
            hist[(now + j) % n] = frames[j]
        return torch.mm(torch.cat(taps, 1).view(b * k, -1), self.weights[i])

    def decode(self, f0_hz: Tensor, loudness_db: Tensor) -> Tensor:
        """TCN: [B, k] → envelope logits [B, k, K]."""
        return self.decode_scaled(self.inputs.stacked_last(f0_hz, loudness_db))

    def decode_scaled(self, x: Tensor) -> Tensor:
        """TCN on scaled inputs [B, k, 2] (``InputScaling.stacked_last``) → envelope logits [B, k, K]."""
        b, k = x.shape[0], x.shape[1]
        x = x.reshape(b * k, -1)  # activations as rows [B · k, C] all the way
        last = self.n_blocks - 1
        for i in range(self.n_blocks):  # TCNBlock.forward
            h = self._conv(2 * i, x, b, k)
            if self.has_residual[i]:
                c = self.hidden[i]
                res = h[..., c:]
                h = h[..., :c]
            else:
                res = x
            h = self._conv(2 * i + 1, torch.relu(h), b, k)
            if i == last:  # linear last block
                x = h + res
            elif self.has_residual[i] or i == 0:  # relu(relu(h) + res), in place on h (a fresh tensor)
                x = torch.relu_(torch.relu_(h).add_(res))
            else:  # res is the previous block's output, ≥ 0: the outer relu changes nothing
                x = torch.relu_(h).add_(res)
        self.step += k
        return x.view(b, k, -1)

    def synthesize(self, f0_hz: Tensor, envelopes: Tensor) -> Tensor:
        """FM: f0 [B, k] Hz, envelopes [B, k, K] (a_k, before env_gain) → dry audio [B, k · hop]."""
        if self.use_gain:
            envelopes = envelopes * self.env_gain  # apply_env_gain's product, at frame rate
        # f0 and envelopes upsampled together, channels first: every control's and operator's samples contiguous
        frames = torch.cat([f0_hz.unsqueeze(1), envelopes.transpose(1, 2)], 1)  # [B, 1 + K, k]
        if frames.shape[2] == 1:  # upsample_frames' arithmetic (the same bits) in three operations
            before = self.last_frame if self.started else frames  # before the first frame: held
            controls = ((frames - before) * self.ramp).add_(before).unbind(1)  # f0, a_1 … a_K: [B, M·hop] each
        else:
            previous: Optional[Tensor] = None
            if self.started:
                previous = self.last_frame.transpose(1, 2)
            controls = upsample_frames(frames.transpose(1, 2), self.fast_hop, previous, self.ramp, True).unbind(1)
        self.last_frame = frames[:, :, -1:]
        self.started = True
        phases = self.phase.advance(controls[0], True).unbind(1)
        outs = fm_operators(phases, controls[1:], self.order, self.modulators, self.two_pi)
        if self.oversample == 1:
            return mix_carriers(outs, self.carriers, self.max_ol)
        audio = mix_carriers(outs, self.carriers, None)  # ÷ max_ol is in the decimation matrix
        # ddx7.synth.oversample.decimate re-expressed per frame as one matrix product (its conv1d cost ~4× as
        # much at one frame): frame j's hop outputs read the L − M + M·hop fast samples from j·M·hop on
        fast = torch.cat([self.fast_history, audio], 1)  # [B, L − M + M·N]
        history = self.fast_history.shape[1]
        self.fast_history = fast[:, fast.shape[1] - history:]
        k = f0_hz.shape[1]
        if k == 1:  # the one window is all of ``fast``
            return torch.mm(fast, self.decimation_matrix)
        windows = fast.unfold(1, history + self.fast_hop, self.fast_hop)  # [B, k, L − M + M·hop]
        return torch.matmul(windows, self.decimation_matrix).view(f0_hz.shape[0], k * self.hop)

    @torch.jit.export
    def operator_phases(self) -> Tensor:
        """Each operator's phase after the last sample rendered, in [0, 2π): [B, K] float64."""
        return self.phase.phases()

    def _check(self, f0_hz: Tensor, loudness_db: Tensor, scaled: Tensor):
        """The scaled inputs are finite iff f0 is finite and > 0 (log2) and loudness is finite: one
        reduction, one sync; the precise complaint is only worked out on failure."""
        if self.validate and not math.isfinite(float(scaled.sum())):
            if not bool((f0_hz > 0.0).all()):
                raise ValueError("f0 must be positive (Hz), not NaN: give unvoiced frames the last voiced pitch")
            raise ValueError("f0 or loudness contains NaN or infinite values")

    @torch.jit.export
    def process(self, f0_hz: Tensor, loudness_db: Tensor) -> Tensor:
        """f0 [B, k] (Hz), loudness [B, k] (dB) → audio [B, k · hop]."""
        if f0_hz.dim() != 2 or f0_hz.shape != loudness_db.shape or f0_hz.shape[1] < 1:
            raise ValueError("f0 and loudness must both be [batch, frames] with frames >= 1")
        scaled = self.inputs.stacked_last(f0_hz, loudness_db)
        self._check(f0_hz, loudness_db, scaled)
        b = f0_hz.shape[0]
        if b != self.batch:
            if not self.fresh:
                raise ValueError("batch size changed mid-stream: call reset() first")
            self.init_state(b)
        self.fresh = False
        envelopes = fm_envelopes(self.decode_scaled(scaled), self.max_ol)
        return self.reverb(self.synthesize(f0_hz, envelopes))

    def forward(self, f0_hz: Tensor, loudness_db: Tensor) -> Tensor:
        return self.process(f0_hz, loudness_db)


def compile_streaming(model, ratios=None, env_gain=None, validate: bool = True, freeze: bool = True):
    """A TorchScript-compiled :class:`StreamingDDX7` (``process`` / ``reset``), frozen by default
    (weights folded in as constants; state attributes stay mutable)."""
    scripted = torch.jit.script(StreamingDDX7(model, ratios, env_gain, validate))
    if freeze:
        scripted = torch.jit.freeze(scripted, preserved_attrs=["process", "reset", "init_state"])
    return scripted


# ----------------------------------------------------------------------------- HpN


class StreamingHpN:
    """Block-by-block HpN: GRU state, harmonic phase, last control frame, noise-filter tail, reverb.

    Noise comes from a ``torch.Generator`` seeded with ``seed`` (drawn [B, k, hop] per block), or is
    given per block: ``process(f0, loudness, noise=[B, k, hop])`` — the offline render with the
    same noise frames (``model.get_signal(controls, noise=...)``) gives the same samples.
    """

    def __init__(self, model, seed: int = 0):
        if getattr(model, "config", {}).get("model") != "hpn":
            raise ValueError("StreamingHpN needs an HpN model")
        self.model = model.eval()
        self.hop = int(model.hop)
        self.sample_rate = int(model.sample_rate)
        self.seed = seed
        self.batch = 1
        self.phase = RunningPhase([1.0], self.sample_rate)  # render_harmonics' phase: the fundamental's
        with torch.no_grad():
            self.reverb = StreamingReverb(model.reverb.tail() if model.reverb is not None else None, self.hop)
        self.reset()

    def reset(self):
        """Forget the stream (state re-made here, so reset outside torch.inference_mode)."""
        self.generator = torch.Generator().manual_seed(self.seed)
        self.gru_state = None
        self.last_f0 = None
        self.last_amps = None
        self.noise_tail = None
        self.phase.reset(self.batch)
        self.reverb.reset(self.batch)
        self.fresh = True

    @torch.no_grad()
    def process(self, f0_hz: Tensor, loudness_db: Tensor, noise: Optional[Tensor] = None) -> Tensor:
        """render_hpn block by block: f0 [B, k] (Hz), loudness [B, k] (dB) → audio [B, k · hop]."""
        check_inputs(f0_hz, loudness_db)
        b, k = f0_hz.shape
        if b != self.batch:
            if not self.fresh:
                raise ValueError("batch size changed mid-stream: call reset() first")
            self.batch = b
            self.phase.reset(b)
            self.reverb.reset(b)
        self.fresh = False
        m = self.model
        harm, noise_head, self.gru_state = m.decode(f0_hz, loudness_db, self.gru_state)
        c = m.controls_from_heads(f0_hz, harm, noise_head)
        f0_frames, amps = c["f0_hz"][..., None], c["harmonic_amplitudes"]
        f0_s = upsample_frames(f0_frames, self.hop, self.last_f0)[..., 0]
        harmonic = harmonic_frames(self.phase.advance(f0_s), amps, self.hop, self.last_amps)
        self.last_f0, self.last_amps = f0_frames[:, -1:], amps[:, -1:]
        if noise is None:
            noise = uniform_noise(b, k, self.hop, self.generator)
        elif noise.shape != (b, k, self.hop):
            raise ValueError(f"noise must be [batch, frames, hop] = {(b, k, self.hop)}, got {tuple(noise.shape)}")
        mags = c["noise_magnitudes"]
        filtered = filter_noise(noise.to(mags), noise_filters(mags))  # [B, k·hop + L − 1]
        n = k * self.hop
        if self.noise_tail is not None:
            t = self.noise_tail.shape[1]
            filtered[:, :t] += self.noise_tail
        self.noise_tail = filtered[:, n:].clone()
        return self.reverb(harmonic + filtered[:, :n])


# ----------------------------------------------------------------------------- helpers


def stream(streamer, f0_hz: Tensor, loudness_db: Tensor, block: int) -> Tensor:
    """Run whole controls [B, T] through ``streamer`` in blocks of ``block`` frames; concatenated audio."""
    out = []
    with torch.no_grad():
        for i in range(0, f0_hz.shape[1], block):
            out.append(streamer.process(f0_hz[:, i:i + block], loudness_db[:, i:i + block]))
    return torch.cat(out, 1)


def make_streamer(model, ratios=None, env_gain=None, compiled: bool = False, seed: int = 0, native: bool = False):
    """The block-by-block renderer of a model (its concatenated blocks equal the offline render): DDX7 in Python,
    TorchScript (``compiled``) or C (``native``: ddx7.stream_native, the fastest); HpN in Python."""
    if getattr(model, "config", {}).get("model") == "ddx7":
        if compiled and native:
            raise ValueError("choose one of --compiled (TorchScript) and --native (C)")
        if native:
            from .stream_native import NativeStreamingDDX7
            return NativeStreamingDDX7(StreamingDDX7(model, ratios, env_gain, validate=False))
        return compile_streaming(model, ratios, env_gain) if compiled else StreamingDDX7(model, ratios, env_gain)
    if ratios is not None or env_gain is not None or compiled or native:
        raise ValueError("--ratios, --env-gain, --compiled and --native need a DDX7 model, not HpN")
    return StreamingHpN(model, seed=seed)
