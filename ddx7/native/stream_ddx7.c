/* The streaming DDX7 of ddx7/stream.py (StreamingDDX7.process) as one C function per block: issue 15's
 * "fused kernel". A 4 ms block is ~130 small tensor operations in PyTorch, each paying a few µs of dispatch
 * whatever its arithmetic; here the same arithmetic runs in plain loops, one frame at a time.
 *
 * A copy, kept for speed, of StreamingDDX7 (itself a block-wise copy of ddx7.models.ddx7.DDX7); the Python
 * wrapper is ddx7/stream_native.py (NativeStreamingDDX7), which takes every weight and constant from a
 * StreamingDDX7, and tests/test_stream_native.py checks this copy against the offline model and the eager
 * streamer. Per frame, for each row of the batch:
 *   inputs   (log2 f0, loudness) · scale + offset                   (models.tcn.InputScaling.stacked_last)
 *   decoder  the TCN's causal dilated convolutions, each tap set one matrix-vector product over a ring of
 *            its last (kernel − 1)·dilation input frames, the bias as the weights' last row
 *   synth    envelopes max_ol · sigmoid(z) (× env_gain), controls ramped from the previous frame at
 *            oversample · fs, float64 running phase ω += 2π f0 / fs (sequential, as the offline cumsum:
 *            the same bits), operator phase (r ω + offset) mod 2π, the FM graph, carriers summed,
 *            the decimation filter as one matrix-vector product (÷ max_ol folded in)
 *   reverb   uniformly partitioned overlap-save convolution: the window's spectrum by a float64 DFT
 *            matrix, a ring of spectra times the tail's partitions, the window's last half back.
 * Compiled with -ffp-contract=off: the phase sum must not be fused into FMAs (a 1-ulp phase error is
 * magnified ~10^3× by a deep stack at Imax 4π). The spectra products accumulate in double (the Python
 * streamer sums complex64 products), the matrix-vector products in float as BLAS does, in another order.
 * Spectra are stored split (all real parts, then all imaginary) so that the loops over bins vectorise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    /* decoder */
    int n_convs, kernel, n_blocks;
    const int *c_in, *c_out, *dilation; /* per conv; c_out counts a 1×1 residual's columns appended */
    const int *hidden, *has_residual;   /* per block: conv1's own output channels */
    const float *const *weights;        /* per conv [kernel · c_in + 1][c_out], bias last */
    float scale[2], offset[2];          /* InputScaling's affine map of (log2 f0, loudness) */
    /* synth */
    int hop, oversample, n_ops, n_carriers;
    float max_ol, two_pi;
    const int *order, *n_mods, *mods, *carriers; /* mods [n_ops][n_ops] */
    const double *ratios;
    double omega_scale, two_pi_d;
    long long rebase_samples;
    const float *ramp;                 /* [oversample · hop] */
    int dec_rows;                      /* rows of the decimation matrix (0: no oversampling) */
    const float *decimation;           /* [dec_rows][hop] */
    /* reverb */
    int reverb_active, partitions;
    const float *rotations;            /* [2 · partitions][hop + 1][2] */
    const double *forward_dft;         /* [2 hop][2 (hop + 1)] */
    const double *inverse_dft;         /* [2 (hop + 1)][hop] */
} ddx7s_config;

typedef struct {
    ddx7s_config c;
    /* owned copies of the config's arrays */
    int *ints;
    float **weights;
    double *ratios, *forward_dft, *inverse_dft;
    float *ramp, *decimation, *rotations; /* rotations [2 · partitions][2][hop + 1], split as the spectra */
    float env_gain[64];
    int use_gain;
    /* state (batch rows) */
    int batch, started, use_offset;
    long long step, since_rebase;
    int reverb_pos;
    float **ring;         /* per conv [batch][(kernel − 1) d][c_in] */
    float *last_frame;    /* [batch][1 + K] */
    double *omega_end;    /* [batch] */
    double *phase_offset; /* [batch][K] */
    float *fast_history;  /* [batch][dec_rows − fast_hop] */
    float *spectra;       /* [batch][partitions][2][hop + 1]: real parts, then imaginary (vectorisable) */
    float *previous;      /* [batch][hop] */
    /* scratch */
    float *a, *b, *h, *taps, *controls, *outs, *fast;
    double *window, *acc, *wet;
    int max_channels;
} ddx7s;

static void *copy_of(const void *src, size_t bytes) {
    void *dst = malloc(bytes ? bytes : 1);
    if (dst && bytes) memcpy(dst, src, bytes);
    return dst;
}

static void free_state(ddx7s *s) {
    if (s->ring) for (int i = 0; i < s->c.n_convs; i++) free(s->ring[i]);
    free(s->ring); free(s->last_frame); free(s->omega_end); free(s->phase_offset);
    free(s->fast_history); free(s->spectra); free(s->previous);
    s->ring = NULL; s->last_frame = NULL; s->omega_end = NULL; s->phase_offset = NULL;
    s->fast_history = NULL; s->spectra = NULL; s->previous = NULL;
}

void ddx7s_free(ddx7s *s) {
    if (!s) return;
    free_state(s);
    if (s->weights) for (int i = 0; i < s->c.n_convs; i++) free(s->weights[i]);
    free(s->weights); free(s->ints); free(s->ratios); free(s->forward_dft); free(s->inverse_dft);
    free(s->ramp); free(s->decimation); free(s->rotations);
    free(s->a); free(s->b); free(s->h); free(s->taps); free(s->controls); free(s->outs); free(s->fast);
    free(s->window); free(s->acc); free(s->wet);
    free(s);
}

static int history_len(const ddx7s *s, int i) { return (s->c.kernel - 1) * s->c.dilation[i]; }

/* Forget the stream: zero state for `batch` rows. 0, or −1 when out of memory. */
int ddx7s_reset(ddx7s *s, int batch) {
    const ddx7s_config *c = &s->c;
    int fast_hop = c->hop * c->oversample, k = c->n_ops;
    free_state(s);
    s->ring = calloc(c->n_convs, sizeof(float *));
    if (!s->ring) return -1;
    for (int i = 0; i < c->n_convs; i++) {
        s->ring[i] = calloc((size_t)batch * history_len(s, i) * c->c_in[i] + 1, sizeof(float));
        if (!s->ring[i]) return -1;
    }
    s->last_frame = calloc((size_t)batch * (1 + k), sizeof(float));
    s->omega_end = calloc(batch, sizeof(double));
    s->phase_offset = calloc((size_t)batch * k, sizeof(double));
    s->fast_history = calloc((size_t)batch * (c->dec_rows > 0 ? c->dec_rows - fast_hop : 0) + 1, sizeof(float));
    s->spectra = calloc((size_t)batch * c->partitions * (c->hop + 1) * 2, sizeof(float));
    s->previous = calloc((size_t)batch * c->hop, sizeof(float));
    if (!s->last_frame || !s->omega_end || !s->phase_offset || !s->fast_history || !s->spectra || !s->previous)
        return -1;
    s->batch = batch;
    s->started = 0;
    s->use_offset = 0;
    s->step = 0;
    s->since_rebase = 0;
    s->reverb_pos = 0;
    return 0;
}

ddx7s *ddx7s_create(const ddx7s_config *cfg) {
    ddx7s *s = calloc(1, sizeof(ddx7s));
    if (!s) return NULL;
    s->c = *cfg;
    ddx7s_config *c = &s->c;
    int nc = c->n_convs, nb = c->n_blocks, k = c->n_ops;
    if (k > 64) { free(s); return NULL; }
    /* one block of ints: c_in, c_out, dilation (nc each), hidden, has_residual (nb each), order, n_mods,
       carriers (k each), mods (k · k) */
    size_t n_ints = 3 * (size_t)nc + 2 * (size_t)nb + 3 * (size_t)k + (size_t)k * k;
    s->ints = malloc(n_ints * sizeof(int));
    s->weights = calloc(nc, sizeof(float *));
    if (!s->ints || !s->weights) { ddx7s_free(s); return NULL; }
    int *p = s->ints;
    memcpy(p, cfg->c_in, nc * sizeof(int)); c->c_in = p; p += nc;
    memcpy(p, cfg->c_out, nc * sizeof(int)); c->c_out = p; p += nc;
    memcpy(p, cfg->dilation, nc * sizeof(int)); c->dilation = p; p += nc;
    memcpy(p, cfg->hidden, nb * sizeof(int)); c->hidden = p; p += nb;
    memcpy(p, cfg->has_residual, nb * sizeof(int)); c->has_residual = p; p += nb;
    memcpy(p, cfg->order, k * sizeof(int)); c->order = p; p += k;
    memcpy(p, cfg->n_mods, k * sizeof(int)); c->n_mods = p; p += k;
    memcpy(p, cfg->carriers, c->n_carriers * sizeof(int)); c->carriers = p; p += k;
    memcpy(p, cfg->mods, (size_t)k * k * sizeof(int)); c->mods = p;
    int max_channels = 2;
    for (int i = 0; i < nc; i++) {
        size_t rows = (size_t)c->kernel * c->c_in[i] + 1;
        s->weights[i] = copy_of(cfg->weights[i], rows * c->c_out[i] * sizeof(float));
        if (!s->weights[i]) { ddx7s_free(s); return NULL; }
        if (c->c_in[i] > max_channels) max_channels = c->c_in[i];
        if (c->c_out[i] > max_channels) max_channels = c->c_out[i];
    }
    c->weights = (const float *const *)s->weights;
    int fast_hop = c->hop * c->oversample, hop = c->hop;
    s->ratios = copy_of(cfg->ratios, k * sizeof(double)); c->ratios = s->ratios;
    s->ramp = copy_of(cfg->ramp, fast_hop * sizeof(float)); c->ramp = s->ramp;
    s->decimation = copy_of(cfg->decimation, (size_t)c->dec_rows * hop * sizeof(float)); c->decimation = s->decimation;
    size_t n_spectra = (size_t)2 * c->partitions, bins = hop + 1;
    s->rotations = malloc(n_spectra * bins * 2 * sizeof(float));
    if (s->rotations)
        for (size_t i = 0; i < n_spectra; i++)
            for (size_t f = 0; f < bins; f++)
                for (int part = 0; part < 2; part++)
                    s->rotations[(i * 2 + part) * bins + f] = cfg->rotations[(i * bins + f) * 2 + part];
    c->rotations = s->rotations;
    s->forward_dft = copy_of(cfg->forward_dft, (size_t)2 * hop * 2 * (hop + 1) * sizeof(double));
    c->forward_dft = s->forward_dft;
    s->inverse_dft = copy_of(cfg->inverse_dft, (size_t)2 * (hop + 1) * hop * sizeof(double));
    c->inverse_dft = s->inverse_dft;
    s->max_channels = max_channels;
    s->a = malloc(max_channels * sizeof(float));
    s->b = malloc(max_channels * sizeof(float));
    s->h = malloc(max_channels * sizeof(float));
    s->taps = malloc(((size_t)c->kernel * max_channels + 1) * sizeof(float));
    s->controls = malloc((size_t)(1 + k) * fast_hop * sizeof(float));
    s->outs = malloc((size_t)k * fast_hop * sizeof(float));
    s->fast = malloc(((size_t)(c->dec_rows > fast_hop ? c->dec_rows : fast_hop)) * sizeof(float));
    s->window = malloc((size_t)2 * hop * sizeof(double));
    s->acc = malloc((size_t)2 * (hop + 1) * sizeof(double));
    s->wet = malloc((size_t)hop * sizeof(double));
    for (int i = 0; i < k; i++) s->env_gain[i] = 1.0f;
    if (!s->ratios || !s->ramp || !s->decimation || !s->rotations || !s->forward_dft || !s->inverse_dft || !s->a ||
        !s->b || !s->h || !s->taps || !s->controls || !s->outs || !s->fast || !s->window || !s->acc || !s->wet ||
        ddx7s_reset(s, 1) != 0) {
        ddx7s_free(s);
        return NULL;
    }
    return s;
}

/* out[o] = Σ_r in[r] · w[r][o] + w[rows][o]: one conv's taps (rows = kernel · c_in) times its weights */
static void matvec(const float *in, int rows, const float *w, int cols, float *out) {
    const float *bias = w + (size_t)rows * cols;
    for (int o = 0; o < cols; o++) out[o] = bias[o];
    for (int r = 0; r < rows; r++) {
        float x = in[r];
        const float *wr = w + (size_t)r * cols;
        for (int o = 0; o < cols; o++) out[o] += x * wr[o];
    }
}

/* Conv i on one frame x [c_in] of row `row`: reads its ring, then stores x in it. */
static void conv(ddx7s *s, int i, int row, const float *x, float *out) {
    const ddx7s_config *c = &s->c;
    int cin = c->c_in[i], d = c->dilation[i], n = history_len(s, i);
    float *ring = s->ring[i] + (size_t)row * n * cin;
    int now = n > 0 ? (int)(s->step % n) : 0;
    float *taps = s->taps;
    for (int t = 0; t < c->kernel - 1; t++)  /* frame −(kernel − 1 − t)·d sits in slot (now + t·d) mod n */
        memcpy(taps + (size_t)t * cin, ring + (size_t)((now + t * d) % n) * cin, cin * sizeof(float));
    memcpy(taps + (size_t)(c->kernel - 1) * cin, x, cin * sizeof(float));
    if (n > 0) memcpy(ring + (size_t)now * cin, x, cin * sizeof(float));
    matvec(taps, c->kernel * cin, c->weights[i], c->c_out[i], out);
}

static inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

/* The TCN on one frame's scaled inputs x [2] → logits z [n_ops] (StreamingDDX7.decode_scaled). */
static void decode(ddx7s *s, int row, const float *inputs, float *z) {
    const ddx7s_config *c = &s->c;
    float *x = s->a, *h = s->h, *y = s->b;
    memcpy(x, inputs, 2 * sizeof(float));
    for (int i = 0; i < c->n_blocks; i++) {
        int hid = c->hidden[i];
        conv(s, 2 * i, row, x, h); /* [hidden (+ residual columns)] */
        const float *res = c->has_residual[i] ? h + hid : x;
        for (int j = 0; j < hid; j++) h[j] = relu(h[j]);
        conv(s, 2 * i + 1, row, h, y);
        int out_width = c->c_out[2 * i + 1];
        if (i == c->n_blocks - 1) {
            for (int j = 0; j < out_width; j++) z[j] = y[j] + res[j];
        } else {
            for (int j = 0; j < out_width; j++) {
                float v = relu(y[j]) + res[j];
                y[j] = (c->has_residual[i] || i == 0) ? relu(v) : v;
            }
            float *t = x; x = y; y = t;
        }
    }
}

static inline double wrap(double omega, double ratio, double offset, int use_offset, double two_pi) {
    double phase = omega * ratio;
    if (use_offset) phase = phase + offset;
    double turns = floor(phase * (1.0 / two_pi));
    return phase - turns * two_pi;
}

static void rebase(ddx7s *s) {
    const ddx7s_config *c = &s->c;
    for (int b = 0; b < s->batch; b++) {
        for (int k = 0; k < c->n_ops; k++)
            s->phase_offset[b * c->n_ops + k] =
                wrap(s->omega_end[b], c->ratios[k], s->phase_offset[b * c->n_ops + k], 1, c->two_pi_d);
        s->omega_end[b] = 0.0;
    }
    s->use_offset = 1;
    s->since_rebase = 0;
}

/* One frame of FM for row b: frame = (f0, a_1 … a_K) → dry audio [hop]. */
static void synthesize(ddx7s *s, int b, const float *frame, float *audio) {
    const ddx7s_config *c = &s->c;
    int k = c->n_ops, fast_hop = c->hop * c->oversample, hop = c->hop;
    float *last = s->last_frame + (size_t)b * (1 + k);
    const float *before = s->started ? last : frame;
    for (int ch = 0; ch <= k; ch++) {
        float x = frame[ch], x0 = before[ch], dx = x - x0;
        float *dst = s->controls + (size_t)ch * fast_hop;
        for (int j = 0; j < fast_hop; j++) dst[j] = dx * c->ramp[j] + x0;
    }
    memcpy(last, frame, (1 + k) * sizeof(float));
    /* phases: ω continues sample by sample; operators wrapped as RunningPhase.advance */
    double omega = s->omega_end[b];
    const double *offset = s->phase_offset + (size_t)b * k;
    float *outs = s->outs;
    for (int j = 0; j < fast_hop; j++) {
        omega = omega + (double)s->controls[j] * c->omega_scale;
        for (int op = 0; op < k; op++)
            outs[(size_t)op * fast_hop + j] = (float)wrap(omega, c->ratios[op], offset[op], s->use_offset, c->two_pi_d);
    }
    s->omega_end[b] = omega;
    /* the FM graph, top of each stack first (synth.fm.fm_operators): outs holds phases until replaced */
    for (int oi = 0; oi < k; oi++) {
        int op = c->order[oi];
        float *y = outs + (size_t)op * fast_hop;
        const float *env = s->controls + (size_t)(1 + op) * fast_hop;
        for (int j = 0; j < fast_hop; j++) {
            float arg = y[j];
            for (int m = 0; m < c->n_mods[op]; m++) arg = arg + c->two_pi * outs[(size_t)c->mods[op * k + m] * fast_hop + j];
            y[j] = env[j] * sinf(arg);
        }
    }
    float *mix = c->dec_rows > 0 ? s->fast + (c->dec_rows - fast_hop) : s->fast;
    const float *first = outs + (size_t)c->carriers[0] * fast_hop;
    for (int j = 0; j < fast_hop; j++) mix[j] = first[j];
    for (int ci = 1; ci < c->n_carriers; ci++) {
        const float *y = outs + (size_t)c->carriers[ci] * fast_hop;
        for (int j = 0; j < fast_hop; j++) mix[j] = mix[j] + y[j];
    }
    if (c->dec_rows == 0) {
        for (int j = 0; j < hop; j++) audio[j] = mix[j] / c->max_ol;
        return;
    }
    /* decimation: the window [history, this frame's fast samples] times the matrix (÷ max_ol in it) */
    int keep = c->dec_rows - fast_hop;
    float *hist = s->fast_history + (size_t)b * keep;
    memcpy(s->fast, hist, keep * sizeof(float));
    for (int j = 0; j < hop; j++) audio[j] = 0.0f;
    for (int r = 0; r < c->dec_rows; r++) {
        float x = s->fast[r];
        const float *w = c->decimation + (size_t)r * hop;
        for (int j = 0; j < hop; j++) audio[j] += x * w[j];
    }
    memcpy(hist, s->fast + fast_hop, keep * sizeof(float));
}

/* One partition of the reverb for row b, in place on x [hop]: y = x + (x * tail). */
static void reverb(ddx7s *s, int b, float *x, int pos) {
    const ddx7s_config *c = &s->c;
    int p = c->hop, n = c->partitions, bins = p + 1;
    float *prev = s->previous + (size_t)b * p;
    double *win = s->window, *acc = s->acc, *wet = s->wet;
    for (int j = 0; j < p; j++) { win[j] = prev[j]; win[p + j] = x[j]; }
    memcpy(prev, x, p * sizeof(float));
    /* the window's spectrum, (re, im) pairs, into the newest slot as complex64 (the Python ring's type) */
    for (int f = 0; f < 2 * bins; f++) acc[f] = 0.0;
    for (int r = 0; r < 2 * p; r++) {
        double v = win[r];
        const double *row = c->forward_dft + (size_t)r * 2 * bins;
        for (int f = 0; f < 2 * bins; f++) acc[f] += v * row[f];
    }
    float *ring = s->spectra + (size_t)b * n * bins * 2;
    float *slot = ring + (size_t)pos * bins * 2;
    for (int f = 0; f < bins; f++) { slot[f] = (float)acc[2 * f]; slot[bins + f] = (float)acc[2 * f + 1]; }
    /* Σ over slots s of ring[s] · G[(s − pos) mod n] = GG[n − pos + s] */
    double *ar = acc, *ai = acc + bins;
    for (int f = 0; f < 2 * bins; f++) acc[f] = 0.0;
    const float *g = c->rotations + (size_t)(n - pos) * bins * 2;
    for (int sl = 0; sl < n; sl++) {
        const float *xr = ring + (size_t)sl * bins * 2, *xi = xr + bins;
        const float *gr = g + (size_t)sl * bins * 2, *gi = gr + bins;
        for (int f = 0; f < bins; f++) {
            ar[f] += (double)xr[f] * gr[f] - (double)xi[f] * gi[f];
            ai[f] += (double)xr[f] * gi[f] + (double)xi[f] * gr[f];
        }
    }
    /* back to the window's last half: the inverse DFT's rows are (re, im) pairs; the sum rounded to complex64
       first, as the Python streamer's */
    for (int j = 0; j < p; j++) wet[j] = 0.0;
    for (int f = 0; f < bins; f++) {
        double re = (float)ar[f], im = (float)ai[f];
        const double *row_re = c->inverse_dft + (size_t)(2 * f) * p, *row_im = row_re + p;
        for (int j = 0; j < p; j++) wet[j] += re * row_re[j] + im * row_im[j];
    }
    for (int j = 0; j < p; j++) x[j] = x[j] + (float)wet[j];
}

/* f0 [batch][frames] Hz, loudness [batch][frames] dB → out [batch][frames · hop].
 * 0; 1: an f0 ≤ 0 or NaN; 2: an f0 or loudness infinite (or a loudness NaN); 3: batch differs from reset's (nothing changed
 * on 1–3). */
int ddx7s_process(ddx7s *s, const float *f0, const float *loudness, int batch, int frames, float *out) {
    const ddx7s_config *c = &s->c;
    size_t n = (size_t)batch * frames;
    for (size_t i = 0; i < n; i++)
        if (!(f0[i] > 0.0f)) return 1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(f0[i]) || !isfinite(loudness[i])) return 2;
    if (batch != s->batch) return 3;
    int k = c->n_ops, hop = c->hop;
    float inputs[2], z[64], frame[65];
    for (int t = 0; t < frames; t++) {
        int pos = (s->reverb_pos + 1) % c->partitions;
        for (int b = 0; b < batch; b++) {
            float f = f0[(size_t)b * frames + t], ld = loudness[(size_t)b * frames + t];
            inputs[0] = c->offset[0] + log2f(f) * c->scale[0];
            inputs[1] = c->offset[1] + ld * c->scale[1];
            decode(s, b, inputs, z);
            frame[0] = f;
            for (int j = 0; j < k; j++) {
                float a = c->max_ol * (1.0f / (1.0f + expf(-z[j])));
                frame[1 + j] = s->use_gain ? a * s->env_gain[j] : a;
            }
            float *audio = out + (size_t)b * frames * hop + (size_t)t * hop;
            synthesize(s, b, frame, audio);
            if (c->reverb_active) reverb(s, b, audio, pos);
        }
        s->reverb_pos = pos;
        s->started = 1;
        s->step += 1;
        s->since_rebase += (long long)hop * c->oversample;
        if (s->since_rebase >= c->rebase_samples) rebase(s);
    }
    return 0;
}

/* New ratios from the next sample on; a stream that has begun folds ω first (each operator keeps its phase). */
void ddx7s_set_ratios(ddx7s *s, const double *ratios) {
    if (s->since_rebase > 0 || s->use_offset) rebase(s);
    memcpy(s->ratios, ratios, s->c.n_ops * sizeof(double));
}

void ddx7s_set_env_gain(ddx7s *s, const float *gain) {
    memcpy(s->env_gain, gain, s->c.n_ops * sizeof(float));
    s->use_gain = 1;
}

/* Each operator's phase after the last sample, in [0, 2π): out [batch][K] (RunningPhase.phases). */
void ddx7s_phases(const ddx7s *s, double *out) {
    for (int b = 0; b < s->batch; b++)
        for (int k = 0; k < s->c.n_ops; k++)
            out[b * s->c.n_ops + k] =
                wrap(s->omega_end[b], s->c.ratios[k], s->phase_offset[b * s->c.n_ops + k], 1, s->c.two_pi_d);
}
