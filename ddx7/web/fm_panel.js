/*
 * DDX7 intervention panel: the FM synth of ddx7/synth/fm.py, run in the browser (no kernel).
 *
 * Embedded by ddx7.web.panel.intervention_panel(); plain ES5-style script, no dependencies, no
 * network, works from file://. The library is defined once per page (window.ddx7Panel); every
 * panel is mounted with window.ddx7Panel.mount(id, data) and is independent of the others.
 *
 * A copy, in JavaScript, of the synth in ddx7/synth/fm.py (FMSynth.get_signal; phases and upsampling in
 * ddx7/synth/sampling.py); change both together:
 *   frames → samples (upsampleF0, renderFM's envelopes; original: upsample_frames):
 *     x[i·hop + j] = x[i−1] + (x[i] − x[i−1])·(j+1)/hop, frame −1 = frame 0
 *     (f0 is ramped with float32 rounding like torch does on float32 tensors, so the phase
 *      accumulates in lock-step with Python);
 *   φ_k[n] = (r_k · Σ_{m≤n} 2π f0[m]/fs) mod 2π   (baseOmega; original: phase_sum, wrap_phase;
 *     float64, sequential sum);
 *   y_k = a_k · sin(φ_k + 2π Σ_{j→k} y_j), operators in topological order (original: fm_operators);
 *   x = Σ_carriers y_c / max_ol (original: mix_carriers);
 *   oversampled models (model.oversample = M > 1): the above at hop·M and M·fs, then
 *     x[n] = Σ_j h[j] · x_fast[M·n + M − 1 − j] with the decimation filter h sent by Python
 *     (decimate; original: ddx7/synth/oversample.py decimate);
 *   optional reverb: x ⊛ h (h = model's impulse response), cut to N (convolve; original:
 *     ddx7/models/reverb.py fft_convolve).
 * tests/test_web_panel.py (test_js_fm_equals_python, every patch; test_reverb_equals_python) renders
 * both in headless Chromium and compares them sample for sample.
 *
 * Test/automation API: window.ddx7Panels[id] = {ready, render(s), renderOffline(s, opts),
 *   settings(), set(s), play(kind), stop(), data}; s = {ratios: [K], envGain: [K], reverb: bool}.
 */
(function () {
  "use strict";
  var VERSION = "1";
  window.ddx7Panels = window.ddx7Panels || {};
  if (window.ddx7Panel && window.ddx7Panel.version === VERSION) return;

  var TWO_PI = 2 * Math.PI;
  var fround = Math.fround;

  // ------------------------------------------------------------------ data decoding
  function b64Bytes(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  /* {dtype: "f32"|"u16"|"i16", b64, shape, scale (per last axis for u16, scalar for i16)} → Float64Array */
  function decodeArray(spec) {
    var bytes = b64Bytes(spec.b64), dv = new DataView(bytes.buffer), n, i, out;
    if (spec.dtype === "f32") {
      n = bytes.length / 4; out = new Float64Array(n);
      for (i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    } else if (spec.dtype === "u16") {
      n = bytes.length / 2; out = new Float64Array(n);
      var k = spec.shape.length > 1 ? spec.shape[spec.shape.length - 1] : 1;
      var scale = [].concat(spec.scale);
      for (i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true) / 65535 * scale[i % k];
    } else if (spec.dtype === "i16") {
      n = bytes.length / 2; out = new Float64Array(n);
      for (i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true) / 32767 * spec.scale;
    } else {
      throw new Error("ddx7 panel: unknown dtype " + spec.dtype);
    }
    return out;
  }

  // ------------------------------------------------------------------ the FM synth
  /* f0 frames (float32 values) → samples, rounding every step to float32 like torch. */
  function upsampleF0(f0, hop) {
    var T = f0.length, out = new Float64Array(T * hop);
    for (var i = 0; i < T; i++) {
      var before = f0[i > 0 ? i - 1 : 0], diff = fround(f0[i] - before);
      for (var j = 0; j < hop; j++) out[i * hop + j] = fround(before + fround(diff * fround((j + 1) / hop)));
    }
    return out;
  }

  /* Σ 2π f0/fs, sequential, float64 (the shared part of every operator's phase). */
  function baseOmega(f0s, sr) {
    var n = f0s.length, out = new Float64Array(n), acc = 0, w = TWO_PI / sr;
    for (var i = 0; i < n; i++) { acc += f0s[i] * w; out[i] = acc; }
    return out;
  }

  /*
   * Dry FM render. model = {hop, sampleRate, maxOl, order, modulators, carriers, nOps, f0 (frames),
   * env (T·K, row-major), omega (cached)}; ratios, gains: K numbers. Returns Float64Array (T·hop).
   */
  function renderFM(model, ratios, gains) {
    var M = model.oversample || 1;
    var T = model.f0.length, K = model.nOps, hop = model.hop * M, N = T * hop;
    if (!model.omega) model.omega = baseOmega(upsampleF0(model.f0, hop), model.sampleRate * M);
    var omega = model.omega, env = model.env;
    var outs = new Array(K), out = new Float64Array(N), a = new Float64Array(N);
    for (var oi = 0; oi < K; oi++) {
      var k = model.order[oi], r = ratios[k], g = gains[k], srcs = model.modulators[k] || [];
      // envelope of operator k at sample rate (gain applied at frame rate, like ddx7)
      for (var i = 0; i < T; i++) {
        var cur = env[i * K + k] * g, prev = env[(i > 0 ? i - 1 : 0) * K + k] * g, d = cur - prev;
        for (var j = 0; j < hop; j++) a[i * hop + j] = prev + d * (j + 1) / hop;
      }
      var y = new Float64Array(N), s, n;
      for (n = 0; n < N; n++) {
        var arg = (omega[n] * r) % TWO_PI;
        for (s = 0; s < srcs.length; s++) arg += TWO_PI * outs[srcs[s]][n];
        y[n] = a[n] * Math.sin(arg);
      }
      outs[k] = y;
    }
    for (var c = 0; c < model.carriers.length; c++) {
      var yc = outs[model.carriers[c]];
      for (n = 0; n < N; n++) out[n] += yc[n];
    }
    for (n = 0; n < N; n++) out[n] /= model.maxOl;
    return M > 1 ? decimate(out, M, model.kernel) : out;
  }

  /* fast (M · fs) → fs through the causal FIR h: y[n] = Σ_j h[j] · x[M·n + M − 1 − j] (zeros before 0). */
  function decimate(x, M, h) {
    var n = x.length / M, L = h.length, y = new Float64Array(n);
    for (var i = 0; i < n; i++) {
      var end = M * i + M - 1, acc = 0;
      for (var j = 0; j < L && j <= end; j++) acc += h[j] * x[end - j];
      y[i] = acc;
    }
    return y;
  }

  // ------------------------------------------------------------------ FFT, convolution, STFT
  var twiddles = {};
  function twiddle(n) {
    if (!twiddles[n]) {
      var c = new Float64Array(n / 2), s = new Float64Array(n / 2);
      for (var i = 0; i < n / 2; i++) { c[i] = Math.cos(TWO_PI * i / n); s[i] = -Math.sin(TWO_PI * i / n); }
      twiddles[n] = [c, s];
    }
    return twiddles[n];
  }

  /* In-place radix-2 complex FFT (n a power of two); inverse includes the 1/n. */
  function fft(re, im, inverse) {
    var n = re.length, i, j, bit, t, tw = twiddle(n), wc = tw[0], ws = tw[1], sign = inverse ? -1 : 1;
    for (i = 1, j = 0; i < n; i++) {
      for (bit = n >> 1; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) { t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
    }
    for (var len = 2; len <= n; len <<= 1) {
      var half = len >> 1, step = n / len;
      for (i = 0; i < n; i += len) {
        for (var k = 0; k < half; k++) {
          var cr = wc[k * step], ci = sign * ws[k * step], p = i + k, q = p + half;
          var br = re[q] * cr - im[q] * ci, bi = re[q] * ci + im[q] * cr;
          re[q] = re[p] - br; im[q] = im[p] - bi; re[p] += br; im[p] += bi;
        }
      }
    }
    if (inverse) for (i = 0; i < n; i++) { re[i] /= n; im[i] /= n; }
  }

  function nextPow2(n) { var p = 1; while (p < n) p <<= 1; return p; }

  /* Linear convolution of x with h, cut to x.length (causal), like ddx7.models.reverb.fft_convolve. */
  function convolve(x, h, cache) {
    var N = x.length, n = nextPow2(N + h.length - 1), i;
    var key = "h" + n;
    if (!cache[key]) {
      var hr = new Float64Array(n), hi = new Float64Array(n);
      hr.set(h); fft(hr, hi, false); cache[key] = [hr, hi];
    }
    var H = cache[key], re = new Float64Array(n), im = new Float64Array(n);
    re.set(x); fft(re, im, false);
    for (i = 0; i < n; i++) {
      var a = re[i] * H[0][i] - im[i] * H[1][i], b = re[i] * H[1][i] + im[i] * H[0][i];
      re[i] = a; im[i] = b;
    }
    fft(re, im, true);
    return re.slice(0, N);
  }

  /* |STFT| in dB: frames × (nfft/2) bins, Hann window. */
  function stftDb(x, nfft, hop) {
    var frames = Math.max(1, Math.floor((x.length - nfft) / hop) + 1), bins = nfft / 2;
    var out = new Float32Array(frames * bins), win = new Float64Array(nfft), re = new Float64Array(nfft),
      im = new Float64Array(nfft), i, f;
    for (i = 0; i < nfft; i++) win[i] = 0.5 - 0.5 * Math.cos(TWO_PI * i / nfft);
    for (f = 0; f < frames; f++) {
      for (i = 0; i < nfft; i++) { var v = x[f * hop + i]; re[i] = (v === undefined ? 0 : v) * win[i]; im[i] = 0; }
      fft(re, im, false);
      for (i = 0; i < bins; i++) out[f * bins + i] = 10 * Math.log10(re[i] * re[i] + im[i] * im[i] + 1e-12);
    }
    return { db: out, frames: frames, bins: bins };
  }

  // magma-like colour map, 9 stops
  var CMAP = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
    [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]];
  function colour(t) {
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    var x = t * (CMAP.length - 1), i = Math.min(CMAP.length - 2, Math.floor(x)), u = x - i, a = CMAP[i], b = CMAP[i + 1];
    return [a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u, a[2] + (b[2] - a[2]) * u];
  }

  // ------------------------------------------------------------------ audio output
  var audio = { ctx: null, playing: null };
  function audioContext() {
    if (!audio.ctx) {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) throw new Error("this browser has no Web Audio API");
      audio.ctx = new AC();
    }
    if (audio.ctx.state === "suspended" && audio.ctx.resume) audio.ctx.resume();
    return audio.ctx;
  }

  /* The playback signal: optional 10 ms fades and turning down to a 0.99 peak (never up). */
  function playbackSamples(x, sr, opts) {
    var y = new Float32Array(x.length), peak = 0, i, scale = 1;
    for (i = 0; i < x.length; i++) peak = Math.max(peak, Math.abs(x[i]));
    if (opts.normalize !== false && peak > 0.99) scale = 0.99 / peak;
    for (i = 0; i < x.length; i++) y[i] = x[i] * scale;
    if (opts.fade !== false) {
      var nf = Math.min(Math.floor(0.01 * sr), Math.floor(x.length / 2));
      for (i = 0; i < nf; i++) { var w = i / nf; y[i] *= w; y[x.length - 1 - i] *= w; }
    }
    return { samples: y, peak: peak, scale: scale };
  }

  /* AudioBuffer → BufferSource → Gain → destination: the same graph for playing and for tests. */
  function connectSource(ctx, samples, sr) {
    var buf = ctx.createBuffer(1, samples.length, sr);
    if (buf.copyToChannel) buf.copyToChannel(samples, 0); else buf.getChannelData(0).set(samples);
    var src = ctx.createBufferSource(), gain = ctx.createGain();
    src.buffer = buf; src.connect(gain); gain.connect(ctx.destination);
    return { source: src, gain: gain, duration: samples.length / sr };
  }

  function stopPlaying(fadeTime) {
    var p = audio.playing;
    if (!p) return;
    audio.playing = null;
    try {
      var t = p.ctx.currentTime;
      p.node.gain.gain.setValueAtTime(p.node.gain.gain.value, t);
      p.node.gain.gain.linearRampToValueAtTime(0, t + (fadeTime || 0.02));
      p.node.source.stop(t + (fadeTime || 0.02) + 0.01);
    } catch (e) { /* already stopped */ }
    p.panel._onStop(p);
  }

  // ------------------------------------------------------------------ small DOM helpers
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var a in attrs || {}) {
      if (a === "text") e.textContent = attrs[a];
      else if (a === "cls") e.className = attrs[a];
      else e.setAttribute(a, attrs[a]);
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  /* Ratio slider: log2 scale; snaps to integers and halves within 1.5 %, else 2 decimals. */
  function sliderRatio(v) {
    var r = Math.pow(2, v), h = Math.round(r * 2) / 2;
    return h > 0 && Math.abs(r - h) / h < 0.015 ? h : Math.round(r * 100) / 100;
  }
  function fmt(v) { return (Math.round(v * 1000) / 1000).toString(); }
  function sameList(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-9) return false;
    return true;
  }

  // ------------------------------------------------------------------ the panel
  function Panel(root, data) {
    var self = this;
    this.id = root.id; this.root = root; this.data = data; this.ready = false;
    var K = data.patch.n_ops;
    this.model = {
      hop: data.hop, sampleRate: data.sample_rate, maxOl: data.max_ol, nOps: K, order: data.patch.order,
      modulators: data.patch.modulators, carriers: data.patch.carriers,
      f0: decodeArray(data.f0), env: decodeArray(data.envelopes), omega: null,
      oversample: data.oversample || 1, kernel: data.decimation_kernel ? decodeArray(data.decimation_kernel) : null
    };
    this.ir = data.reverb_ir ? decodeArray(data.reverb_ir) : null;
    this.original = data.original ? decodeArray(data.original) : null;
    this.convCache = {};
    this.trained = { ratios: data.patch.ratios.slice(), envGain: data.patch.ratios.map(function () { return 1; }) };
    this.initial = { ratios: data.initial.ratios.slice(), envGain: data.initial.env_gain.slice(),
                     reverb: !!(this.ir && data.initial.reverb) };
    this.state = { ratios: this.initial.ratios.slice(), envGain: this.initial.envGain.slice(), reverb: this.initial.reverb, loop: false };
    this.specRef = null;
    this._build();
    this._refresh();
    this.ready = true;
    root.setAttribute("data-ready", "1");
    root.addEventListener("keydown", function (ev) { if (ev.key === "Escape") self.stop(); });
  }

  Panel.prototype.render = function (s) {
    s = s || {};
    var ratios = s.ratios || this.initial.ratios, gains = s.envGain || this.initial.envGain;
    if (ratios.length !== this.model.nOps || gains.length !== this.model.nOps)
      throw new Error("ddx7 panel: need " + this.model.nOps + " ratios and envelope gains");
    var x = renderFM(this.model, ratios, gains);
    if (s.reverb && this.ir) x = convolve(x, this.ir, this.convCache);
    return Float32Array.from(x);
  };

  Panel.prototype.settings = function () {
    return { ratios: this.state.ratios.slice(), envGain: this.state.envGain.slice(), reverb: this.state.reverb };
  };

  Panel.prototype.set = function (s) {
    if (s.ratios) this.state.ratios = s.ratios.map(Number);
    if (s.envGain) this.state.envGain = s.envGain.map(Number);
    if (s.reverb !== undefined) this.state.reverb = !!(s.reverb && this.ir);
    this._syncInputs();
    this._refresh();
  };

  /* The samples of a kind of playback: "current" settings, "unchanged" (trained), "original". */
  Panel.prototype._samplesFor = function (kind) {
    if (kind === "original") return this.original;
    if (kind === "unchanged") return this.render({ ratios: this.trained.ratios, envGain: this.trained.envGain, reverb: this.state.reverb });
    return this.current || this.render(this.settings());
  };

  /* Render through the playback graph in an OfflineAudioContext; resolves to Float32Array. */
  Panel.prototype.renderOffline = function (s, opts) {
    opts = opts || {};
    var sr = this.data.sample_rate, x = this.render(s);
    var OAC = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    var ctx = new OAC(1, x.length, sr);
    var node = connectSource(ctx, playbackSamples(x, sr, opts).samples, sr);
    node.source.start(0);
    return ctx.startRendering().then(function (buf) { return buf.getChannelData(0).slice(); });
  };

  Panel.prototype.play = function (kind, offset) {
    kind = kind || "current";
    var x = this._samplesFor(kind);
    if (!x) return;
    var ctx = audioContext(), sr = this.data.sample_rate;
    var pb = playbackSamples(x, sr, {});
    var node = connectSource(ctx, pb.samples, sr);
    var loop = this.state.loop && kind !== "original";
    node.source.loop = loop;
    offset = offset || 0;
    var t = ctx.currentTime, crossfade = audio.playing && audio.playing.panel === this && offset > 0;
    if (crossfade) { node.gain.gain.setValueAtTime(0, t); node.gain.gain.linearRampToValueAtTime(1, t + 0.03); }
    stopPlaying(crossfade ? 0.03 : 0.01);
    node.source.start(t, offset % node.duration);
    var p = { ctx: ctx, node: node, panel: this, kind: kind, start: t - offset, duration: node.duration, loop: loop };
    audio.playing = p;
    var self = this;
    node.source.onended = function () { if (audio.playing === p) { audio.playing = null; self._onStop(p); } };
    this._onPlay(p, pb);
  };

  Panel.prototype.stop = function () { if (audio.playing && audio.playing.panel === this) stopPlaying(0.02); };

  Panel.prototype._onPlay = function (p, pb) {
    var labels = { current: "your settings", unchanged: "the unchanged model", original: "the original recording" };
    this.status.textContent = "▶ playing " + labels[p.kind] +
      (pb.scale < 1 ? " · volume ×" + pb.scale.toFixed(2) + " (peak " + pb.peak.toFixed(2) + ")" : "");
    this.root.setAttribute("data-playing", p.kind);
    var btns = this.playButtons;
    for (var k in btns) btns[k].classList.toggle("ddx7-active", k === p.kind);
    this.cursor.style.display = p.kind === "original" ? "none" : "block";
    var self = this;
    var tick = function () {
      if (audio.playing !== p) return;
      var t = (p.ctx.currentTime - p.start);
      t = p.loop ? t % p.duration : Math.min(t, p.duration);
      self.cursor.style.left = (100 * t / p.duration) + "%";
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };

  Panel.prototype._onStop = function () {
    this.root.removeAttribute("data-playing");
    for (var k in this.playButtons) this.playButtons[k].classList.remove("ddx7-active");
    this.cursor.style.display = "none";
    this.status.textContent = this._describe();
  };

  Panel.prototype._describe = function () {
    var s = this.state, t = this.trained, parts = [];
    for (var k = 0; k < this.model.nOps; k++) {
      if (Math.abs(s.ratios[k] - t.ratios[k]) > 1e-9) parts.push("OP" + (k + 1) + " ratio " + fmt(t.ratios[k]) + "→" + fmt(s.ratios[k]));
      if (Math.abs(s.envGain[k] - 1) > 1e-9) parts.push("OP" + (k + 1) + " envelope ×" + fmt(s.envGain[k]));
    }
    return parts.length ? "Changed: " + parts.join(", ") : "As trained (no intervention)";
  };

  Panel.prototype._build = function () {
    var self = this, d = this.data, K = this.model.nOps, root = this.root;
    root.innerHTML = "";
    root.classList.add("ddx7-mounted");
    var head = el("div", { cls: "ddx7-head" }, [
      el("div", { cls: "ddx7-title", text: d.title }),
      d.subtitle ? el("div", { cls: "ddx7-sub", text: d.subtitle }) : null
    ]);
    root.appendChild(head);

    // patch graph (SVG), ratios shown live
    var body = el("div", { cls: "ddx7-body" });
    this.graphLabels = [];
    body.appendChild(this._graph());

    // operator table
    var table = el("table", { cls: "ddx7-ops" });
    table.appendChild(el("thead", {}, [el("tr", {}, [
      el("th", { text: "operator" }), el("th", { text: "frequency ratio" }), el("th", { text: "envelope gain" })])]));
    var tbody = el("tbody");
    this.inputs = { ratio: [], ratioNum: [], gain: [], gainNum: [] };
    var lrmax = Math.ceil(Math.log2(Math.max(16, 2 * Math.max.apply(null, d.patch.ratios))));
    for (var k = 0; k < K; k++) {
      var carrier = d.patch.carriers.indexOf(k) >= 0, targets = [];
      for (var dst in d.patch.modulators) if (d.patch.modulators[dst].indexOf(k) >= 0) targets.push("OP" + (+dst + 1));
      var role = carrier ? "carrier" : (targets.length ? "→ " + targets.join(", ") : "unused");
      var rr = el("input", { type: "range", min: "-2", max: String(lrmax), step: "0.001", "data-role": "ratio-range",
        "data-op": String(k), "aria-label": "OP" + (k + 1) + " frequency ratio" });
      var rn = el("input", { type: "number", min: "0.01", max: "64", step: "0.01", "data-role": "ratio-number",
        "data-op": String(k), "aria-label": "OP" + (k + 1) + " frequency ratio (number)" });
      var gr = el("input", { type: "range", min: "0", max: "4", step: "0.01", "data-role": "gain-range",
        "data-op": String(k), "aria-label": "OP" + (k + 1) + " envelope gain" });
      var gn = el("input", { type: "number", min: "0", max: "16", step: "0.01", "data-role": "gain-number",
        "data-op": String(k), "aria-label": "OP" + (k + 1) + " envelope gain (number)" });
      this.inputs.ratio.push(rr); this.inputs.ratioNum.push(rn); this.inputs.gain.push(gr); this.inputs.gainNum.push(gn);
      tbody.appendChild(el("tr", {}, [
        el("td", { cls: "ddx7-opname" }, [el("span", { cls: "ddx7-op " + (carrier ? "ddx7-carrier" : "ddx7-mod"), text: "OP" + (k + 1) }),
          el("span", { cls: "ddx7-role", text: role })]),
        el("td", {}, [el("div", { cls: "ddx7-pair" }, [rr, rn])]),
        el("td", {}, [el("div", { cls: "ddx7-pair" }, [gr, gn])])
      ]));
      (function (k, rr, rn, gr, gn) {
        rr.addEventListener("input", function () { self._setValue("ratios", k, sliderRatio(+rr.value), rn); });
        rn.addEventListener("input", function () { var v = parseFloat(rn.value); if (v > 0 && isFinite(v)) self._setValue("ratios", k, v, rr); });
        rn.addEventListener("change", function () { rn.value = fmt(self.state.ratios[k]); });
        gr.addEventListener("input", function () { self._setValue("envGain", k, +gr.value, gn); });
        gn.addEventListener("input", function () { var v = parseFloat(gn.value); if (v >= 0 && isFinite(v)) self._setValue("envGain", k, v, gr); });
        gn.addEventListener("change", function () { gn.value = fmt(self.state.envGain[k]); });
      })(k, rr, rn, gr, gn);
    }
    table.appendChild(tbody);
    body.appendChild(el("div", { cls: "ddx7-tablewrap" }, [table]));
    root.appendChild(body);

    // presets
    var presets = el("div", { cls: "ddx7-presets" }, [el("span", { cls: "ddx7-label", text: "Interventions:" })]);
    this.presetButtons = [];
    d.presets.forEach(function (p, i) {
      var b = el("button", { type: "button", cls: "ddx7-btn ddx7-preset", "data-role": "preset", "data-preset": String(i),
        title: p.help || p.label, "aria-pressed": "false" }, [p.label]);
      var target = self._presetSettings(p);
      if (p.label !== "Reset" && sameList(target.ratios, self.trained.ratios) && sameList(target.envGain, self.trained.envGain)) {
        b.disabled = true; b.title = (p.help || p.label) + " — changes nothing in this patch";
      }
      b.addEventListener("click", function () { self.set(self._presetSettings(p)); });
      self.presetButtons.push([b, target]);
      presets.appendChild(b);
    });
    root.appendChild(presets);

    // transport
    var transport = el("div", { cls: "ddx7-transport" });
    this.playButtons = {};
    var addPlay = function (kind, label, help) {
      var b = el("button", { type: "button", cls: "ddx7-btn ddx7-play", "data-role": "play-" + kind, title: help }, [label]);
      b.addEventListener("click", function () {
        if (audio.playing && audio.playing.panel === self && audio.playing.kind === kind) self.stop();
        else self.play(kind);
      });
      self.playButtons[kind] = b; transport.appendChild(b);
    };
    addPlay("current", "▶ Play", "Play with the settings above (click again to stop; Esc stops)");
    addPlay("unchanged", "▶ Unchanged", "Play the model's own render (trained ratios, gains 1)");
    if (this.original) addPlay("original", "▶ Original", "Play the original recording of this excerpt");
    var loopBox = el("input", { type: "checkbox", "data-role": "loop" });
    loopBox.addEventListener("change", function () { self.state.loop = loopBox.checked; });
    transport.appendChild(el("label", { cls: "ddx7-check", title: "Loop; changes are heard while playing" }, [loopBox, " loop"]));
    if (this.ir) {
      var rv = el("input", { type: "checkbox", "data-role": "reverb" });
      rv.checked = this.state.reverb;
      rv.addEventListener("change", function () { self.set({ reverb: rv.checked }); });
      this.reverbBox = rv;
      transport.appendChild(el("label", { cls: "ddx7-check", title: "The model's learned reverb (impulse response exported with the page)" }, [rv, " reverb"]));
    }
    root.appendChild(transport);

    // spectrogram
    this.canvas = el("canvas", { cls: "ddx7-spec", height: "150", "aria-label": "spectrogram of the current settings", role: "img" });
    this.cursor = el("div", { cls: "ddx7-cursor" });
    var specWrap = el("div", { cls: "ddx7-specwrap" }, [this.canvas, this.cursor,
      el("span", { cls: "ddx7-axis ddx7-axis-top", text: (d.sample_rate / 2000) + " kHz" }),
      el("span", { cls: "ddx7-axis ddx7-axis-right", text: (this.model.f0.length * d.hop / d.sample_rate).toFixed(1) + " s" })]);
    specWrap.addEventListener("click", function (ev) {  // click the spectrogram: play from there
      var r = specWrap.getBoundingClientRect(), frac = (ev.clientX - r.left) / r.width;
      self.play(audio.playing && audio.playing.panel === self && audio.playing.kind !== "original" ? audio.playing.kind : "current",
        frac * self.model.f0.length * d.hop / d.sample_rate);
    });
    root.appendChild(specWrap);
    this.status = el("div", { cls: "ddx7-status", "aria-live": "polite" });
    this.note = el("div", { cls: "ddx7-note", text: d.note || "" });
    root.appendChild(el("div", { cls: "ddx7-foot" }, [this.status, this.note]));
    this._syncInputs();
    if (window.ResizeObserver) {
      var w0 = 0;
      new ResizeObserver(function () {
        var w = self.canvas.clientWidth;
        if (w && Math.abs(w - w0) > 2) { w0 = w; self._drawSpec(); }
      }).observe(this.canvas);
    }
  };

  Panel.prototype._graph = function () {
    var d = this.data, lay = d.patch.layout, K = this.model.nOps, xs = [], ys = [], k;
    for (k = 0; k < K; k++) { xs.push(lay[k][0]); ys.push(lay[k][1]); }
    var minx = Math.min.apply(null, xs), maxx = Math.max.apply(null, xs), maxy = Math.max.apply(null, ys);
    var cw = 60, rh = 50, bw = 52, bh = 32, pad = 8;
    var W = (maxx - minx) * cw + bw + 2 * pad, H = (maxy + 1) * rh + 26 + pad;
    var px = function (k) { return pad + bw / 2 + (lay[k][0] - minx) * cw; };
    var py = function (k) { return pad + bh / 2 + (maxy - lay[k][1]) * rh; };
    var g = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "class": "ddx7-graph", role: "img",
      "aria-label": "patch " + d.patch.name + ": " + d.patch.graph });
    var defs = svg("defs", {});
    var mk = svg("marker", { id: this.id + "-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" });
    mk.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", "class": "ddx7-arrowhead" }));
    defs.appendChild(mk); g.appendChild(defs);
    var outX = 0;
    d.patch.carriers.forEach(function (c) { outX += px(c); });
    outX /= d.patch.carriers.length;
    var outY = H - 10;
    for (var dst in d.patch.modulators) d.patch.modulators[dst].forEach(function (s) {
      g.appendChild(svg("line", { x1: px(s), y1: py(s) + bh / 2, x2: px(+dst), y2: py(+dst) - bh / 2 - 1,
        "class": "ddx7-edge", "marker-end": "url(#" + this.id + "-arrow)" }));
    }, this);
    d.patch.carriers.forEach(function (c) {
      g.appendChild(svg("line", { x1: px(c), y1: py(c) + bh / 2, x2: outX, y2: outY - 12, "class": "ddx7-edge ddx7-edge-out",
        "marker-end": "url(#" + this.id + "-arrow)" }));
    }, this);
    g.appendChild(svg("text", { x: outX, y: outY, "class": "ddx7-out" }, "out"));
    for (k = 0; k < K; k++) {
      var carrier = d.patch.carriers.indexOf(k) >= 0;
      g.appendChild(svg("rect", { x: px(k) - bw / 2, y: py(k) - bh / 2, width: bw, height: bh, rx: 5,
        "class": carrier ? "ddx7-node ddx7-node-carrier" : "ddx7-node" }));
      g.appendChild(svg("text", { x: px(k), y: py(k) - 3, "class": "ddx7-node-name" }, "OP" + (k + 1)));
      var lab = svg("text", { x: px(k), y: py(k) + 11, "class": "ddx7-node-ratio" }, "×" + fmt(d.patch.ratios[k]));
      this.graphLabels.push(lab); g.appendChild(lab);
    }
    return el("div", { cls: "ddx7-graphwrap" }, [g]);
  };

  Panel.prototype._presetSettings = function (p) {
    return { ratios: (p.ratios || this.trained.ratios).slice(), envGain: (p.env_gain || this.trained.envGain).slice() };
  };

  Panel.prototype._setValue = function (what, k, v, other) {
    this.state[what][k] = v;
    if (other) other.value = other.type === "number" ? fmt(v) : (what === "ratios" ? Math.log2(v) : v);
    this._refresh();
  };

  Panel.prototype._syncInputs = function () {
    for (var k = 0; k < this.model.nOps; k++) {
      this.inputs.ratio[k].value = Math.log2(this.state.ratios[k]); this.inputs.ratioNum[k].value = fmt(this.state.ratios[k]);
      this.inputs.gain[k].value = this.state.envGain[k]; this.inputs.gainNum[k].value = fmt(this.state.envGain[k]);
    }
    if (this.reverbBox) this.reverbBox.checked = this.state.reverb;
  };

  /* Re-render (at most once per animation frame), redraw, and swap the sound if playing. */
  Panel.prototype._refresh = function () {
    var self = this;
    if (this._pending) return;
    this._pending = true;
    var run = function () {
      self._pending = false;
      var t0 = performance.now();
      self.current = self.render(self.settings());
      self.renderMs = performance.now() - t0;
      self._drawSpec();
      for (var k = 0; k < self.model.nOps; k++) {
        self.graphLabels[k].textContent = "×" + fmt(self.state.ratios[k]);
        var changed = Math.abs(self.state.ratios[k] - self.trained.ratios[k]) > 1e-9;
        self.graphLabels[k].setAttribute("class", "ddx7-node-ratio" + (changed ? " ddx7-changed" : ""));
        self.inputs.ratioNum[k].classList.toggle("ddx7-changed", changed);
        self.inputs.gainNum[k].classList.toggle("ddx7-changed", Math.abs(self.state.envGain[k] - 1) > 1e-9);
      }
      self.presetButtons.forEach(function (pb) {
        var on = sameList(pb[1].ratios, self.state.ratios) && sameList(pb[1].envGain, self.state.envGain);
        pb[0].setAttribute("aria-pressed", on ? "true" : "false");
        pb[0].classList.toggle("ddx7-active", on);
      });
      var p = audio.playing;
      if (p && p.panel === self && p.kind === "current") {
        self.play("current", p.ctx.currentTime - p.start);  // hear the change at once
      } else if (!p || p.panel !== self) {
        self.status.textContent = self._describe();
      }
      self.rendered = (self.rendered || 0) + 1;
    };
    if (!this.ready) run();  // first render synchronously (the panel is ready when mount returns)
    else requestAnimationFrame(run);
  };

  Panel.prototype._drawSpec = function () {
    var cv = this.canvas, x = this.current;
    if (!x) return;
    var dpr = window.devicePixelRatio || 1, w = Math.max(200, Math.round((cv.clientWidth || 640) * dpr)),
      h = Math.round((cv.clientHeight || 150) * dpr);
    cv.width = w; cv.height = h;
    var S = stftDb(x, 512, 128);
    if (this.specRef === null) {  // fixed dB reference: the unchanged render, so gains show as level
      var ref = -Infinity;
      for (var i = 0; i < S.db.length; i++) if (S.db[i] > ref) ref = S.db[i];
      this.specRef = ref;
    }
    var ctx = cv.getContext("2d"), img = ctx.createImageData(w, h), top = this.specRef, range = 80;
    for (var px = 0; px < w; px++) {
      var f = Math.min(S.frames - 1, Math.floor(px / w * S.frames));
      for (var py = 0; py < h; py++) {
        var b = Math.min(S.bins - 1, Math.floor((h - 1 - py) / h * S.bins));
        var c = colour((S.db[f * S.bins + b] - top + range) / range), o = 4 * (py * w + px);
        img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  };

  function mount(id, data) {
    var root = document.getElementById(id);
    if (!root) {  // not in the document yet: try again when it is
      document.addEventListener("DOMContentLoaded", function () { mount(id, data); });
      return null;
    }
    try {
      var panel = new Panel(root, data);
      window.ddx7Panels[id] = panel;
      return panel;
    } catch (e) {
      root.innerHTML = "";
      root.appendChild(el("p", { cls: "ddx7-fallback", text: "The FM panel could not start: " + e.message }));
      throw e;
    }
  }

  /* Typed array → base64 of its bytes (fast transfer to test drivers). */
  function toBase64(a) {
    var u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), s = "";
    for (var i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
    return btoa(s);
  }

  window.ddx7Panel = { version: VERSION, mount: mount, renderFM: renderFM, decodeArray: decodeArray,
    convolve: convolve, fft: fft, upsampleF0: upsampleF0, toBase64: toBase64 };
})();
