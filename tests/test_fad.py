"""Fréchet Audio Distance and its embeddings (ddx7.eval.fad). Fast: no downloads, few clips."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from ddx7.eval import embeddings as emb_mod
from ddx7.eval import vggish as vg
from ddx7.eval.fad import embedding_stats, fad, fad_audio, fad_report, frechet_distance, get_embedding

SR = 16000


# ----------------------------------------------------------------------------- audio fixtures
def _tone(f0, seconds, rng):
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clip_sets():
    rng = np.random.default_rng(7)
    tones_a = [_tone(f, 4.0, rng) for f in (220.0, 262.0, 330.0, 392.0)]
    tones_b = [_tone(f, 4.0, rng) for f in (233.0, 294.0, 349.0, 440.0)]
    noise = [(0.3 * rng.standard_normal(4 * SR)).astype(np.float32) for _ in range(4)]
    return tones_a, tones_b, noise


# ----------------------------------------------------------------------------- Fréchet distance
def test_identical_sets_give_zero():
    e = np.random.default_rng(0).normal(size=(200, 16)) * 3 + 1
    assert fad(e, e) == pytest.approx(0.0, abs=1e-8)
    assert fad(e[:, :1], e[:, :1]) == pytest.approx(0.0, abs=1e-10)  # 1-D embeddings


def test_frechet_distance_diagonal_analytic():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    v1, v2 = rng.uniform(0.1, 4, 8), rng.uniform(0.1, 4, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_full_covariances():
    rng = np.random.default_rng(2)
    d = 6
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    l1, l2 = rng.uniform(0.2, 3, d), rng.uniform(0.2, 3, d)
    s1, s2 = q @ np.diag(l1) @ q.T, q @ np.diag(l2) @ q.T  # commuting: closed form
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(l1 + l2 - 2 * np.sqrt(l1 * l2))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    # non-commuting: tr((S1 S2)^½) = tr((S1^½ S2 S1^½)^½), computed from eigenvalues
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr_covmean = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fad_of_gaussian_samples_matches_analytic():
    rng = np.random.default_rng(3)
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 1.0, 0.0])
    sd1, sd2 = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.5])
    a = mu1 + sd1 * rng.standard_normal((40000, 3))
    b = mu2 + sd2 * rng.standard_normal((40000, 3))
    v1, v2 = sd1 ** 2, sd2 ** 2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))  # = 1.75
    assert fad(a, b) == pytest.approx(expected, rel=0.05)


def test_fad_is_symmetric_and_nonnegative():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10))
    b = rng.normal(size=(250, 10)) * 2 + 0.3
    assert fad(a, b) == pytest.approx(fad(b, a), rel=1e-8)
    assert fad(a, b) > 0


def test_singular_covariances_fewer_frames_than_dims():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(6, 64)), rng.normal(size=(5, 64)) + 1.0
    d_ab, d_ba = fad(a, b), fad(b, a)
    assert np.isfinite(d_ab) and d_ab > 0
    assert d_ab == pytest.approx(d_ba, rel=1e-4)
    assert fad(a, a) == pytest.approx(0.0, abs=1e-3 * np.trace(np.cov(a, rowvar=False)))
    # a rank-1 covariance against a zero covariance: still finite
    assert np.isfinite(frechet_distance(np.zeros(3), np.diag([1.0, 0, 0]), np.ones(3), np.zeros((3, 3))))


def test_frame_route_equals_sqrtm_route():
    """fad() on few frames (N <= D) avoids the D×D sqrtm; both routes give the same value."""
    from ddx7.eval.fad import _frechet_from_frames
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 12)) @ rng.normal(size=(12, 12)), rng.normal(size=(40, 12)) + 0.5
    via_stats = frechet_distance(*embedding_stats(a), *embedding_stats(b))
    assert _frechet_from_frames(a, b) == pytest.approx(via_stats, rel=1e-9)
    assert fad(a, b) == pytest.approx(via_stats, rel=1e-12)
    a, b = rng.normal(size=(8, 40)), rng.normal(size=(9, 40)) * 2 + 1  # singular covariances
    assert fad(a, b) == pytest.approx(frechet_distance(*embedding_stats(a), *embedding_stats(b)), rel=1e-4)


def test_input_validation():
    with pytest.raises(ValueError):
        embedding_stats(np.zeros((1, 4)))
    with pytest.raises(ValueError):
        fad(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError):
        emb_mod.as_clip_list([np.zeros((2, 100))])
    with pytest.raises(ValueError):
        emb_mod.as_clip_list([])


# ----------------------------------------------------------------------------- registry
def test_registry():
    assert {"aisfx", "vggish", "mfcc"} <= set(emb_mod.available_embeddings())
    assert emb_mod.DEFAULT_EMBEDDING == "aisfx"
    e = get_embedding("mfcc-stats")
    assert e.name.startswith("mfcc-stats") and e.sample_rate == SR and e.dim == 80
    assert get_embedding(e) is e
    with pytest.raises(KeyError, match="available"):
        get_embedding("nope")


# ----------------------------------------------------------------------------- embeddings
def _noise_vs_tones(embedding, clip_sets):
    tones_a, tones_b, noise = clip_sets
    ea, eb, en = embedding.embed(tones_a), embedding.embed(tones_b), embedding.embed(noise)
    assert ea.ndim == 2 and ea.shape[1] == embedding.dim and np.isfinite(ea).all()
    return fad(ea, eb), fad(ea, en), fad(en, eb)


def test_mfcc_noise_far_from_tones(clip_sets):
    e = get_embedding("mfcc")
    assert e.embed(clip_sets[0][:1]).shape == (7, 80)  # 4 s: 1 s windows every 0.5 s
    tt, tn, nt = _noise_vs_tones(e, clip_sets)
    assert tn > 10 * tt and nt > 10 * tt
    # determinism and resampling of other input rates
    x = clip_sets[0][0]
    np.testing.assert_array_equal(e.embed([x]), e.embed([x]))
    import soxr
    x22 = soxr.resample(x, SR, 22050)
    assert np.allclose(e.embed([x22], sample_rate=22050), e.embed([x]), rtol=0.05, atol=1.0)


def test_fad_report_names_embedding(clip_sets):
    tones_a, tones_b, _ = clip_sets
    rep = fad_report(tones_a, tones_b, "mfcc")
    assert rep["embedding"].startswith("mfcc-stats") and rep["n_clips_a"] == 4 and rep["dim"] == 80
    assert rep["fad"] == pytest.approx(fad_audio(tones_a, tones_b, "mfcc"))
    # 2-D batch input == list input; short clips are padded to one window
    assert fad_audio(np.stack(tones_a), np.stack(tones_b), "mfcc") == pytest.approx(rep["fad"])
    assert get_embedding("mfcc").embed([tones_a[0][:4000]]).shape == (1, 80)


@pytest.fixture(scope="module")
def aisfx_embedding():
    if not emb_mod.aisfx_available():
        pytest.skip("aisfx not installed (pip install --no-deps aisfx==0.1.2)")
    return get_embedding("aisfx")


def test_aisfx_noise_far_from_tones(aisfx_embedding, clip_sets):
    e = aisfx_embedding
    assert e.name == "aisfx-0.1.2 (sound-effects model)" and e.sample_rate == 44100
    assert e.embed(clip_sets[0][:1]).shape == (2, 512)  # 4 s → two 2.32 s blocks, hop 1.16 s
    tt, tn, nt = _noise_vs_tones(e, clip_sets)
    assert tn > 3 * tt and nt > 3 * tt
    assert get_embedding("aisfx").model is e.model  # loaded once per process


def test_vggish_random_weights_shapes():
    e = get_embedding("vggish", random_init=True, seed=0)
    assert "random" in e.name and e.sample_rate == SR and e.dim == 128
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(4 * SR).astype(np.float32), rng.standard_normal(SR // 2).astype(np.float32)]
    out = e.embed_clips(clips)
    assert [o.shape for o in out] == [(4, 128), (1, 128)]  # 0.96 s examples; short clip padded
    assert np.isfinite(np.concatenate(out)).all()
    assert vg.waveform_to_examples(clips[0]).shape == (4, 96, 64)


# The PyTorch port's state_dict layout (harritaylor/torchvggish), written out independently.
PORT_LAYOUT = {
    "features.0": (64, 1), "features.3": (128, 64), "features.6": (256, 128),
    "features.8": (256, 256), "features.11": (512, 256), "features.13": (512, 512),
}
PORT_FC = {"embeddings.0": (4096, 12288), "embeddings.2": (4096, 4096), "embeddings.4": (128, 4096)}


def _port_fixture_state_dict(seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, (cout, cin) in PORT_LAYOUT.items():
        sd[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.01
    for name, (fout, fin) in PORT_FC.items():
        sd[f"{name}.weight"] = torch.randn(fout, fin, generator=g) * (2.0 / fin) ** 0.5
        sd[f"{name}.bias"] = torch.randn(fout, generator=g) * 0.01
    rng = np.random.default_rng(seed)
    sd["pca_eigen_vectors"] = np.linalg.qr(rng.normal(size=(128, 128)))[0]  # numpy, as in the port's PCA file
    sd["pca_means"] = rng.normal(size=(128, 1)) * 0.01
    return sd


def test_vggish_loads_port_state_dict(tmp_path, monkeypatch):
    monkeypatch.delenv("DDX7_VGGISH_WEIGHTS", raising=False)
    sd = _port_fixture_state_dict()
    path = tmp_path / "vggish-port.pth"
    torch.save(sd, path)
    e = get_embedding("vggish", vggish_weights=path, postprocess=True)
    assert "vggish-port.pth" in e.name and "sha256 " in e.name
    assert torch.equal(e.model.features[13].weight, sd["features.13.weight"])
    assert torch.equal(e.model.embeddings[4].bias, sd["embeddings.4.bias"])
    x = np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32)
    q = e.embed([x])
    assert q.shape == (2, 128) and q.min() >= 0 and q.max() <= 255 and np.all(q == np.round(q))
    raw = get_embedding("vggish", vggish_weights=path)  # FAD convention: pre-ReLU, no PCA
    r = raw.embed([x])
    assert (r < 0).any()  # no final ReLU
    relu = get_embedding("vggish", vggish_weights=path, final_relu=True).embed([x])
    np.testing.assert_allclose(relu, np.maximum(r, 0), atol=1e-5)


def test_vggish_without_weights_says_so(monkeypatch):
    monkeypatch.delenv("DDX7_VGGISH_WEIGHTS", raising=False)
    with pytest.raises(vg.VGGishWeightsError, match="--vggish-weights"):
        get_embedding("vggish")
    with pytest.raises(vg.VGGishWeightsError, match="does not exist"):
        get_embedding("vggish", vggish_weights="/nonexistent/vggish.pth")


def test_vggish_corrupt_file(tmp_path):
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"\x00\x01 this is not a checkpoint" * 10)
    with pytest.raises(vg.VGGishWeightsError, match="corrupt.pth"):
        get_embedding("vggish", vggish_weights=bad)


def test_vggish_mismatched_keys(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(32, 1, 3, 3), "features.0.bias": torch.zeros(64),
                "classifier.weight": torch.zeros(2)}, wrong)
    with pytest.raises(vg.VGGishWeightsError) as info:
        get_embedding("vggish", vggish_weights=wrong)
    msg = str(info.value)
    assert "wrong.pth" in msg and "embeddings.4.weight" in msg and "classifier.weight" in msg
    assert "features.0.weight: expected (64, 1, 3, 3), got (32, 1, 3, 3)" in msg
    notdict = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], notdict)
    with pytest.raises(vg.VGGishWeightsError, match="list.pth"):
        get_embedding("vggish", vggish_weights=notdict)


# ----------------------------------------------------------------------------- offline
def test_embeddings_never_touch_the_network(monkeypatch, clip_sets):
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted during embedding")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    clip = clip_sets[0][:1]
    names = ["mfcc"]
    if emb_mod.aisfx_available():
        emb_mod._load_aisfx_model.cache_clear()  # reload the packaged weights under the block
        names.append("aisfx")
    for name in names:
        assert np.isfinite(get_embedding(name).embed(clip)).all()
    assert np.isfinite(get_embedding("vggish", random_init=True).embed(clip)).all()
