"""Streaming (block-by-block) rendering that gives the offline render's samples.

    s = StreamingDDX7(model)                  # model: a DDX7 (weights are snapshot here)
    for f0_block, ld_block in blocks:         # [B, k] frames each, any k >= 1
        audio = s.process(f0_block, ld_block) # [B, k · hop]
    s.reset()                                 # start a new stream

    c = compile_streaming(model)              # the same, compiled with TorchScript
    h = StreamingHpN(hpn, seed=0)             # the HpN baseline, streamed the same way

Why the concatenated blocks equal ``model(f0, loudness)`` of the whole excerpt:

* TCN decoder (RAVE-style cached convolutions): every dilated causal convolution keeps its last
  (kernel − 1) · dilation input frames, zeros at the start = the offline left padding. The cache
  is a ring of per-frame tensors, so a one-frame block copies nothing: the kernel taps are list
  look-ups joined by one ``cat`` into the row that multiplies the weights (all taps in one matrix
  product; ``F.conv1d`` with dilation costs ~30× more on one frame). Longer blocks gather their
  taps with ``as_strided``.
* Controls: frame i's samples ramp from frame i − 1 to frame i (``upsample_frames``), so the only
  state is the last control frame (f0 and the envelopes after ``env_gain``), upsampled with the
  offline formula element for element.
* FM: the float64 phase sum Σ 2π f0 / fs is continued exactly as the offline ``cumsum`` runs (the
  block's first increment absorbs the running total), so every operator's phase equals the
  offline one bit for bit; the operators use the offline formulas. (This matters: a deep stack
  at Imax 4π magnifies a 1-ulp phase difference ~10^3×.) Every 2^22 samples (4.4 min) and when
  the ratios change, the phase is folded mod 2π into a per-operator offset.
* Reverb: uniformly partitioned overlap-save convolution (partition = one hop, 64 samples;
  16000 taps → 250 partitions of 128-point FFTs, a frequency-domain delay line in a ring), so a
  4 ms block costs one small FFT pair and 250 × 65 complex multiply-adds instead of a 2^17-point
  FFT. A model whose reverb tail is exactly zero (wet = 0) skips it: offline adds exact zeros then.

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
import torch.nn.functional as F
from torch import Tensor, nn

from . import HOP, SAMPLE_RATE

TWO_PI = 2 * math.pi
# The streaming phase equals the offline one bit for bit for the first REBASE_SAMPLES samples
# (about 4.4 minutes), then is folded mod 2π: float64 omega never exceeds π · 2^22 ≈ 1.3e7 rad.
REBASE_SAMPLES = 1 << 22


# ----------------------------------------------------------------------------- reverb


class StreamingReverb(nn.Module):
    """y = x + x * tail, block by block: uniformly partitioned overlap-save FFT convolution.

    The tail is cut into ``n`` partitions of ``partition`` samples (default one hop); each input
    sub-block m gives the spectrum X_m of the 2·partition window [x_{m−1}, x_m], kept in a ring
    (frequency-domain delay line), and the output is the last half of
    irfft(Σ_p X_{m−p} · H_p). Blocks must be a whole number of partitions.
    """

    def __init__(self, tail: Optional[Tensor], partition: int = HOP):
        super().__init__()
        self.partition = int(partition)
        p = self.partition
        if tail is None:
            tail = torch.zeros(p)
        tail = tail.detach().float()
        self.active = bool(torch.count_nonzero(tail) > 0)  # an all-zero tail adds exact zeros offline
        n = max(1, -(-tail.shape[-1] // p))
        tail = F.pad(tail, (0, n * p - tail.shape[-1])).reshape(n, p)
        spectra = torch.fft.rfft(F.pad(tail, (0, p)), dim=-1)  # H_p: [n, p + 1]
        # ring slot s (newest at ``pos``) holds X_{m − ((pos − s) mod n)}, which pairs with
        # H_{(pos − s) mod n} = G[(s − pos) mod n], G[i] = H_{(−i) mod n}; GG = [G, G] makes every
        # rotation one slice: GG[n − pos : 2n − pos].
        g = torch.cat([spectra[:1], spectra[1:].flip(0)], 0)
        self.register_buffer("rotations", torch.cat([g, g], 0).contiguous())
        self.n = n
        self.pos = 0
        self.register_buffer("ring", torch.zeros(1, n, p + 1, dtype=spectra.dtype), persistent=False)
        self.register_buffer("previous", torch.zeros(1, p), persistent=False)

    @torch.jit.export
    def reset(self, batch: int):
        p = self.partition
        self.ring = torch.zeros(batch, self.n, p + 1, dtype=self.rotations.dtype, device=self.rotations.device)
        self.previous = torch.zeros(batch, p, device=self.rotations.device)
        self.pos = 0

    def forward(self, x: Tensor) -> Tensor:
        if not self.active:
            return x
        p = self.partition
        n = self.n
        b, length = x.shape
        k = length // p
        if k * p != length:
            raise ValueError("reverb blocks must be a whole number of partitions")
        sig = torch.cat([self.previous, x], 1)  # [B, (k + 1) p]
        self.previous = sig[:, length:]
        if k == 1:
            self.pos = (self.pos + 1) % n
            self.ring[:, self.pos] = torch.fft.rfft(sig)
            acc = (self.ring * self.rotations[n - self.pos: 2 * n - self.pos]).sum(1)  # [B, p + 1]
            return x + torch.fft.irfft(acc, n=2 * p, dim=-1)[:, p:]
        spec = torch.fft.rfft(sig.unfold(1, 2 * p, p), dim=-1)  # [B, k, p + 1]
        if k <= 4:  # a few sub-blocks: one ring step each
            accs: List[Tensor] = []
            for m in range(k):
                self.pos = (self.pos + 1) % n
                self.ring[:, self.pos] = spec[:, m]
                accs.append((self.ring * self.rotations[n - self.pos: 2 * n - self.pos]).sum(1))
            acc = torch.stack(accs, 1)  # [B, k, p + 1]
        else:
            # all at once: the n − 1 newest spectra oldest first (slot pos + 1 is the oldest and
            # drops out), then the k new ones; window j of n pairs with H_{n−1−j} = GG[j + 1]
            older = torch.roll(self.ring, n - 1 - self.pos, 1)[:, 1:]
            full = torch.cat([older, spec], 1)  # [B, n − 1 + k, p + 1]
            acc = (full.unfold(1, n, 1) * self.rotations[1:n + 1].t()).sum(-1)  # [B, k, p + 1]
            self.ring = full[:, k - 1:]  # the n newest, oldest first: the newest sits in slot n − 1
            self.pos = n - 1
        wet = torch.fft.irfft(acc, n=2 * p, dim=-1)[..., p:]
        return x + wet.reshape(b, length)


# ----------------------------------------------------------------------------- DDX7


class StreamingDDX7(nn.Module):
    """Block-by-block DDX7 whose concatenated output equals the offline render (see module doc).

    ``process(f0 [B, k] Hz, loudness [B, k] dB) -> audio [B, k · hop]`` for any k ≥ 1; the batch
    size is fixed by the first block after construction or ``reset()``. ``validate`` checks every
    block (f0 finite and > 0, loudness finite) with one reduction and one sync.

    One flat module (no sub-module per layer) so that eager Python overhead stays small; the same
    code compiles with TorchScript (:func:`compile_streaming`). CPU, float32.
    """

    weights: List[Tensor]
    biases: List[Tensor]
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
        """Per conv: weight [kernel · C_in, C_out] (all taps in one matrix product), bias, dilation and
        the history ring. A 1×1 residual projection is appended to conv1's output columns (it reads
        conv1's current-frame tap), saving a matrix product per block where channels change."""
        self.weights, self.biases, self.dilations, self.c_in, self.history = [], [], [], [], []
        self.step = 0  # frames processed: the ring position of every conv's history
        self.n_blocks = len(decoder.blocks)
        self.hidden = []
        self.has_residual = []
        self.kernel = int(decoder.blocks[0].conv1.conv.kernel_size[0])
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
                self.weights.append(w2.t().contiguous())  # [kernel · C_in, C_out] for addmm
                self.biases.append(b2.contiguous().clone())
                self.dilations.append(d)
                self.c_in.append(int(c_in))
                self.history.append([torch.zeros(1, int(c_in))] * ((kernel - 1) * d))

    def _init_synth(self, synth):
        patch = synth.patch
        self.n_ops = patch.n_ops
        self.order = [int(k) for k in patch.order]
        self.modulators = [list(patch.modulators.get(k, [])) for k in range(patch.n_ops)]
        self.carriers = list(patch.carriers)
        self.max_ol = float(synth.max_ol)
        self.two_pi = TWO_PI
        # Constants as 0-dim tensors of the operand's dtype: a Python number costs an extra
        # wrap-and-convert per op (~2 µs in TorchScript); the results are the same bits, since a
        # number is rounded to the tensor's dtype before the op either way.
        f32, f64 = torch.float32, torch.float64
        for name, value, dtype in (("c_max_ol", self.max_ol, f32), ("c_two_pi", TWO_PI, f32),
                                   ("c_two_pi64", TWO_PI, f64), ("c_omega_scale", TWO_PI / self.sample_rate, f64),
                                   ("c_440", 440.0, f32), ("c_12", 12.0, f32), ("c_69", 69.0, f32),
                                   ("c_127", 127.0, f32), ("c_80", 80.0, f32), ("c_1", 1.0, f32)):
            self.register_buffer(name, torch.tensor(value, dtype=dtype))
        self.register_buffer("ramp", torch.arange(1, self.hop + 1, dtype=torch.float32) / self.hop)
        self.register_buffer("ratios", torch.tensor(patch.ratios, dtype=torch.float64))
        self.register_buffer("env_gain", torch.ones(self.n_ops))
        self.use_gain = False
        self.started = False
        self.register_buffer("last_frame", torch.zeros(1, 1 + self.n_ops, 1), persistent=False)
        # phase_k = (offset_k + r_k · omega) mod 2π, omega = float64 Σ 2π f0 / fs continued exactly as the
        # offline cumsum does (so phases equal offline bit for bit); folded into offset_k (and omega
        # reset to 0) every REBASE_SAMPLES samples and when the ratios change
        self.register_buffer("omega_end", torch.zeros(1, dtype=torch.float64), persistent=False)
        self.register_buffer("offset", torch.zeros(1, self.n_ops, dtype=torch.float64), persistent=False)
        self.use_offset = False
        self.samples_since_rebase = 0
        self.rebase_samples = REBASE_SAMPLES

    def set_intervention(self, ratios=None, env_gain=None):
        """Replace the patch's ratios (K values) and/or scale the envelopes (K gains); None keeps
        the current setting. Mid-stream, each operator keeps its phase and envelopes ramp from the
        last frame. (Eager module; a compiled one takes them in :func:`compile_streaming`.)"""
        from .synth.fm import check_env_gain, check_ratios

        check_ratios(ratios, self.n_ops)
        check_env_gain(env_gain, self.n_ops)
        if ratios is not None:
            r = torch.as_tensor(ratios, dtype=torch.float64).flatten()
            if not self.fresh:
                self.rebase()  # keep every operator's phase: new ratios apply from here on
            self.ratios.copy_(r)
        if env_gain is not None:
            g = torch.as_tensor(env_gain, dtype=torch.float32).flatten()
            self.env_gain.copy_(g)
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
        self.last_frame = torch.zeros(batch, 1 + self.n_ops, 1)
        self.omega_end = torch.zeros(batch, dtype=torch.float64)
        self.offset = torch.zeros(batch, self.n_ops, dtype=torch.float64)
        self.use_offset = False
        self.samples_since_rebase = 0
        self.reverb.reset(batch)
        self.batch = batch
        self.fresh = True
        self.started = False

    # -- processing

    # The cache of conv i (RAVE-style cached convolution) is a ring of its last (kernel − 1)·d input
    # frames, each [B, C_in]: frame t sits in slot t mod (kernel − 1)·d. A block copies nothing
    # from it: the kernel taps of every output frame are list look-ups (ring or current block),
    # joined by one cat into the rows that multiply the weights [kernel · C_in, C_out].

    def _conv(self, i: int, x: Tensor, b: int, k: int) -> Tensor:
        """Conv i on a block of k frames, rows [B · k, C_in] (batch-major) → [B · k, C_out]."""
        hist = self.history[i]
        n = len(hist)
        if n == 0:
            return torch.addmm(self.biases[i], x, self.weights[i])
        d = self.dilations[i]
        frames = [x] if k == 1 else x.view(b, k, -1).unbind(1)
        now = self.step % n
        taps: List[Tensor] = []
        for j in range(k):  # output frame j reads frames j − (kernel − 1 − t)·d, t = 0 … kernel − 1
            for t in range(self.kernel):
                src = j - (self.kernel - 1 - t) * d
                taps.append(frames[src] if src >= 0 else hist[(now + n + src) % n])
        for j in range(max(0, k - n), k):  # then the newest frames replace the oldest
            hist[(now + j) % n] = frames[j]
        cols = torch.cat(taps, 1)
        if k > 1:
            cols = cols.view(b * k, -1)
        return torch.addmm(self.biases[i], cols, self.weights[i])

    def scale_inputs(self, f0_hz: Tensor, loudness_db: Tensor) -> Tensor:
        """[B, k] f0 (Hz), loudness (dB) → decoder inputs [B, k, 2] (ddx7.models.tcn's scale_f0/scale_loudness)."""
        f0_scaled = (self.c_69 + self.c_12 * torch.log2(f0_hz / self.c_440)) / self.c_127
        return torch.stack([f0_scaled, loudness_db / self.c_80 + self.c_1], 2)

    def decode(self, f0_hz: Tensor, loudness_db: Tensor) -> Tensor:
        """TCN: [B, k] → envelope logits [B, k, K]."""
        return self.decode_scaled(self.scale_inputs(f0_hz, loudness_db))

    def decode_scaled(self, x: Tensor) -> Tensor:
        """TCN on scaled inputs [B, k, 2] → envelope logits [B, k, K]."""
        b, k = x.shape[0], x.shape[1]
        x = x.reshape(b * k, -1)  # activations as rows [B · k, C] all the way
        last = self.n_blocks - 1
        for i in range(self.n_blocks):
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
            else:  # relu(relu(h) + res), in place on h (a fresh tensor)
                x = torch.relu_(torch.relu_(h).add_(res))
        self.step += k
        return x.view(b, k, -1)

    def synthesize(self, f0_hz: Tensor, envelopes: Tensor) -> Tensor:
        """FM: f0 [B, k] Hz, envelopes [B, k, K] (a_k, before env_gain) → dry audio [B, k · hop]."""
        b, k = f0_hz.shape
        if self.use_gain:
            envelopes = envelopes * self.env_gain
        # channels first, so that every operator's samples are contiguous: [B, 1 + K, k]
        frames = torch.cat([f0_hz[:, None, :], envelopes.transpose(1, 2)], 1)
        previous = self.last_frame if self.started else frames[:, :, :1]
        before = previous if k == 1 else torch.cat([previous, frames[:, :, :-1]], 2)
        self.last_frame = frames[:, :, -1:]
        self.started = True
        # upsample_frames, element for element the same formula (f0 rounding would accumulate in the phase)
        up = (before[:, :, :, None] + (frames - before)[:, :, :, None] * self.ramp).reshape(b, 1 + self.n_ops, k * self.hop)
        ctl = up.unbind(1)  # f0, a_1 … a_K at the sample rate
        # accumulate_phase: the offline float64 cumsum continued exactly (the first increment absorbs
        # the running total, as the sequential cumsum does), then r_k · omega mod 2π: [B, K, N]
        steps = ctl[0].double() * self.c_omega_scale
        steps[:, 0] += self.omega_end
        omega = torch.cumsum(steps, dim=1)
        self.omega_end = omega[:, -1]
        phase = omega[:, None, :] * self.ratios.unsqueeze(1)
        if self.use_offset:
            phase = phase + self.offset[:, :, None]
        phases = torch.remainder(phase, self.c_two_pi64).float().unbind(1)
        self.samples_since_rebase += k * self.hop
        if self.samples_since_rebase >= self.rebase_samples:
            self.rebase()
        # the operators, top of each stack first, with the offline formulas
        outs: List[Tensor] = list(phases)
        for op in self.order:
            arg = phases[op]
            for j in self.modulators[op]:
                arg = arg + self.c_two_pi * outs[j]
            outs[op] = ctl[1 + op] * torch.sin(arg)
        audio = outs[self.carriers[0]]
        for c in self.carriers[1:]:
            audio = audio + outs[c]
        return audio / self.c_max_ol

    @torch.jit.export
    def rebase(self):
        """Fold the running phase into the per-operator offsets (exact mod 2π; keeps float64 omega small)."""
        self.offset = torch.remainder(self.offset + self.omega_end[:, None] * self.ratios, self.two_pi)
        self.omega_end = torch.zeros_like(self.omega_end)
        self.use_offset = True
        self.samples_since_rebase = 0

    @torch.jit.export
    def operator_phases(self) -> Tensor:
        """Each operator's phase after the last sample rendered, in [0, 2π): [B, K] float64."""
        return torch.remainder(self.offset + self.omega_end[:, None] * self.ratios, self.two_pi)

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
        scaled = self.scale_inputs(f0_hz, loudness_db)
        self._check(f0_hz, loudness_db, scaled)
        b = f0_hz.shape[0]
        if b != self.batch:
            if not self.fresh:
                raise ValueError("batch size changed mid-stream: call reset() first")
            self.init_state(b)
        self.fresh = False
        envelopes = self.c_max_ol * torch.sigmoid(self.decode_scaled(scaled))
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
        with torch.no_grad():
            self.reverb = StreamingReverb(model.reverb.tail() if model.reverb is not None else None, self.hop)
        self.reset()

    def reset(self):
        """Forget the stream (state re-made here, so reset outside torch.inference_mode)."""
        self.generator = torch.Generator().manual_seed(self.seed)
        self.gru_state = None
        self.last_f0 = None
        self.last_amps = None
        self.omega_end = None
        self.offset = None
        self.samples_since_rebase = 0
        self.noise_tail = None
        self.batch = getattr(self, "batch", 1)
        self.reverb.reset(self.batch)
        self.fresh = True

    def _harmonics(self, f0_s: Tensor, amps_s: Tensor) -> Tensor:
        """render_harmonics with its float64 phase continued exactly (as in StreamingDDX7.synthesize)."""
        steps = f0_s.double() * (TWO_PI / self.sample_rate)
        if self.omega_end is not None:
            steps[:, 0] += self.omega_end
        omega = torch.cumsum(steps, dim=1)
        self.omega_end = omega[:, -1]
        phase = omega[:, :, None]  # accumulate_phase's ratio 1 (× 1.0 is exact)
        if self.offset is not None:
            phase = phase + self.offset[:, None, None]
        phase = torch.remainder(phase, TWO_PI).float()
        self.samples_since_rebase += f0_s.shape[1]
        if self.samples_since_rebase >= REBASE_SAMPLES:
            base = self.offset if self.offset is not None else torch.zeros_like(self.omega_end)
            self.offset = torch.remainder(base + self.omega_end, TWO_PI)
            self.omega_end = torch.zeros_like(self.omega_end)
            self.samples_since_rebase = 0
        harmonics = torch.arange(1, amps_s.shape[-1] + 1, dtype=phase.dtype, device=phase.device)
        return (amps_s * torch.sin(phase * harmonics)).sum(-1)

    @torch.no_grad()
    def process(self, f0_hz: Tensor, loudness_db: Tensor, noise: Optional[Tensor] = None) -> Tensor:
        from .models.ddx7 import check_inputs
        from .synth.fm import upsample_frames
        from .synth.harmonic import filter_noise, noise_filters

        check_inputs(f0_hz, loudness_db)
        b, k = f0_hz.shape
        if b != self.batch:
            if not self.fresh:
                raise ValueError("batch size changed mid-stream: call reset() first")
            self.batch = b
            self.reverb.reset(b)
        self.fresh = False
        m = self.model
        harm, noise_head, self.gru_state = m.decode(f0_hz, loudness_db, self.gru_state)
        c = m.controls_from_heads(f0_hz, harm, noise_head)
        f0_frames, amps = c["f0_hz"][..., None], c["harmonic_amplitudes"]
        f0_s = upsample_frames(f0_frames, self.hop, self.last_f0)[..., 0]
        amps_s = upsample_frames(amps, self.hop, self.last_amps)
        self.last_f0, self.last_amps = f0_frames[:, -1:], amps[:, -1:]
        harmonic = self._harmonics(f0_s, amps_s)
        if noise is None:
            noise = torch.rand(b, k, self.hop, generator=self.generator) * 2 - 1
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


# ----------------------------------------------------------------------------- causal features


class CausalFeatures:
    """f0 and loudness frames from audio blocks, looking only at the past (no look-ahead).

    Frame i of a block uses the samples up to the end of its hop, i.e. the window that *ends* at
    sample (i + 1)·hop, where the offline features (ddx7.data.features) are centred on i·hop:

    * loudness: the offline formula (Hann 2048-point |STFT|, 20 log10, A-weighting, − 20.7 dB,
      floor −80 dB, mean over bins) on the 2048 samples ending at the frame's last sample;
    * f0: YIN (``librosa.yin``, frame 1024, fmin 50, fmax 2000 Hz) on the 1024 samples ending
      there; frames quieter than ``gate_db`` hold the last pitch (the synth needs f0 > 0).

    No sample of the future is used, so the only added latency is the block itself; but the
    analysis windows are centred 1024 − 64 samples (60 ms, loudness) and 512 − 64 samples
    (28 ms, f0) behind the frame, so the controls trail the offline (centred) features by that.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, hop: int = HOP, loudness_n_fft: int = 2048,
                 f0_frame: int = 1024, fmin: float = 50.0, fmax: float = 2000.0, gate_db: float = -70.0):
        self.sr, self.hop = sample_rate, hop
        self.n_fft, self.f0_frame = loudness_n_fft, f0_frame
        self.fmin, self.fmax, self.gate_db = fmin, fmax, gate_db
        self.reset()

    def reset(self):
        import numpy as np

        self.history = np.zeros(max(self.n_fft, self.f0_frame) - self.hop, np.float32)
        self.last_f0 = None

    def lag_ms(self) -> dict:
        return {"loudness": 1000 * (self.n_fft / 2 - self.hop) / self.sr,
                "f0": 1000 * (self.f0_frame / 2 - self.hop) / self.sr}

    def __call__(self, block):
        """A block of k·hop samples → (f0 [k], loudness [k]) as float32 numpy arrays."""
        import librosa
        import numpy as np

        from .data.features import RANGE_DB, REF_DB, _a_weighting

        block = np.asarray(block, np.float32)
        if block.ndim != 1 or len(block) == 0 or len(block) % self.hop:
            raise ValueError(f"blocks must be 1-D and a multiple of {self.hop} samples, got shape {block.shape}")
        k = len(block) // self.hop
        buf = np.concatenate([self.history, block])
        self.history = buf[len(buf) - len(self.history):]
        lbuf = buf[len(buf) - (self.n_fft - self.hop + len(block)):]
        spec = np.abs(librosa.stft(lbuf, n_fft=self.n_fft, hop_length=self.hop, center=False))[:, :k]
        db = 20.0 * np.log10(np.maximum(spec, 1e-20)) + _a_weighting(self.sr, self.n_fft)[:, None] - REF_DB
        loudness = np.maximum(db, -RANGE_DB).mean(axis=0).astype(np.float32)
        fbuf = buf[len(buf) - (self.f0_frame - self.hop + len(block)):]
        f0 = librosa.yin(fbuf, fmin=self.fmin, fmax=self.fmax, sr=self.sr, frame_length=self.f0_frame,
                         hop_length=self.hop, center=False)[:k].astype(np.float32)
        for i in range(k):  # hold the pitch through silence (and before the first sound)
            if loudness[i] < self.gate_db or not np.isfinite(f0[i]):
                f0[i] = self.last_f0 if self.last_f0 is not None else 220.0
            self.last_f0 = float(f0[i])
        return f0, loudness


# ----------------------------------------------------------------------------- any model


def make_streamer(model, ratios=None, env_gain=None, compiled: bool = False, seed: int = 0):
    """The block-by-block renderer of a model (its concatenated blocks equal the offline render)."""
    if getattr(model, "config", {}).get("model") == "ddx7":
        return compile_streaming(model, ratios, env_gain) if compiled else StreamingDDX7(model, ratios, env_gain)
    if ratios is not None or env_gain is not None or compiled:
        raise ValueError("--ratios, --env-gain and --compiled need a DDX7 model, not HpN")
    return StreamingHpN(model, seed=seed)
