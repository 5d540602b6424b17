/*
 * "Play it live": the trained DDX7 plays a recording or the microphone in the reader's browser, with no
 * kernel and no server (the page works opened as a file). The HTML is ddx7/web/live_page.html; this
 * classic script runs after features.js (DDX7Features), ddx7_model.js (DDX7Live),
 * ddx7_worklet_source.js (DDX7_WORKLET_SOURCE: features.js + ddx7_model.js + live_worklet.js, one
 * data: URL for the AudioWorklet) and live_manifest.js (DDX7_LIVE_MANIFEST: instrument → run and
 * weights script, written at book build time by ddx7/web/live_page.py). Weights scripts
 * (ddx7_weights_<run>.js) are loaded when their instrument is chosen, from this script's folder.
 *
 * A recording: decodeAudioData (at 48 kHz) → mono → Resampler to 16 kHz → CausalFeatures per 64-sample
 * frame → the DDX7 streamer → a 16-bit WAV (blob URL) in an <audio> and a download link. Processed in
 * 1 s chunks with a yield to the event loop between them (progress bar). Fewer than 5 % voiced frames
 * (YIN trough under its threshold, above the −70 dB gate): "no pitch found", nothing is rendered.
 * The microphone: getUserMedia (no echo cancellation, noise suppression or gain control) →
 * AudioWorkletNode "ddx7-live" (live_worklet.js): the same chain per 4 ms frame, resampled to and from
 * the context rate; the controls reach it by port messages while it plays.
 * For scripts and tests: window.DDX7LivePage = {state, last (the last file render's timings),
 * liveStats, lastTap (the last live recording: rate, input, output), lastError, benchmark()}.
 */
(function () {
  "use strict";
  var SR = 16000, HOP = 64, FRAME_MS = 1000 * HOP / SR, GATE_DB = -70, MIN_VOICED = 0.05, CHUNK_FRAMES = 250;
  var here = document.currentScript ? document.currentScript.src : "";
  var base = here.slice(0, here.lastIndexOf("/") + 1);
  var manifest = window.DDX7_LIVE_MANIFEST || null;
  var state = { inst: null, model: null, models: {}, features: null, live: null, urls: {} };
  var api = window.DDX7LivePage = { state: state, last: null, liveStats: null, lastTap: null, lastError: null };
  function el(id) { return document.getElementById("ddx7l-" + id); }
  function fail(text) { var e = new Error(text); e.sentence = true; return e; }
  function say(text, isError) {
    var s = el("status");
    s.textContent = text; s.className = "ddx7l-status" + (isError ? " error" : "");
    if (isError) api.lastError = text;
  }
  function report(e) { say(e && e.sentence ? e.message : "Something went wrong: " + (e && e.message || e) + ".", true); }
  function tick() { return new Promise(function (r) { setTimeout(r, 0); }); }
  function progress(v) { var p = el("progress"); p.hidden = false; p.value = v; }
  function fmt(x, d) { return x.toFixed(d === undefined ? 2 : d); }

  // ------------------------------------------------------------------ WAV and blob URLs
  function wavBlob(x, rate) {  // 16-bit PCM mono
    var n = x.length, v = new DataView(new ArrayBuffer(44 + 2 * n)), i;
    function str(o, s) { for (var j = 0; j < s.length; j++) v.setUint8(o + j, s.charCodeAt(j)); }
    str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE"); str(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
    v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
    str(36, "data"); v.setUint32(40, 2 * n, true);
    for (i = 0; i < n; i++) {
      var s = Math.max(-1, Math.min(1, x[i]));
      v.setInt16(44 + 2 * i, Math.round(s < 0 ? s * 32768 : s * 32767), true);
    }
    return new Blob([v.buffer], { type: "audio/wav" });
  }
  function show(key, audio, link, blob, name) {
    if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
    var u = state.urls[key] = URL.createObjectURL(blob);
    el(audio).src = u;
    if (link) { el(link).href = u; el(link).download = name; }
  }

  // ------------------------------------------------------------------ models
  function entry(inst) {
    return (manifest.instruments || []).filter(function (e) { return e.instrument === inst; })[0];
  }
  function loadScript(url) {
    return new Promise(function (ok, no) {
      var s = document.createElement("script");
      s.src = url; s.onload = ok; s.onerror = function () { no(new Error("did not load")); };
      document.head.appendChild(s);
    });
  }
  function modelFor(inst) {
    if (state.models[inst]) return state.models[inst];
    var e = entry(inst), p;
    if (!e) p = Promise.reject(fail("This book has no " + inst + " model."));
    else if (e.missing) p = Promise.reject(fail(e.missing));
    else {
      var have = window.DDX7_WEIGHTS && window.DDX7_WEIGHTS[e.run];
      p = (have ? Promise.resolve() : loadScript(base + e.script).catch(function () {
        throw fail("The " + inst + " model's weights are missing: " + e.script + " did not load from " + base +
          " (make book exports them next to this page's scripts).");
      })).then(function () {
        return DDX7Live.load(e.run).catch(function (err) {
          throw fail("The " + inst + " model's weights cannot be used: " + err.message + ".");
        });
      });
    }
    p.catch(function () { delete state.models[inst]; });  // another try may find them
    return (state.models[inst] = p);
  }
  function chooseInstrument(inst) {
    state.inst = inst; state.model = null; el("model").textContent = "";
    say("Loading the " + inst + " model …");
    return modelFor(inst).then(function (m) {
      if (state.inst !== inst) return m;
      state.model = m; buildControls(m);
      el("model").textContent = "run " + m.header.run + ": " + m.nOps + " operators (" + m.config.patch.name +
        "), " + Math.round(m.values.length / 1000) + " k weights";
      if (state.live) {
        state.live.node.port.postMessage({ type: "model", header: m.header, values: m.values });
        state.live.node.port.postMessage({ type: "set", settings: settings() });
      }
      say(state.live ? "Listening: the " + inst + " plays what the microphone hears."
        : "Ready: choose a recording or start the microphone.");
      return m;
    }, function (e) { if (state.inst === inst) report(e); });
  }

  // ------------------------------------------------------------------ controls
  function buildControls(m) {
    var p = m.config.patch, rows = ["<tr><th>Operator</th><th>Frequency ratio</th><th colspan='2'>Envelope gain</th></tr>"];
    for (var k = 0; k < m.nOps; k++) {
      rows.push("<tr><td>" + (k + 1) + (p.carriers.indexOf(k) >= 0 ? " (carrier)" : " (modulator)") + "</td>" +
        "<td><input type='number' id='ddx7l-ratio-" + k + "' min='0.01' max='64' step='0.01' value='" + p.ratios[k] + "'></td>" +
        "<td><input type='range' id='ddx7l-gain-" + k + "' min='0' max='3' step='0.05' value='1'></td>" +
        "<td><output id='ddx7l-gain-out-" + k + "'>1.00</output></td></tr>");
    }
    el("ops").innerHTML = rows.join("");
    el("ops").querySelectorAll("input").forEach(function (i) { i.addEventListener("input", onControl); });
    onControl();
  }
  function settings() {
    var m = state.model, trained = m.config.patch.ratios, r = [], g = [], sameR = true, unit = true;
    for (var k = 0; k < m.nOps; k++) {
      var rk = parseFloat(el("ratio-" + k).value), gk = parseFloat(el("gain-" + k).value);
      r.push(rk > 0 && isFinite(rk) ? rk : trained[k]); g.push(gk >= 0 ? gk : 1);
      sameR = sameR && r[k] === trained[k]; unit = unit && g[k] === 1;
    }
    return { ratios: sameR ? null : r, envGain: unit ? null : g,
      pitchShift: parseFloat(el("pitch").value) || 0, loudnessOffset: parseFloat(el("loud").value) || 0 };
  }
  function onControl() {
    if (!state.model) return;
    var s = settings();
    el("pitch-out").textContent = (s.pitchShift > 0 ? "+" : "") + s.pitchShift + " semitones";
    el("loud-out").textContent = (s.loudnessOffset > 0 ? "+" : "") + s.loudnessOffset + " dB";
    for (var k = 0; k < state.model.nOps; k++) el("gain-out-" + k).textContent = fmt(parseFloat(el("gain-" + k).value));
    if (state.live) state.live.node.port.postMessage({ type: "set", settings: s });
  }
  function resetControls() {
    el("pitch").value = 0; el("loud").value = 0;
    if (state.model) buildControls(state.model);
  }

  // ------------------------------------------------------------------ a recording, offline
  /* mono at `rate` → 16 kHz, features per frame; progress from 0 to `share`. */
  async function analyse(x, rate, share) {
    var n16 = rate === SR ? x.length : Math.floor(x.length * SR / rate), T = Math.floor(n16 / HOP);
    var f0 = new Float32Array(T), ld = new Float32Array(T), voiced = new Uint8Array(T), x16 = new Float32Array(T * HOP);
    var r = rate === SR ? null : new DDX7Features.Resampler(rate, SR), fx = new DDX7Features.CausalFeatures();
    var got = 0, done = 0, t0 = performance.now();
    for (var at = 0; ; at += rate) {
      var last = at >= x.length, part = last ? new Float32Array(r ? r.reach + 2 : 0) : x.subarray(at, at + rate);
      var y = r ? r.push(part) : part, take = Math.min(y.length, x16.length - got);
      x16.set(y.subarray(0, take), got); got += take;
      for (; done < T && (done + 1) * HOP <= got; done++) {
        fx.processFrame(x16, done * HOP);
        f0[done] = fx.f0; ld[done] = fx.loudness; voiced[done] = (fx.voiced ? 1 : 0) | (fx.loudness >= GATE_DB ? 2 : 0);
      }
      progress(share * done / Math.max(T, 1));
      if (last || done >= T) break;
      await tick();
    }
    var nv = 0, nl = 0;  // YIN found a pitch; that and above the gate (where the features use it)
    for (var i = 0; i < T; i++) { nv += voiced[i] & 1; nl += voiced[i] === 3 ? 1 : 0; }
    return { f0: f0, ld: ld, x16: x16, frames: T, voiced: nl, pitched: nv, featuresMs: performance.now() - t0 };
  }
  async function render(from) {
    var F = state.features, m = state.model, inst = state.inst, T = F.frames, out = new Float32Array(T * HOP);
    var s = m.streamer(settings()), t0 = performance.now();
    for (var i = 0; i < T; i += CHUNK_FRAMES) {
      var j = Math.min(T, i + CHUNK_FRAMES);
      s.process(F.f0.subarray(i, j), F.ld.subarray(i, j), out.subarray(i * HOP, j * HOP));
      progress(from + (1 - from) * j / T);
      await tick();
    }
    var modelMs = performance.now() - t0, peak = 0, k;
    for (k = 0; k < out.length; k++) peak = Math.max(peak, Math.abs(out[k]));
    if (peak > 0.99) for (k = 0; k < out.length; k++) out[k] *= 0.99 / peak;
    var stem = F.name.replace(/\.[^.]*$/, "");
    show("out", "audio", "download", wavBlob(out, SR), stem + "-ddx7-" + inst + ".wav");
    el("result").hidden = false;
    var sec = T / (1000 / FRAME_MS), first = from > 0, ms = modelMs + (first ? F.featuresMs : 0);
    api.last = { instrument: inst, run: m.header.run, seconds: sec, renderMs: ms, featuresMs: first ? F.featuresMs : 0,
      modelMs: modelMs, decodeMs: F.decodeMs, voicedFraction: F.voiced / T, peak: peak, userAgent: navigator.userAgent };
    el("file-speed").textContent = "Rendered " + fmt(sec, 1) + " s of audio in " + fmt(ms / 1000) + " s (" +
      (first ? "resampling + features " + fmt(F.featuresMs / 1000) + " s, " : "features kept, ") + "model " +
      fmt(modelMs / 1000) + " s): " + fmt(sec / (ms / 1000), 1) + " s of audio per second; decoding took " +
      fmt(F.decodeMs / 1000) + " s" + (peak > 0.99 ? "; scaled by " + fmt(0.99 / peak) + " against clipping" : "") + ".";
    say("Done: " + F.name + " played by the " + inst + " (" + Math.round(100 * F.voiced / T) + " % of its frames have a pitch).");
    return out;
  }
  async function onFile(file) {
    if (!file) return;
    el("result").hidden = true; el("file-speed").textContent = ""; el("rerender").disabled = true;
    state.features = null;
    try {
      var inst = state.inst;
      await modelFor(inst);
      if (state.inst !== inst || !state.model) throw fail("The instrument changed while loading: choose the file again.");
      say("Decoding " + file.name + " …");
      var bytes = await file.arrayBuffer(), t0 = performance.now(), buf;
      try { buf = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(bytes); } catch (e) {
        throw fail("This browser cannot decode “" + file.name + "” (" + (e && (e.message || e.name) || "unknown format") +
          "): give it a WAV, MP3, OGG or FLAC recording.");
      }
      var decodeMs = performance.now() - t0;
      if (buf.duration * SR < 2 * HOP) throw fail("“" + file.name + "” is too short: it holds " + fmt(1000 * buf.duration, 1) + " ms of audio.");
      say("Listening to " + file.name + " (" + fmt(buf.duration, 1) + " s) …");
      var F = await analyse(DDX7Features.toMono(buf), buf.sampleRate, 0.4);
      F.name = file.name; F.decodeMs = decodeMs;
      var enough = Math.max(12, MIN_VOICED * F.frames);
      if (F.pitched < enough)
        throw fail("No pitch found in “" + file.name + "”: only " + F.pitched + " of its " + F.frames + " frames (" +
          fmt(100 * F.pitched / F.frames, 1) + " %) have a clear pitch; the model plays a melody, so give it one " +
          "instrument or a voice playing notes.");
      if (F.voiced < enough)
        throw fail("“" + file.name + "” is too quiet: it has a pitch, but only " + F.voiced + " of its " + F.frames +
          " frames are above the features' gate (A-weighted loudness " + GATE_DB + " dB, where the pitch is held); " +
          "record it louder or normalise it.");
      state.features = F; el("rerender").disabled = false;
      show("in", "input-audio", null, wavBlob(F.x16, SR));
      await render(0.4);
    } catch (e) { report(e); } finally { el("progress").hidden = true; }
  }

  // ------------------------------------------------------------------ the microphone, live
  function micSentence(e) {
    var n = e && e.name;
    if (n === "NotAllowedError" || n === "SecurityError" || n === "PermissionDeniedError")
      return "The microphone was refused: allow this page to use it (the microphone icon in the address bar or the site settings) and press the button again.";
    if (n === "NotFoundError" || n === "OverconstrainedError" || n === "DevicesNotFoundError")
      return "No microphone is available: connect one and press the button again.";
    if (n === "NotReadableError" || n === "AbortError")
      return "The microphone could not be opened (another program may be using it): " + (e.message || n) + ".";
    return "The microphone is unavailable: " + (e && (e.message || n)) + ".";
  }
  async function startMic() {
    if (state.live) return;
    el("mic").disabled = true;
    var live = null;
    try {
      var inst = state.inst, m = await modelFor(inst);
      if (!window.DDX7_WORKLET_SOURCE) throw fail("The live player's code is missing (ddx7_worklet_source.js did not load): rebuild the book with make book.");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
        throw fail("The microphone is unavailable: this browser gives the page no navigator.mediaDevices (it needs a file:// or https:// page).");
      if (typeof AudioWorkletNode === "undefined") throw fail("This browser has no AudioWorklet, which the live player needs.");
      var stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
      } catch (e) { throw fail(micSentence(e)); }
      var ctx = new AudioContext({ latencyHint: "interactive" });
      live = { ctx: ctx, stream: stream, node: null, prev: null, tap: null };
      await ctx.audioWorklet.addModule("data:text/javascript;charset=utf-8," + encodeURIComponent(window.DDX7_WORKLET_SOURCE));
      var node = live.node = new AudioWorkletNode(ctx, "ddx7-live", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
      node.port.onmessage = onWorklet;
      node.port.postMessage({ type: "model", header: m.header, values: m.values });
      state.live = live; onControl();
      ctx.createMediaStreamSource(stream).connect(node); node.connect(ctx.destination);
      await ctx.resume();
      el("stop").disabled = false; el("record").disabled = false;
      say("Listening: the " + inst + " plays what the microphone hears.");
    } catch (e) {
      if (live) { state.live = live; stopMic(); }
      el("mic").disabled = false; report(e);
    }
  }
  function stopMic() {
    var live = state.live;
    state.live = null;
    if (!live) return;
    live.stream.getTracks().forEach(function (t) { t.stop(); });
    if (live.node) live.node.port.postMessage({ type: "stop" });
    live.ctx.close();
    el("mic").disabled = false; el("stop").disabled = true; el("record").disabled = true; el("record").textContent = "Record";
    if (!el("status").classList.contains("error")) say("Stopped.");
  }
  function onWorklet(e) {
    var d = e.data, live = state.live;
    if (!live) return;
    if (d.type === "error") { report(fail("The live player stopped: " + d.message + ".")); stopMic(); return; }
    if (d.type === "tap") {
      api.lastTap = { rate: d.rate, input: d.input, output: d.output };
      show("rec", "rec-audio", "rec-download", wavBlob(d.output, d.rate), "ddx7-live-" + state.inst + ".wav");
      el("rec").hidden = false; el("record").textContent = "Record";
      return;
    }
    if (d.type !== "stats") return;
    var p = live.prev || { frames: 0, busyMs: 0 }, frames = d.frames - p.frames, busy = d.busyMs - p.busyMs;
    live.prev = d;
    var rtf = d.frames ? d.busyMs / (d.frames * FRAME_MS) : 0;
    api.liveStats = { frames: d.frames, busyMs: d.busyMs, rtf: rtf, rtfNow: frames ? busy / (frames * FRAME_MS) : 0,
      maxQuantumMs: d.maxMs, underruns: d.underruns, voicedFraction: d.frames ? d.voiced / d.frames : 0,
      f0: d.f0, loudness: d.loudness, rate: d.rate, queueMs: d.latencyMs };
    el("live-stats").textContent = "Live at " + FRAME_MS + " ms frames, context " + d.rate + " Hz: compute " +
      fmt(rtf * FRAME_MS, 3) + " ms per frame on average, a real-time factor of " + fmt(rtf, 3) +
      " of one core (slowest 128-sample quantum " + d.maxMs + " ms; " + d.frames + " frames); input pitch " +
      fmt(d.f0, 1) + " Hz at " + fmt(d.loudness, 1) + " dB; " + Math.round(100 * api.liveStats.voicedFraction) +
      " % of frames voiced; buffered " + fmt(d.latencyMs, 1) + " ms; underruns " + d.underruns + ".";
  }
  function toggleRecord() {
    var live = state.live;
    if (!live) return;
    if (el("record").textContent === "Record") {
      live.node.port.postMessage({ type: "tap", seconds: 600 }); el("record").textContent = "Stop recording";
    } else live.node.port.postMessage({ type: "tapEnd" });
  }

  // ------------------------------------------------------------------ speed, measured here
  /* A 10 s synthetic phrase (harmonic tone, glides and vibrato) through features + model, one 4 ms frame
   * at a time on the main thread: per-frame time (mean, p99) as a real-time factor, and the total. */
  async function benchmark() {
    var m = await modelFor(state.inst), n = 10 * SR, x = new Float32Array(n), ph = 0, i;
    for (i = 0; i < n; i++) {
      var t = i / SR, f = 220 * Math.pow(2, (Math.floor(t * 2) % 5) / 12 + 0.01 * Math.sin(2 * Math.PI * 5 * t));
      ph += 2 * Math.PI * f / SR;
      x[i] = 0.2 * (Math.sin(ph) + 0.5 * Math.sin(2 * ph) + 0.25 * Math.sin(3 * ph));
    }
    var fx = new DDX7Features.CausalFeatures(), s = m.streamer(settings()), f0 = new Float32Array(1), ld = new Float32Array(1);
    var out = new Float32Array(HOP), T = n / HOP, times = new Float64Array(T);
    for (i = 0; i < 300; i++) { fx.processFrame(x, i * HOP); f0[0] = fx.f0; ld[0] = fx.loudness; s.process(f0, ld, out); }
    fx.reset(); s.reset();
    var t0 = performance.now();
    for (i = 0; i < T; i++) {
      var a = performance.now();
      fx.processFrame(x, i * HOP); f0[0] = fx.f0; ld[0] = fx.loudness; s.process(f0, ld, out);
      times[i] = performance.now() - a;
    }
    var total = performance.now() - t0, sorted = Array.from(times).sort(function (p, q) { return p - q; });
    var r = { instrument: state.inst, run: m.header.run, frames: T, meanMs: total / T, p99Ms: sorted[Math.floor(0.99 * T)],
      rtf: total / T / FRAME_MS, rtfP99: sorted[Math.floor(0.99 * T)] / FRAME_MS, totalS: total / 1000, userAgent: navigator.userAgent };
    el("speed").textContent = "The " + state.inst + " model, one " + FRAME_MS + " ms frame at a time (features + model, this page's main " +
      "thread): " + fmt(r.meanMs, 3) + " ms per frame, a real-time factor of " + fmt(r.rtf, 3) + " of one core (99th percentile " +
      fmt(r.rtfP99, 3) + "); a 10 s phrase in " + fmt(r.totalS) + " s.";
    api.bench = r;
    return r;
  }

  // ------------------------------------------------------------------ start
  function measuredText(sp) {
    if (!sp) return "No measurement was recorded when this book was built (tests/test_web_live_page.py writes one).";
    return "Measured by tests/test_web_live_page.py on " + sp.cpu + " in Chromium " + sp.chromium + " (" + sp.date + "): live, " +
      "the microphone path in its AudioWorklet computes " + fmt(sp.live_rtf, 3) + " of one core at 4 ms frames (" + sp.instrument +
      "); a " + fmt(sp.offline_seconds, 0) + " s phrase through the file input renders in " + fmt(sp.offline_render_s) + " s.";
  }
  function init() {
    el("ua").textContent = navigator.userAgent;
    if (!window.DDX7Live || !window.DDX7Features) return say("The player's scripts (features.js, ddx7_model.js) did not load: rebuild the book with make book.", true);
    if (!manifest) return say("The model weights are missing: this page was built without them (live_manifest.js did not load; make book exports them).", true);
    el("measured").textContent = measuredText(manifest.speed);
    var sel = el("instrument"), usable = (manifest.instruments || []).filter(function (e) { return !e.missing; });
    (manifest.instruments || []).forEach(function (e) {
      var o = document.createElement("option");
      o.value = e.instrument; o.textContent = e.instrument + (e.missing ? " (no model)" : "");
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () { chooseInstrument(sel.value); });
    el("file").addEventListener("change", function () {  // emptied after: the same file again is a new change
      var f = el("file").files[0]; el("file").value = ""; onFile(f);
    });
    el("rerender").addEventListener("click", function () {
      if (state.features && state.model) render(0).catch(report).finally(function () { el("progress").hidden = true; });
    });
    el("mic").addEventListener("click", startMic);
    el("stop").addEventListener("click", stopMic);
    el("record").addEventListener("click", toggleRecord);
    el("pitch").addEventListener("input", onControl);
    el("loud").addEventListener("input", onControl);
    el("reset").addEventListener("click", resetControls);
    el("bench").addEventListener("click", function () { say("Measuring …"); benchmark().then(function () { say("Measured."); }, report); });
    api.benchmark = benchmark;
    if (!usable.length) {
      return say(manifest.note || "No model is available in this book (profile " + manifest.profile + "): its Table 1 runs were not trained.", true);
    }
    sel.value = usable[0].instrument;
    api.ready = chooseInstrument(usable[0].instrument);
  }
  init();
})();
