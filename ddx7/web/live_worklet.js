/*
 * The live path of the "Play it live" page (ddx7/web/live_page.js), as an AudioWorkletProcessor named
 * "ddx7-live". It runs after features.js and ddx7_model.js in ONE data: URL (ddx7/web/live_page.py
 * writes that source into ddx7_worklet_source.js; Chromium loads worklets from file:// pages only from
 * data: URLs), so DDX7Features and DDX7Live are globals here.
 *
 * Per render quantum (128 samples at the context rate, e.g. 44.1 or 48 kHz):
 *   input channels → mono → Resampler(rate → 16 kHz) → every 64 samples (4 ms) one frame:
 *   CausalFeatures (f0, loudness) → DDX7 streamer (TCN, FM, reverb: 64 samples) → Resampler(16 kHz →
 *   rate) → an output queue → the quantum's output once the queue holds enough (primed with
 *   `prime` samples of silence, again after an underrun; a queue grown past 4 · prime is cut back to prime).
 * Messages in (port): {type: "model", header, values} (DDX7Live.Model's arguments, decoded by the page),
 *   {type: "set", settings} (streamer settings, live), {type: "tap", seconds} starts recording the
 *   mono input and the output at the context rate, {type: "tapEnd"} ends it early, {type: "stop"}.
 * Messages out: {type: "stats", frames, busyMs, maxMs, quanta, underruns, f0, loudness, voiced, level}
 *   every ~0.25 s; {type: "tap", rate, input, output} (Float32Arrays); {type: "error", message}.
 * Compute time: AudioWorkletGlobalScope has no performance.now() in Chromium 156, so each quantum is
 * timed with Date.now() (1 ms ticks). A quantum starts at a random phase of the tick, so the sum of the
 * differences is an unbiased estimate of the total time; the page divides it by the frames computed.
 */
/* global AudioWorkletProcessor, registerProcessor, sampleRate, currentTime, DDX7Features, DDX7Live */
class DDX7LiveProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.rate = sampleRate;
    this.hop = 64;
    this.down = this.rate === 16000 ? null : new DDX7Features.Resampler(this.rate, 16000);
    this.up = this.rate === 16000 ? null : new DDX7Features.Resampler(16000, this.rate);
    this.fx = new DDX7Features.CausalFeatures();
    this.pending = new Float32Array(4096); this.nPending = 0;   // 16 kHz input not yet framed
    this.frame = new Float32Array(this.hop);
    this.f0 = new Float32Array(1); this.ld = new Float32Array(1);
    this.queue = new Float32Array(1 << 16); this.qRead = 0; this.qLen = 0;
    this.prime = 4 * 128; this.priming = true;
    this.streamer = null; this.settings = {};
    this.mono = new Float32Array(128);
    this.tapLeft = 0; this.tapIn = []; this.tapOut = [];
    this.stats = { frames: 0, busyMs: 0, maxMs: 0, quanta: 0, underruns: 0, voiced: 0 };
    this.lastPost = 0; this.alive = true;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(m) {
    try {
      if (m.type === "model") {
        const model = new DDX7Live.Model(m.header, m.values);
        this.streamer = model.streamer(this.settings);
      } else if (m.type === "set") {
        Object.assign(this.settings, m.settings);
        if (this.streamer) this.streamer.set(m.settings);
      } else if (m.type === "tap") {
        this.tapIn = []; this.tapOut = []; this.tapLeft = Math.round(m.seconds * this.rate);
      } else if (m.type === "tapEnd") {
        this.endTap();
      } else if (m.type === "stop") {
        this.alive = false;
      }
    } catch (e) {
      this.port.postMessage({ type: "error", message: e.message });
    }
  }

  endTap() {
    const join = (parts) => {
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    };
    const input = join(this.tapIn), output = join(this.tapOut);
    this.tapIn = []; this.tapOut = []; this.tapLeft = 0;
    this.port.postMessage({ type: "tap", rate: this.rate, input: input, output: output }, [input.buffer, output.buffer]);
  }

  push(y) {  // model output at the context rate → queue
    if (this.qLen + y.length > this.queue.length) { this.qLen = 0; this.qRead = 0; this.stats.underruns++; }  // far behind: drop
    const Q = this.queue, n = Q.length;
    let w = (this.qRead + this.qLen) % n;
    for (let i = 0; i < y.length; i++) { Q[w] = y[i]; w = w + 1 === n ? 0 : w + 1; }
    this.qLen += y.length;
  }

  compute(mono) {
    const x16 = this.down ? this.down.push(mono) : mono;
    if (this.nPending + x16.length > this.pending.length) {
      const bigger = new Float32Array(2 * (this.nPending + x16.length));
      bigger.set(this.pending.subarray(0, this.nPending)); this.pending = bigger;
    }
    this.pending.set(x16, this.nPending); this.nPending += x16.length;
    let at = 0;
    while (this.nPending - at >= this.hop) {
      this.fx.processFrame(this.pending, at); at += this.hop;
      this.stats.frames++;
      if (this.fx.voiced && this.fx.loudness >= -70) this.stats.voiced++;
      if (this.streamer) {
        this.f0[0] = this.fx.f0; this.ld[0] = this.fx.loudness;
        this.streamer.process(this.f0, this.ld, this.frame);
      } else {
        this.frame.fill(0);
      }
      this.push(this.up ? this.up.push(this.frame) : this.frame);
    }
    this.pending.copyWithin(0, at, this.nPending); this.nPending -= at;
  }

  process(inputs, outputs) {
    if (!this.alive) return false;
    const inp = inputs[0], out = outputs[0], n = out[0].length, mono = this.mono;
    mono.fill(0);
    for (let c = 0; c < inp.length; c++) for (let i = 0; i < n; i++) mono[i] += inp[c][i] / inp.length;
    const t0 = Date.now();
    try { this.compute(mono); } catch (e) { this.port.postMessage({ type: "error", message: e.message }); this.alive = false; }
    const dt = Date.now() - t0, s = this.stats;
    s.busyMs += dt; s.maxMs = Math.max(s.maxMs, dt); s.quanta++;
    // output: silence until PRIME samples wait in the queue (and again after an underrun)
    if (this.priming && this.qLen >= this.prime) this.priming = false;
    if (this.qLen > 4 * this.prime) {  // fell behind (a stall, a model swap): drop the excess, keep the delay short
      const drop = this.qLen - this.prime;
      this.qRead = (this.qRead + drop) % this.queue.length; this.qLen -= drop; s.underruns++;
    }
    const y = out[0];
    if (!this.priming && this.qLen >= n) {
      const Q = this.queue, len = Q.length;
      for (let i = 0; i < n; i++) { y[i] = Q[this.qRead]; this.qRead = this.qRead + 1 === len ? 0 : this.qRead + 1; }
      this.qLen -= n;
    } else {
      y.fill(0);
      if (!this.priming) { this.priming = true; s.underruns++; }
    }
    for (let c = 1; c < out.length; c++) out[c].set(y);
    if (this.tapLeft > 0) {
      this.tapIn.push(Float32Array.from(mono)); this.tapOut.push(Float32Array.from(y));
      this.tapLeft -= n;
      if (this.tapLeft <= 0) this.endTap();
    }
    if (currentTime - this.lastPost >= 0.25) {
      this.lastPost = currentTime;
      this.port.postMessage({ type: "stats", frames: s.frames, busyMs: s.busyMs, maxMs: s.maxMs, quanta: s.quanta,
        underruns: s.underruns, voiced: s.voiced, f0: this.fx.f0, loudness: this.fx.loudness, rate: this.rate,
        latencyMs: 1000 * (this.qLen + (this.down ? this.down.reach : 0)) / this.rate + 4 });
    }
    return true;
  }
}
registerProcessor("ddx7-live", DDX7LiveProcessor);
