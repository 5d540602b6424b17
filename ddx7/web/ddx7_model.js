/*
 * DDX7Live: a trained DDX7 (TCN decoder → FM synth → learned reverb) running block by block in the
 * browser. Plain classic script, no dependencies, no build step; works from file:// and defines one
 * global, DDX7Live (also in a worker or AudioWorkletGlobalScope: it only needs globalThis).
 *
 *   DDX7Live.load("violin-6osc-imax2").then(function (model) {      // weights script already included
 *     var s = model.streamer({ratios: [...], envGain: [...], pitchShift: -5, loudnessOffset: 3});
 *     var audio = s.process(f0Hz, loudnessDb);   // k frames each (any k ≥ 1) → Float32Array(k · hop)
 *     s.set({ratios: null, envGain: [1, 2, 1, 1, 2, 2]});   // any time, live (null: as trained)
 *     s.reset();                                  // a new stream
 *   });
 *
 * Weights: ddx7_weights_<name>.js (written by ddx7/web/export.py, whose doc describes the format)
 * sets globalThis.DDX7_WEIGHTS[name] to base64; load() decodes it (zlib via DecompressionStream,
 * fp16 → float32) and rejects with a sentence saying what is wrong when it is missing or damaged.
 *
 * A copy, in JavaScript, of ddx7/stream.py StreamingDDX7 (itself tested equal to the offline model);
 * change both together. tests/test_web_live.py renders the three Table 1 models here and there from
 * the same features and weights and compares the samples (≤ 1e-4), with and without interventions.
 *   inputs (models/tcn.py InputScaling): (69 + 12 log2(f0 / 440)) / 127 and dB / 80 + 1, float32;
 *   TCN (StreamingDDX7._conv / decode_scaled; models/tcn.py TCNBlock): per conv a ring of its last
 *     (kernel − 1)·d input frames (zeros at the start), out = bias + W · [taps]; blocks
 *     relu(relu(conv2(relu(conv1 x))) + res), the last one linear (conv2 + res); res = x or the 1×1
 *     projection; sums in float64, every stored activation rounded to float32 as torch stores it;
 *   envelopes (synth/fm.py fm_envelopes, apply_env_gain): max_ol · sigmoid(z) · env_gain, per frame;
 *   controls (upsample_frames): x[i·hop + j] = x[i−1] + (x[i] − x[i−1]) · (j + 1) / hop in float32,
 *     frame −1 = the previous block's last frame (the first frame held at the start);
 *   oversampled models (config.oversample = M > 1; synth/oversample.py): controls, phase and FM at hop · M and
 *     M · fs, then the causal decimation filter (config.decimation_kernel) whose history carries over;
 *   phase (RunningPhase, phase_sum, wrap_phase): ω += f0 · 2π / fs in float64, sequentially;
 *     φ_k = (r_k ω + offset_k) mod 2π, rounded to float32; folded into the offsets every 2^22
 *     samples and when the ratios change (each operator keeps its phase);
 *   operators (fm_operators, mix_carriers): y_k = a_k sin(φ_k + 2π Σ_{j→k} y_j) in float32,
 *     x = Σ_carriers y_c / max_ol;
 *   reverb (models/reverb.py StreamingReverb): y = x + x ⊛ tail, uniformly partitioned overlap-save
 *     (partition = hop, 2·hop-point FFTs, a frequency-domain delay line), in float64.
 * Not in Python's streamer, for the page: pitchShift (semitones; f0 · 2^(s/12) in float64, then
 * float32) and loudnessOffset (dB added to the loudness) act on the input features.
 */
(function (root) {
  "use strict";
  var MAGIC = "DDX7WTS\u0001", FORMAT = 1, ENCODING = "fp16-byteplanes-zlib", REBASE_SAMPLES = 1 << 22;
  var fround = Math.fround, TWO_PI = 2 * Math.PI, TWO_PI_F = fround(TWO_PI);

  function fail(name, what) { return new Error("DDX7 weights \"" + name + "\" " + what); }

  // ------------------------------------------------------------------ decoding the weights
  function b64Bytes(s, name) {
    var bin;
    try { bin = atob(s); } catch (e) { throw fail(name, "are damaged: not base64 (" + e.message + ")"); }
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  var HALF = null;  // fp16 bit pattern → float32, all 65536 of them
  function halfTable() {
    if (HALF) return HALF;
    HALF = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      HALF[h] = e === 0 ? s * m * Math.pow(2, -24) : e === 31 ? (m ? NaN : s * Infinity)
        : s * (1 + m / 1024) * Math.pow(2, e - 15);
    }
    return HALF;
  }

  /* base64 blob → {header, payload (zlib bytes)}; throws a sentence on anything unexpected. */
  function parseBlob(b64, name) {
    if (typeof b64 !== "string" || !b64.length) throw fail(name, "are damaged: expected a base64 string");
    var bytes = b64Bytes(b64, name), magic = String.fromCharCode.apply(null, bytes.subarray(0, 8));
    if (bytes.length < 12 || magic !== MAGIC) throw fail(name, "are damaged: not a DDX7 weights file (wrong magic bytes)");
    var n = new DataView(bytes.buffer).getUint32(8, true), header;
    if (12 + n > bytes.length) throw fail(name, "are damaged: cut short inside the header");
    try { header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + n))); } catch (e) {
      throw fail(name, "are damaged: the header is not valid JSON (" + e.message + ")");
    }
    if (header.format !== FORMAT || header.encoding !== ENCODING)
      throw fail(name, "have format " + header.format + "/" + header.encoding + "; this page reads " + FORMAT + "/" + ENCODING);
    var payload = bytes.subarray(12 + n);
    if (payload.length !== header.payload_bytes)
      throw fail(name, "are damaged: " + payload.length + " payload bytes, the header says " + header.payload_bytes);
    return { header: header, payload: payload };
  }

  function inflate(bytes) {
    if (typeof DecompressionStream === "undefined")
      return Promise.reject(new Error("this browser has no DecompressionStream (needed to unpack DDX7 weights)"));
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buf) { return new Uint8Array(buf); });
  }

  /* Promise<Model>: source is a name in globalThis.DDX7_WEIGHTS or {name, b64}. */
  function load(source) {
    var name = typeof source === "string" ? source : (source && source.name) || "(unnamed)";
    return Promise.resolve().then(function () {
      var b64 = typeof source === "string" ? (root.DDX7_WEIGHTS || {})[source] : source && source.b64;
      if (b64 === undefined || b64 === null) {
        var have = Object.keys(root.DDX7_WEIGHTS || {});
        throw fail(name, "are missing: include the script ddx7_weights_" + name + ".js before using them (loaded: " +
          (have.length ? have.join(", ") : "none") + ")");
      }
      var blob = parseBlob(b64, name);
      return inflate(blob.payload).then(function (raw) {
        var count = blob.header.values;
        if (raw.length !== 2 * count) throw fail(name, "are damaged: " + raw.length / 2 + " values, the header says " + count);
        var table = halfTable(), values = new Float32Array(count);
        for (var i = 0; i < count; i++) values[i] = table[(raw[i] << 8) | raw[count + i]];
        return new Model(blob.header, values);
      }, function (e) { throw fail(name, "are damaged: the compressed weights do not unpack (" + e.message + ")"); });
    });
  }

  // ------------------------------------------------------------------ the model (weights, read-only)
  /* header and the float32 values of all tensors (what load() decodes; a worklet can get both by message). */
  function Model(header, values) {
    var c = header.config, t = {}, i;
    for (i = 0; i < header.tensors.length; i++) {
      var d = header.tensors[i], size = d.shape.reduce(function (a, b) { return a * b; }, 1);
      t[d.name] = { shape: d.shape, data: values.subarray(d.offset, d.offset + size) };
    }
    this.header = header; this.values = values; this.config = c; this.name = header.name || header.run;
    this.hop = c.hop; this.sampleRate = c.sample_rate; this.nOps = c.patch.n_ops;
    this.oversample = c.oversample || 1;
    this.decimation = this.oversample > 1 ? Float64Array.from(c.decimation_kernel) : null;
    this.kernel = c.kernel; this.convs = []; this.blocks = [];
    for (i = 0; i < c.dilations.length; i++) {
      var p = "blocks." + i + ".", res = t[p + "residual.weight"];
      this.blocks.push({ c1: this.convs.length, res: res ? { w: res.data, b: t[p + "residual.bias"].data,
        cOut: res.shape[0], cIn: res.shape[1] } : null });
      this.convs.push(this.conv(t[p + "conv1.weight"], t[p + "conv1.bias"], c.dilations[i]));
      this.convs.push(this.conv(t[p + "conv2.weight"], t[p + "conv2.bias"], c.dilations[i]));
    }
    this.reverb = t["reverb.tail"] ? partitionSpectra(t["reverb.tail"].data, this.hop) : null;
  }

  /* Conv weight [C_out, C_in, K] → rows [C_out][K · C_in], tap-major (the order taps are gathered in). */
  Model.prototype.conv = function (w, b, d) {
    var cOut = w.shape[0], cIn = w.shape[1], K = w.shape[2], rows = new Float32Array(cOut * K * cIn);
    if (K !== this.kernel) throw new Error("DDX7 weights: all convolutions must have kernel " + this.kernel);
    for (var o = 0; o < cOut; o++)
      for (var k = 0; k < K; k++)
        for (var ci = 0; ci < cIn; ci++) rows[(o * K + k) * cIn + ci] = w.data[(o * cIn + ci) * K + k];
    return { w: rows, b: b.data, cIn: cIn, cOut: cOut, d: d, len: (K - 1) * d };
  };

  Model.prototype.streamer = function (opts) { return new Streamer(this, opts); };

  // ------------------------------------------------------------------ FFT (reverb)
  function fftTables(n) {
    var c = new Float64Array(n / 2), s = new Float64Array(n / 2), rev = new Uint32Array(n), bits = Math.log2(n);
    for (var i = 0; i < n / 2; i++) { c[i] = Math.cos(TWO_PI * i / n); s[i] = -Math.sin(TWO_PI * i / n); }
    for (i = 0; i < n; i++) { var r = 0; for (var b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b); rev[i] = r; }
    return { n: n, c: c, s: s, rev: rev };
  }

  /* In-place radix-2 complex FFT; sign −1 forward, +1 inverse (without the 1/n). */
  function fft(T, re, im, sign) {
    var n = T.n, i, j, t;
    for (i = 0; i < n; i++) {
      j = T.rev[i];
      if (i < j) { t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
    }
    for (var len = 2; len <= n; len <<= 1) {
      var half = len >> 1, step = n / len;
      for (i = 0; i < n; i += len) {
        for (var k = 0; k < half; k++) {
          var cr = T.c[k * step], ci = -sign * T.s[k * step], p = i + k, q = p + half;
          var br = re[q] * cr - im[q] * ci, bi = re[q] * ci + im[q] * cr;
          re[q] = re[p] - br; im[q] = im[p] - bi; re[p] += br; im[p] += bi;
        }
      }
    }
  }

  /* The tail cut into partitions of p samples, each zero-padded to 2p: H_m, bins 0 … p, [n · (p + 1)]. */
  function partitionSpectra(tail, p) {
    var active = false, i;
    for (i = 0; i < tail.length; i++) if (tail[i] !== 0) { active = true; break; }
    if (!active) return null;  // an all-zero tail adds exact zeros (StreamingReverb.active)
    var n = Math.ceil(tail.length / p), T = fftTables(2 * p), B = p + 1;
    var hr = new Float64Array(n * B), hi = new Float64Array(n * B), re = new Float64Array(2 * p), im = new Float64Array(2 * p);
    for (var m = 0; m < n; m++) {
      re.fill(0); im.fill(0);
      for (i = 0; i < p && m * p + i < tail.length; i++) re[i] = tail[m * p + i];
      fft(T, re, im, -1);
      hr.set(re.subarray(0, B), m * B); hi.set(im.subarray(0, B), m * B);
    }
    return { n: n, p: p, T: T, hr: hr, hi: hi };
  }

  // ------------------------------------------------------------------ the stream (state)
  function Streamer(model, opts) {
    var K = model.nOps, hop = model.hop, i;
    this.model = model; this.hop = hop; this.sampleRate = model.sampleRate;
    this.maxOl = fround(model.config.max_ol);
    var M = model.oversample, fastHop = hop * M;  // oversampled FM: controls and phase at M · fs
    this.ramp = new Float32Array(fastHop);
    for (i = 0; i < fastHop; i++) this.ramp[i] = fround((i + 1) / fastHop);
    // [the decimation filter's history (L − M fast samples) | this frame's fast samples]
    this.fast = M > 1 ? new Float32Array(model.decimation.length - M + fastHop) : null;
    this.hist = model.convs.map(function (cv) { return new Float32Array(cv.len * cv.cIn); });
    var width = 2;
    model.convs.forEach(function (cv) { width = Math.max(width, cv.cIn * model.kernel, cv.cOut); });
    this.cols = new Float64Array(width);
    this.act = [new Float32Array(width), new Float32Array(width), new Float32Array(width), new Float32Array(width)];
    this.z = new Float32Array(K); this.env = new Float32Array(K); this.lastEnv = new Float32Array(K);
    this.ratios = new Float64Array(K); this.offset = new Float64Array(K); this.gain = new Float32Array(K);
    this.phase = new Float32Array(K); this.y = new Float32Array(K);
    this.order = model.config.patch.order; this.mods = model.config.patch.modulators;
    this.carriers = model.config.patch.carriers;
    this.dry = new Float32Array(hop);
    var R = model.reverb;
    if (R) {
      this.ringRe = new Float64Array(R.n * (R.p + 1)); this.ringIm = new Float64Array(R.n * (R.p + 1));
      this.re = new Float64Array(2 * R.p); this.im = new Float64Array(2 * R.p); this.prev = new Float64Array(R.p);
      this.accRe = new Float64Array(R.p + 1); this.accIm = new Float64Array(R.p + 1);
    }
    this.ratios.set(model.config.patch.ratios); this.gain.fill(1); this.useGain = false;
    this.pitchFactor = 1; this.loudnessOffset = 0;
    this.reset();
    this.set(opts || {});
  }

  /* Forget the stream: zero caches, phase, reverb (settings stay). */
  Streamer.prototype.reset = function () {
    for (var i = 0; i < this.hist.length; i++) this.hist[i].fill(0);
    this.step = 0; this.started = false; this.lastF0 = 0; this.lastEnv.fill(0);
    this.omega = 0; this.offset.fill(0); this.useOffset = false; this.sinceRebase = 0;
    if (this.fast) this.fast.fill(0);
    if (this.ringRe) { this.ringRe.fill(0); this.ringIm.fill(0); this.prev.fill(0); this.pos = 0; }
  };

  /* Settings, any subset, any time: {ratios: [K] | null, envGain: [K] | null, pitchShift (semitones),
   * loudnessOffset (dB)}; null restores the trained ratios / unit gains. Mid-stream the operators keep
   * their phases and the envelopes ramp from the last frame (as StreamingDDX7.set_intervention). */
  Streamer.prototype.set = function (s) {
    var K = this.model.nOps, i;
    function check(v, what, ok) {
      if (!v || v.length !== K) throw new Error(what + ": the patch has " + K + " operators, got " + (v ? v.length : 0) + " values");
      for (var j = 0; j < K; j++) if (!(isFinite(v[j]) && ok(v[j]))) throw new Error(what + " must be finite and " +
        (what === "ratios" ? "> 0" : ">= 0") + ", got " + Array.prototype.join.call(v, ", "));
    }
    if (s.ratios !== undefined) {
      var r = s.ratios === null ? this.model.config.patch.ratios : s.ratios;
      check(r, "ratios", function (x) { return x > 0; });
      if (this.sinceRebase > 0 || this.useOffset) this.rebase();
      for (i = 0; i < K; i++) this.ratios[i] = r[i];
    }
    if (s.envGain !== undefined) {
      var g = s.envGain === null ? new Array(K).fill(1) : s.envGain;
      check(g, "envGain", function (x) { return x >= 0; });
      for (i = 0; i < K; i++) this.gain[i] = g[i];
      this.useGain = s.envGain !== null;
    }
    if (s.pitchShift !== undefined) {
      if (!isFinite(s.pitchShift)) throw new Error("pitchShift must be a finite number of semitones");
      this.pitchFactor = Math.pow(2, s.pitchShift / 12);
    }
    if (s.loudnessOffset !== undefined) {
      if (!isFinite(s.loudnessOffset)) throw new Error("loudnessOffset must be a finite number of dB");
      this.loudnessOffset = s.loudnessOffset;
    }
  };

  Streamer.prototype.rebase = function () {  // RunningPhase.rebase: fold ω into the offsets
    for (var k = 0; k < this.ratios.length; k++)
      this.offset[k] = (this.omega * this.ratios[k] + (this.useOffset ? this.offset[k] : 0)) % TWO_PI;
    this.omega = 0; this.useOffset = true; this.sinceRebase = 0;
  };

  /* f0 (Hz), loudness (dB): k frames each (arrays) → out (Float32Array(k · hop), made if not given). */
  Streamer.prototype.process = function (f0, loudness, out) {
    var k = f0.length, hop = this.hop;
    if (k < 1 || loudness.length !== k) throw new Error("f0 and loudness must have the same number of frames (>= 1)");
    if (!out) out = new Float32Array(k * hop);
    for (var i = 0; i < k; i++) {
      // the features as float32 (as the Python streamer takes them), then the page's shifts
      var f = fround(fround(f0[i]) * this.pitchFactor), ld = fround(fround(loudness[i]) + this.loudnessOffset);
      if (!(f > 0 && f < Infinity)) throw new Error("f0 must be positive (Hz), not NaN: give unvoiced frames the last voiced pitch");
      if (!isFinite(ld)) throw new Error("f0 or loudness contains NaN or infinite values");
      this.decode(f, ld);
      this.synth(f, out, i * hop);
    }
    return out;
  };

  /* One conv on the current frame x: taps gathered from the ring (lags (K − 1 − t)·d) and x. */
  Streamer.prototype.conv = function (ci, x, out) {
    var cv = this.model.convs[ci], h = this.hist[ci], cIn = cv.cIn, K = this.model.kernel, cols = this.cols;
    if (cv.len === 0) { matvec(cv.w, cv.b, x, cIn, cv.cOut, out); return; }  // kernel 1: no history
    var n = cv.len / cv.d | 0, now = this.step % cv.len, t, c;
    for (t = 0; t < K - 1; t++) {
      var slot = ((now - (n - t) * cv.d) % cv.len + cv.len) % cv.len, base = slot * cIn;
      for (c = 0; c < cIn; c++) cols[t * cIn + c] = h[base + c];
    }
    for (c = 0; c < cIn; c++) { cols[(K - 1) * cIn + c] = x[c]; h[now * cIn + c] = x[c]; }
    matvec(cv.w, cv.b, cols, K * cIn, cv.cOut, out);
  };

  /* out[o] = b[o] + W[o, :] · cols, four rows at a time (float64 sums, float32 results). */
  function matvec(W, b, cols, m, rows, out) {
    var o = 0, j;
    for (; o + 4 <= rows; o += 4) {
      var r0 = o * m, r1 = r0 + m, r2 = r1 + m, r3 = r2 + m, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (j = 0; j < m; j++) {
        var x = cols[j];
        a0 += W[r0 + j] * x; a1 += W[r1 + j] * x; a2 += W[r2 + j] * x; a3 += W[r3 + j] * x;
      }
      out[o] = a0 + b[o]; out[o + 1] = a1 + b[o + 1]; out[o + 2] = a2 + b[o + 2]; out[o + 3] = a3 + b[o + 3];
    }
    for (; o < rows; o++) {
      var a = 0, r = o * m;
      for (j = 0; j < m; j++) a += W[r + j] * cols[j];
      out[o] = a + b[o];
    }
  }

  /* The TCN on one frame → envelopes this.env (a_k · gain). */
  Streamer.prototype.decode = function (f0, ld) {
    var M = this.model, A = this.act, x = A[0], h = A[1], h2 = A[2], res = A[3], last = M.blocks.length - 1, c;
    x[0] = fround(fround(fround(69 + fround(12 * fround(Math.log2(fround(f0 / 440))))) / 127));
    x[1] = fround(fround(ld / 80) + 1);
    for (var i = 0; i <= last; i++) {
      var blk = M.blocks[i], cv1 = M.convs[blk.c1], cOut = M.convs[blk.c1 + 1].cOut;
      if (blk.res) {  // 1×1 projection of the block input (current frame)
        matvec(blk.res.w, blk.res.b, x, blk.res.cIn, cOut, res);
      } else res.set(x.subarray(0, cOut));
      this.conv(blk.c1, x, h);
      for (c = 0; c < cv1.cOut; c++) if (h[c] < 0) h[c] = 0;
      this.conv(blk.c1 + 1, h, h2);
      if (i === last) for (c = 0; c < cOut; c++) x[c] = h2[c] + res[c];
      else for (c = 0; c < cOut; c++) { var v = fround((h2[c] > 0 ? h2[c] : 0) + res[c]); x[c] = v > 0 ? v : 0; }
    }
    this.step++;
    for (var kk = 0; kk < this.env.length; kk++) {
      var a = fround(this.maxOl * fround(1 / (1 + Math.exp(-x[kk]))));
      this.env[kk] = this.useGain ? fround(a * this.gain[kk]) : a;
    }
  };

  /* FM of one frame (upsampled f0 and envelopes, running phase) + reverb → out[at … at + hop). */
  Streamer.prototype.synth = function (f0, out, at) {
    var M = this.model.oversample, fast = this.fast, keep = fast ? fast.length - this.hop * M : 0;
    var hop = this.hop * M, K = this.env.length, env = this.env, last = this.lastEnv, ramp = this.ramp;
    var dry = fast ? fast.subarray(keep) : this.dry;
    var order = this.order, mods = this.mods, carriers = this.carriers, y = this.y, ratios = this.ratios;
    var w = TWO_PI / (this.sampleRate * M), f0prev = this.started ? this.lastF0 : f0, oi, k, s;
    if (!this.started) last.set(env);
    var df = fround(f0 - f0prev);
    for (var j = 0; j < hop; j++) {
      this.omega += fround(f0prev + fround(df * ramp[j])) * w;
      for (oi = 0; oi < K; oi++) {
        k = order[oi];
        var ph = this.useOffset ? (this.omega * ratios[k] + this.offset[k]) % TWO_PI : (this.omega * ratios[k]) % TWO_PI;
        var arg = fround(ph), m = mods[k];
        for (s = 0; s < m.length; s++) arg = fround(arg + fround(TWO_PI_F * y[m[s]]));
        var a = fround(last[k] + fround(fround(env[k] - last[k]) * ramp[j]));
        y[k] = fround(a * fround(Math.sin(arg)));
      }
      var x = y[carriers[0]];
      for (s = 1; s < carriers.length; s++) x = fround(x + y[carriers[s]]);
      dry[j] = x / this.maxOl;
    }
    this.sinceRebase += hop;
    if (this.sinceRebase >= REBASE_SAMPLES) this.rebase();
    this.lastF0 = f0; last.set(env); this.started = true;
    if (fast) {  // decimate (ddx7/synth/oversample.py): y[n] = Σ_j h[j] · x[M·n + M − 1 − j], then keep the history
      var h = this.model.decimation, L = h.length, lo = this.dry;
      for (var n = 0; n < this.hop; n++) {
        var end = keep + M * n + M - 1, acc = 0;
        for (var t = 0; t < L; t++) acc += h[t] * fast[end - t];
        lo[n] = fround(acc);
      }
      fast.copyWithin(0, fast.length - keep);
      dry = lo;
    }
    this.reverbFrame(dry, out, at);
  };

  /* StreamingReverb on one partition: X = FFT([previous, x]); y = x + (IFFT(Σ_m X_{−m} H_m))[p … 2p). */
  Streamer.prototype.reverbFrame = function (x, out, at) {
    var R = this.model.reverb, p = this.hop, i;
    if (!R) { for (i = 0; i < p; i++) out[at + i] = x[i]; return; }
    var re = this.re, im = this.im, B = p + 1, n = R.n;
    for (i = 0; i < p; i++) { re[i] = this.prev[i]; re[p + i] = x[i]; this.prev[i] = x[i]; }
    im.fill(0);
    fft(R.T, re, im, -1);
    this.pos = (this.pos + 1) % n;
    var ringRe = this.ringRe, ringIm = this.ringIm, hr = R.hr, hi = R.hi, accRe = this.accRe, accIm = this.accIm;
    ringRe.set(re.subarray(0, B), this.pos * B); ringIm.set(im.subarray(0, B), this.pos * B);
    accRe.fill(0); accIm.fill(0);
    // partition m pairs with the spectrum m blocks old: ring slot (pos − m) mod n
    for (var m = 0, slot = this.pos; m < n; m++, slot = slot ? slot - 1 : n - 1) {
      var so = slot * B, ho = m * B;
      for (i = 0; i < B; i++) {
        var ar = ringRe[so + i], ai = ringIm[so + i], br = hr[ho + i], bi = hi[ho + i];
        accRe[i] += ar * br - ai * bi; accIm[i] += ar * bi + ai * br;
      }
    }
    for (i = 0; i < B; i++) { re[i] = accRe[i]; im[i] = accIm[i]; }
    for (i = 1; i < p; i++) { re[2 * p - i] = accRe[i]; im[2 * p - i] = -accIm[i]; }  // Hermitian
    fft(R.T, re, im, 1);
    for (i = 0; i < p; i++) out[at + i] = x[i] + fround(re[p + i] / (2 * p));
  };

  /* Whole features (T frames) → Float32Array(T · hop), frame by frame from a fresh stream (reset first). */
  Streamer.prototype.render = function (f0, loudness) {
    var T = f0.length, out = new Float32Array(T * this.hop), F = Float32Array.from(f0), L = Float32Array.from(loudness);
    this.reset();
    for (var i = 0; i < T; i++)
      this.process(F.subarray(i, i + 1), L.subarray(i, i + 1), out.subarray(i * this.hop, (i + 1) * this.hop));
    return out;
  };

  root.DDX7Live = { version: "1", load: load, Model: Model, Streamer: Streamer, parseBlob: parseBlob };
})(typeof globalThis !== "undefined" ? globalThis : this);
