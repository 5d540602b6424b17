/*
 * DDX7 causal features in the browser: f0 (YIN) and A-weighted loudness, frame by frame.
 *
 * A JavaScript copy of ddx7.data.features.CausalFeatures.__call__ (Python); change both together.
 * Frame i of a block (hop 64 at 16 kHz) ends at the block's sample (i + 1)·64 and looks only at the past:
 *   loudness: the 2048 samples ending there · periodic Hann (scipy's "hann", fftbins) → |FFT| per bin
 *     k = 0..1024 → 20·log10(max(|X|, 1e-20)) + A(k) − REF_DB (20.7) → max(·, −RANGE_DB (−80)) → mean
 *     over the 1025 bins; A(k) = librosa.A_weighting(k·sr/2048) (min_db −80, float32), as _a_weighting;
 *   f0: librosa.yin(frame 1024, fmin 50, fmax 2000, center=False, trough_threshold 0.1) on the 1024
 *     samples ending there, step for step as librosa 0.11 (core/pitch.py) computes it:
 *       acf = autocorrelation (FFT, 2048 points), E[j] = Σ_{m≤j} y[m]²,
 *       d[0] = 0, d[k] = 2·(acf[0] − acf[k]) − E[k−1], E[0] taken as 0 (librosa's form, its quirks kept),
 *       x[τ − 8] = d[τ] / (Σ_{j=1..τ} d[j] / τ + tiny(float32)),  τ = 8 (⌊sr/fmax⌋) … 320 (⌈sr/fmin⌉),
 *       troughs: x[0] < x[1]; x[i] < x[i−1] and x[i] ≤ x[i+1]; last: x[M−1] < x[M−2];
 *       index = the first trough with x < 0.1, else argmin x (the first minimum),
 *       shift = parabolic (a = x[i+1] + x[i−1] − 2x[i], b = (x[i+1] − x[i−1])/2, −b/a; 0 when |b| ≥ |a|
 *         or at either end), f0 = sr / (8 + index + shift);
 *   then a frame quieter than gate_db (−70 dB), whose YIN window is digitally silent (Σ y² = acf[0] <
 *     SILENT_ENERGY, 1e-10) or with a non-finite f0 holds the last f0 (220 Hz before the first one).
 * Python computes in float32 (librosa's float32 frames and FFTs); this file computes in float64 and
 * rounds the outputs to float32, so they agree to float32 rounding: tests/test_web_features.py feeds
 * the same signals to both in headless Chromium (in blocks of several sizes) and compares.
 * Beyond Python's outputs, each frame also reports YIN's periodicity (1 − x at the chosen lag) and
 * whether a trough under the threshold was found ("voiced"): the page's "no pitch found" check.
 *
 * Speed: three 2048-point real FFTs per frame (each a 1024-point complex FFT: the Hann frame, the YIN
 * frame, its power spectrum back to the autocorrelation), all buffers preallocated, no allocation per
 * frame (processFrame). benchmark() measures it in the page. (Packing two real frames into one complex
 * FFT would save one, but leaks rounding noise of the loud frame into a silent one: a digitally
 * silent YIN frame must give librosa's exact zeros and acf[0] = 0, as Python does.)
 *
 * Also: Resampler / resample / resampleTo16k (Kaiser-windowed sinc, band-limited; see below) and
 * toMono (downmix), for files and the microphone. No DOM use: the same file can run inside an
 * AudioWorklet (e.g. concatenated into its data: URL). Classic script: defines globalThis.DDX7Features.
 */
(function (root) {
  "use strict";
  var TINY32 = 1.1754943508222875e-38; // np.finfo(np.float32).tiny: librosa's util.tiny of float32 frames
  var SILENT_ENERGY = 1e-10; // ddx7.data.features.SILENT_ENERGY: a digitally silent YIN window holds the pitch

  // ------------------------------------------------------------------------------------- FFT
  /** In-place radix-2 complex FFT of size n (a power of 2), precomputed twiddles and bit reversal. */
  function FFT(n) {
    if (n < 2 || (n & (n - 1)) !== 0) throw new Error("FFT size must be a power of 2, got " + n);
    this.n = n;
    this.cos = new Float64Array(n >> 1);
    this.sin = new Float64Array(n >> 1);
    for (var i = 0; i < n >> 1; i++) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / n);
      this.sin[i] = Math.sin((2 * Math.PI * i) / n);
    }
    this.rev = new Uint32Array(n);
    var bits = Math.round(Math.log(n) / Math.LN2);
    for (var j = 0; j < n; j++) {
      var r = 0;
      for (var b = 0; b < bits; b++) r |= ((j >> b) & 1) << (bits - 1 - b);
      this.rev[j] = r;
    }
  }
  /** X[k] = Σ_m x[m]·e^{−2πikm/n}, in place on (re, im). */
  FFT.prototype.forward = function (re, im) {
    var n = this.n, rev = this.rev, cs = this.cos, sn = this.sin, i, j, t;
    for (i = 0; i < n; i++) {
      j = rev[i];
      if (j > i) {
        t = re[i]; re[i] = re[j]; re[j] = t;
        t = im[i]; im[i] = im[j]; im[j] = t;
      }
    }
    for (i = 0; i < n; i += 2) { // size-2 stage: twiddle 1
      var ar = re[i + 1], ai = im[i + 1];
      re[i + 1] = re[i] - ar; im[i + 1] = im[i] - ai; re[i] += ar; im[i] += ai;
    }
    for (var size = 4; size <= n; size <<= 1) {
      var half = size >> 1, step = n / size;
      for (var s = 0; s < n; s += size) {
        for (var q = 0, k = 0; q < half; q++, k += step) {
          var a = s + q, l = a + half, c = cs[k], d = sn[k];
          var tr = re[l] * c + im[l] * d, ti = im[l] * c - re[l] * d;
          re[l] = re[a] - tr; im[l] = im[a] - ti; re[a] += tr; im[a] += ti;
        }
      }
    }
  };

  /**
   * Real-input FFT of size n by one complex FFT of size n/2 (even samples as real part, odd as imaginary,
   * then the split): forward(x, offset, len, re, im) reads x[offset + m] for m < len (zeros up to n) and
   * writes bins 0 … n/2. Each transform sees only its own signal, so a silent frame gives exact zeros.
   */
  function RealFFT(n) {
    this.n = n;
    this.fft = new FFT(n >> 1);
    this.zr = new Float64Array(n >> 1);
    this.zi = new Float64Array(n >> 1);
    this.c = new Float64Array((n >> 1) + 1);
    this.s = new Float64Array((n >> 1) + 1);
    for (var k = 0; k <= n >> 1; k++) {
      this.c[k] = Math.cos((2 * Math.PI * k) / n);
      this.s[k] = Math.sin((2 * Math.PI * k) / n);
    }
  }
  RealFFT.prototype.forward = function (x, offset, len, re, im) {
    var h = this.n >> 1, zr = this.zr, zi = this.zi, m, k;
    for (m = 0; m < h; m++) {
      zr[m] = 2 * m < len ? x[offset + 2 * m] : 0;
      zi[m] = 2 * m + 1 < len ? x[offset + 2 * m + 1] : 0;
    }
    this.fft.forward(zr, zi);
    for (k = 0; k <= h; k++) {
      var a = k === h ? 0 : k, b = k === 0 ? 0 : h - k;
      var er = 0.5 * (zr[a] + zr[b]), ei = 0.5 * (zi[a] - zi[b]);
      var or = 0.5 * (zi[a] + zi[b]), oi = -0.5 * (zr[a] - zr[b]);
      var c = this.c[k], s = this.s[k];
      re[k] = er + c * or + s * oi;
      im[k] = ei + c * oi - s * or;
    }
  };

  /** librosa.A_weighting(librosa.fft_frequencies(sr, nFft)) with min_db −80, rounded to float32. */
  function aWeighting(sr, nFft) {
    var c = [12194.217 * 12194.217, 20.598997 * 20.598997, 107.65265 * 107.65265, 737.86223 * 737.86223];
    var w = new Float64Array((nFft >> 1) + 1), lg = Math.log10;
    for (var k = 0; k < w.length; k++) {
      var f = (k * sr) / nFft, f2 = f * f;
      var v = 2.0 + 20.0 * (lg(c[0]) + 2 * lg(f2) - lg(f2 + c[0]) - lg(f2 + c[1]) -
                            0.5 * lg(f2 + c[2]) - 0.5 * lg(f2 + c[3]));
      w[k] = Math.fround(Math.max(-80.0, v)); // f = 0: log10(0) = −Infinity → −80
    }
    return w;
  }

  // ----------------------------------------------------------------------- causal features
  /**
   * new CausalFeatures(opts): opts (all optional, Python's defaults) sampleRate 16000, hop 64, nFft 2048,
   * f0Frame 1024, fmin 50, fmax 2000, gateDb −70, refDb 20.7, rangeDb 80, troughThreshold 0.1.
   * process(block) → {f0, loudness, periodicity, voiced} (Float32Array / Uint8Array, one per frame);
   * processFrame(samples, offset) does one hop without allocating and sets this.f0, this.loudness,
   * this.periodicity, this.voiced. reset() forgets the past (zeros, no pitch yet).
   */
  function CausalFeatures(opts) {
    opts = opts || {};
    this.sr = opts.sampleRate || 16000;
    this.hop = opts.hop || 64;
    this.nFft = opts.nFft || 2048;
    this.f0Frame = opts.f0Frame || 1024;
    this.fmin = opts.fmin || 50.0;
    this.fmax = opts.fmax || 2000.0;
    this.gateDb = opts.gateDb === undefined ? -70.0 : opts.gateDb;
    this.refDb = opts.refDb === undefined ? 20.7 : opts.refDb;
    this.rangeDb = opts.rangeDb === undefined ? 80.0 : opts.rangeDb;
    this.threshold = opts.troughThreshold === undefined ? 0.1 : opts.troughThreshold;
    this.minPeriod = Math.floor(this.sr / this.fmax);
    this.maxPeriod = Math.min(Math.ceil(this.sr / this.fmin), this.f0Frame - 1);
    // one FFT size for both: the Hann frame, and the zero-padded YIN frame (≥ 2·1024 − 1: linear acf,
    // librosa's autocorrelate pads to scipy's next_fast_len(2047) = 2048 too)
    var n = Math.max(this.nFft, 1 << Math.ceil(Math.log2(2 * this.f0Frame - 1)));
    if ((this.nFft & (this.nFft - 1)) !== 0 || this.nFft !== n || this.hop > this.f0Frame)
      throw new Error("nFft must be a power of 2 ≥ 2·f0Frame − 1 and hop ≤ f0Frame");
    this.fft = new RealFFT(n);
    this.window = new Float64Array(n);
    for (var i = 0; i < n; i++) this.window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
    this.aw = aWeighting(this.sr, n);
    this.len = Math.max(this.nFft, this.f0Frame); // history + the current hop
    this.buf = new Float32Array(this.len);
    this.tmp = new Float64Array(n); // the Hann frame, then the mirrored power spectrum
    this.re = new Float64Array((n >> 1) + 1);
    this.im = new Float64Array((n >> 1) + 1);
    this.d = new Float64Array(this.maxPeriod + 1);
    this.x = new Float64Array(this.maxPeriod - this.minPeriod + 1);
    this.reset();
  }
  CausalFeatures.prototype.reset = function () {
    this.buf.fill(0);
    this.lastF0 = null;
    this.f0 = 220; this.loudness = -this.rangeDb; this.periodicity = 0; this.voiced = false;
  };
  CausalFeatures.prototype.lagMs = function () {
    return {loudness: (1000 * (this.nFft / 2 - this.hop)) / this.sr, f0: (1000 * (this.f0Frame / 2 - this.hop)) / this.sr};
  };
  /** One hop: samples[offset … offset + hop) are the newest; sets this.f0 / loudness / periodicity / voiced. */
  CausalFeatures.prototype.processFrame = function (samples, offset) {
    var hop = this.hop, len = this.len, buf = this.buf, n = this.fft.n, i;
    offset = offset || 0;
    buf.copyWithin(0, hop);
    for (i = 0; i < hop; i++) buf[len - hop + i] = samples[offset + i]; // float32, like Python's blocks
    // loudness: |rfft(Hann · the last nFft samples)|, bins 0 … n/2
    var re = this.re, im = this.im, w = this.window, tmp = this.tmp, y0 = len - this.f0Frame, k;
    for (i = 0; i < n; i++) tmp[i] = w[i] * buf[len - n + i];
    this.fft.forward(tmp, 0, n, re, im);
    var aw = this.aw, ref = this.refDb, floor = -this.rangeDb, half = n >> 1, sum = 0;
    for (k = 0; k <= half; k++) {
      var p = re[k] * re[k] + im[k] * im[k];
      var db = 10 * Math.log10(p > 1e-40 ? p : 1e-40) + aw[k] - ref; // = 20·log10(max(|X|, 1e-20))
      sum += db > floor ? db : floor;
    }
    var loud = Math.fround(sum / (half + 1));
    // YIN: autocorrelation of the last f0Frame samples = inverse FFT of the zero-padded power spectrum;
    // that spectrum is real and even, so its inverse is the forward transform of its mirror, / n
    this.fft.forward(buf, y0, this.f0Frame, re, im);
    for (k = 0; k <= half; k++) {
      tmp[k] = re[k] * re[k] + im[k] * im[k];
      if (k > 0 && k < half) tmp[n - k] = tmp[k];
    }
    this.fft.forward(tmp, 0, n, re, im);
    var d = this.d, maxP = this.maxPeriod, minP = this.minPeriod, acf0 = re[0] / n, e = 0, v;
    d[0] = 0;
    for (k = 1; k <= maxP; k++) {
      v = buf[y0 + k - 1];
      e += v * v; // E[k − 1]; librosa zeroes E[0] before using it, so d[1] subtracts nothing
      d[k] = 2 * (acf0 - re[k] / n) - (k === 1 ? 0 : e);
    }
    // cumulative mean normalised difference over τ = minP … maxP
    var x = this.x, m = x.length, cum = 0;
    for (k = 1; k <= maxP; k++) {
      cum += d[k];
      if (k >= minP) x[k - minP] = d[k] / (cum / k + TINY32);
    }
    var idx = -1, best = 0, hasNaN = false;
    for (i = 0; i < m; i++) {
      v = x[i];
      if (v !== v) hasNaN = true;
      var trough = i === 0 ? v < x[1] : i === m - 1 ? v < x[m - 2] : v < x[i - 1] && v <= x[i + 1];
      if (trough && v < this.threshold) { idx = i; break; }
    }
    this.voiced = idx >= 0;
    if (idx < 0) { // no trough under the threshold: the global minimum (numpy argmin: first one)
      idx = 0; best = x[0];
      for (i = 1; i < m; i++) if (x[i] < best) { best = x[i]; idx = i; }
    }
    var shift = 0;
    if (idx > 0 && idx < m - 1) {
      var a = x[idx + 1] + x[idx - 1] - 2 * x[idx], b = (x[idx + 1] - x[idx - 1]) / 2;
      shift = Math.abs(b) >= Math.abs(a) ? 0 : -b / a;
    }
    var f0 = hasNaN && !this.voiced ? NaN : Math.fround(this.sr / (minP + idx + shift));
    this.periodicity = Math.fround(Math.min(1, Math.max(0, 1 - x[idx])));
    if (acf0 < SILENT_ENERGY) this.voiced = false;
    if (loud < this.gateDb || acf0 < SILENT_ENERGY || !isFinite(f0)) f0 = this.lastF0 === null ? 220 : this.lastF0;
    this.lastF0 = f0;
    this.f0 = f0;
    this.loudness = loud;
  };
  /** A block of k·hop samples → {f0, loudness, periodicity, voiced}, k values each. */
  CausalFeatures.prototype.process = function (block) {
    if (!block || block.length === 0 || block.length % this.hop !== 0)
      throw new Error("blocks must be a multiple of " + this.hop + " samples, got " + (block ? block.length : block));
    var k = block.length / this.hop;
    var out = {f0: new Float32Array(k), loudness: new Float32Array(k), periodicity: new Float32Array(k), voiced: new Uint8Array(k)};
    for (var i = 0; i < k; i++) {
      this.processFrame(block, i * this.hop);
      out.f0[i] = this.f0; out.loudness[i] = this.loudness;
      out.periodicity[i] = this.periodicity; out.voiced[i] = this.voiced ? 1 : 0;
    }
    return out;
  };

  // ----------------------------------------------------------------------------- resampling
  /*
   * Band-limited resampling by a Kaiser-windowed sinc (the method of resampy / libsamplerate's sinc
   * converters): cutoff fc = rolloff · min(fromRate, toRate) / 2 (rolloff 0.92: 7.36 kHz when the
   * output is 16 kHz), `zeros` zero crossings of the sinc on each side (default 24), Kaiser β 9
   * (side lobes ≈ −90 dB), read from a 512-points-per-crossing table with linear interpolation.
   * Output sample n is at input time n·fromRate/toRate (computed exactly in integers), so a whole buffer
   * comes out without delay; streaming (push, e.g. an AudioWorklet's 128-sample quanta) returns each
   * output sample once its right-hand taps have arrived, equal to the whole-buffer result, with a latency
   * of ⌈zeros / (2·fc / fromRate)⌉ input samples (79 at 48 kHz → 16 kHz: 1.6 ms).
   * Measured (tests/test_web_features.py and a sweep, 44.1 and 48 kHz → 16 kHz, sines at −6 dBFS):
   * flat (±0.01 dB) to 6.5 kHz, −1 dB at 7 kHz, −6 dB at fc = 7.36 kHz, −14 dB at 7.6 kHz; from 8 kHz on
   * (everything that would alias) ≤ −99 dB. Interior samples of 440 Hz – 5 kHz sines are within 1e-5 of
   * the amplitude of the ideal band-limited result; 16 → 48 kHz within 6e-6. 10 s at 48 kHz → 16 kHz:
   * ~0.1 s streamed in 128-sample blocks (Chromium 156, a shared 2-core AMD EPYC).
   */
  var TABLE_RES = 512;
  function besselI0(x) {
    var s = 1, t = 1;
    for (var k = 1; k < 50; k++) { t *= (x / (2 * k)) * (x / (2 * k)); s += t; if (t < 1e-17 * s) break; }
    return s;
  }
  function Resampler(fromRate, toRate, opts) {
    opts = opts || {};
    if (!(fromRate > 0 && toRate > 0) || fromRate !== Math.round(fromRate) || toRate !== Math.round(toRate))
      throw new Error("sample rates must be positive integers, got " + fromRate + " → " + toRate);
    this.from = fromRate; this.to = toRate;
    var zeros = opts.zeros || 24, beta = opts.beta === undefined ? 9 : opts.beta, rolloff = opts.rolloff || 0.92;
    this.scale = (rolloff * Math.min(fromRate, toRate)) / fromRate; // zero crossings per input sample = 2fc/from
    this.zeros = zeros;
    this.reach = Math.ceil(zeros / this.scale); // taps j with |t − j| < reach (input samples)
    var len = zeros * TABLE_RES + 2, i0b = besselI0(beta);
    this.table = new Float64Array(len);
    for (var i = 0; i < len; i++) {
      var u = i / TABLE_RES, r = u / zeros;
      var win = r < 1 ? besselI0(beta * Math.sqrt(1 - r * r)) / i0b : 0;
      this.table[i] = (u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u)) * win;
    }
    this.reset();
  }
  Resampler.prototype.reset = function () {
    this.buf = new Float64Array(4096); // input samples from absolute index this.base on
    this.count = 0; // samples in buf
    this.base = -this.reach; // zeros before the start (absolute index of buf[0])
    this.count = this.reach;
    this.n = 0; // next output sample
  };
  /** Input block (any length) → the output samples it completes (Float32Array, possibly empty). */
  Resampler.prototype.push = function (block) {
    var need = this.count + block.length;
    if (need > this.buf.length) {
      var nb = new Float64Array(Math.max(need, 2 * this.buf.length));
      nb.set(this.buf.subarray(0, this.count));
      this.buf = nb;
    }
    for (var i = 0; i < block.length; i++) this.buf[this.count + i] = block[i];
    this.count = need;
    var end = this.base + this.count; // absolute index one past the newest input sample
    var from = this.from, to = this.to, reach = this.reach, scale = this.scale, tab = this.table;
    var zl = this.zeros * TABLE_RES, out = [], buf = this.buf, base = this.base;
    for (;;) {
      var num = this.n * from, ti = Math.floor(num / to), frac = (num - ti * to) / to; // t = ti + frac
      if (ti + reach >= end) break;
      var acc = 0, j0 = Math.max(ti - reach + 1, base);
      for (var j = j0; j <= ti + reach; j++) {
        var u = Math.abs(ti + frac - j) * scale * TABLE_RES, iu = Math.floor(u);
        if (iu >= zl) continue;
        var h = tab[iu] + (u - iu) * (tab[iu + 1] - tab[iu]);
        acc += buf[j - base] * h;
      }
      out.push(acc * scale);
      this.n++;
    }
    // keep what the next output sample needs
    var keepFrom = Math.floor((this.n * from) / to) - reach + 1, drop = keepFrom - this.base;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.count);
      this.count -= drop; this.base = keepFrom;
    }
    return Float32Array.from(out);
  };
  /** The delay of a stream (push), in input samples: output n comes out once input n·from/to + reach is in. */
  Resampler.prototype.latencySamples = function () { return this.reach; };

  /** A whole buffer fromRate → toRate: ⌊len·toRate/fromRate⌋ samples, output n at input time n·from/to. */
  function resample(x, fromRate, toRate, opts) {
    if (fromRate === toRate) return Float32Array.from(x);
    var r = new Resampler(fromRate, toRate, opts);
    var nOut = Math.floor((x.length * toRate) / fromRate);
    var a = r.push(x), b = r.push(new Float32Array(r.reach + 2));
    var out = new Float32Array(nOut);
    out.set(a.subarray(0, Math.min(a.length, nOut)));
    if (a.length < nOut) out.set(b.subarray(0, nOut - a.length), a.length);
    return out;
  }
  function resampleTo16k(x, rate, opts) { return resample(x, rate, 16000, opts); }

  /** Mean of the channels: an AudioBuffer, or an array of Float32Arrays (one per channel). */
  function toMono(input) {
    var chans = [];
    if (input && typeof input.getChannelData === "function") {
      for (var c = 0; c < input.numberOfChannels; c++) chans.push(input.getChannelData(c));
    } else if (input && input.length && input[0] && input[0].length !== undefined) {
      chans = input;
    } else {
      return Float32Array.from(input || []);
    }
    var n = chans[0].length, out = new Float32Array(n), k = chans.length;
    for (var i = 0; i < n; i++) {
      var s = 0;
      for (var j = 0; j < k; j++) s += chans[j][i];
      out[i] = s / k;
    }
    return out;
  }

  // ---------------------------------------------------------------------------- benchmark
  /**
   * Per-block compute time of CausalFeatures on a harmonic test tone: opts.seconds (10), opts.blockMs (4).
   * → {blocks, blockMs, meanMs, p50Ms, p99Ms, maxMs, rtf (mean time / block duration)}. Per-block times
   * (p50, p99, max) are as fine as performance.now() allows (Chromium: 100 µs, jittered, on a page that is
   * not cross-origin isolated, as a file:// page is not); the mean is total time / blocks.
   */
  function benchmark(opts) {
    opts = opts || {};
    var sr = 16000, seconds = opts.seconds || 10, blockMs = opts.blockMs || 4;
    var bs = Math.round((blockMs * sr) / 1000 / 64) * 64, nb = Math.floor((seconds * sr) / bs);
    var x = new Float32Array(nb * bs), ph = 0;
    for (var i = 0; i < x.length; i++) {
      ph += (2 * Math.PI * 220 * Math.pow(2, Math.sin(i / sr))) / sr;
      x[i] = 0.3 * Math.sin(ph) + 0.1 * Math.sin(2 * ph) + 0.05 * Math.sin(3 * ph);
    }
    var fx = new CausalFeatures(), times = new Float64Array(nb), now = function () { return performance.now(); };
    for (i = 0; i < 200; i++) fx.processFrame(x, (i % nb) * bs); // warm-up (JIT)
    fx.reset();
    var t0 = now();
    for (var b = 0; b < nb; b++) {
      var s = now();
      for (var f = 0; f < bs; f += 64) fx.processFrame(x, b * bs + f);
      times[b] = now() - s;
    }
    var total = now() - t0, sorted = Array.from(times).sort(function (p, q) { return p - q; });
    return {blocks: nb, blockMs: (1000 * bs) / sr, meanMs: total / nb, p50Ms: sorted[nb >> 1],
            p99Ms: sorted[Math.min(nb - 1, Math.floor(0.99 * nb))], maxMs: sorted[nb - 1],
            rtf: total / nb / ((1000 * bs) / sr)};
  }

  root.DDX7Features = {
    version: "1", FFT: FFT, aWeighting: aWeighting, CausalFeatures: CausalFeatures,
    Resampler: Resampler, resample: resample, resampleTo16k: resampleTo16k, toMono: toMono, benchmark: benchmark
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
