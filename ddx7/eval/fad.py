"""Fréchet Audio Distance (Kilgour et al. 2019) with pluggable, offline embeddings.

    FAD = ||μa − μb||² + tr(Σa + Σb − 2 (Σa Σb)^½)

between Gaussians fitted to the embedding frames of two sets of clips. The embedding matters
(values are only comparable under the same embedding), so every value goes out with the
embedding's name: use :func:`fad_report` (a dict with ``fad`` and ``embedding``) when writing
results.

    >>> from ddx7.eval.fad import fad_audio, fad_report, get_embedding
    >>> fad_audio(test_clips, resynth_clips)               # default embedding: aisfx
    >>> fad_report(test_clips, resynth_clips, "mfcc")      # {'fad': ..., 'embedding': 'mfcc-stats (...)', ...}
    >>> fad_audio(a, b, "vggish", vggish_weights="vggish-10086976.pth")

Audio: mono float clips at 16 kHz (a list of 1-D arrays of any lengths, or [N, T]);
``sample_rate=`` for other rates.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from .embeddings import (  # noqa: F401
    DEFAULT_EMBEDDING,
    INPUT_SAMPLE_RATE,
    AisfxEmbedding,
    Embedding,
    MFCCStatsEmbedding,
    VGGishEmbedding,
    aisfx_available,
    as_clip_list,
    available_embeddings,
    get_embedding,
    register_embedding,
)

__all__ = ["frechet_distance", "embedding_stats", "fad", "fad_audio", "fad_report",
           "get_embedding", "register_embedding", "available_embeddings", "Embedding",
           "DEFAULT_EMBEDDING"]


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> tuple[np.ndarray, float]:
    """sqrtm(Σ1 Σ2) and its relative residual ||X² − Σ1Σ2||_F / ||Σ1Σ2||_F."""
    prod = sigma1 @ sigma2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular-matrix LinAlgWarnings: handled below
        covmean = scipy.linalg.sqrtm(prod)
    covmean = np.asarray(covmean)
    if not np.isfinite(covmean).all():
        return covmean, np.inf
    scale = max(np.linalg.norm(prod), np.finfo(float).tiny)
    return covmean, float(np.linalg.norm(covmean @ covmean - prod) / scale)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Uses scipy.linalg.sqrtm. When Σ1Σ2 is singular or badly conditioned (typical with fewer
    embedding frames than dimensions) and the square root comes out non-finite, inaccurate or
    with a significant imaginary part, ``eps`` (relative to the mean variance) is added to both
    diagonals and the root recomputed; remaining imaginary round-off is dropped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"mean vectors differ in shape: {mu1.shape} vs {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances must be {(d, d)}, got {sigma1.shape} and {sigma2.shape}")
    diff = mu1 - mu2

    covmean, err = _sqrtm_product(sigma1, sigma2)
    imag = np.abs(covmean.imag).max() if np.iscomplexobj(covmean) else 0.0
    real_scale = max(np.abs(covmean.real).max() if covmean.size else 0.0, 1e-300)
    if not np.isfinite(err) or err > 1e-4 or imag > 1e-3 * real_scale:
        ref = max((np.trace(sigma1) + np.trace(sigma2)) / (2 * d), 1e-12)
        offset = np.eye(d) * eps * ref
        covmean, err = _sqrtm_product(sigma1 + offset, sigma2 + offset)
        if not np.isfinite(covmean).all():
            raise FloatingPointError("sqrtm(Σ1Σ2) is not finite even with eps added to the diagonal")
    if np.iscomplexobj(covmean):
        imag = np.abs(covmean.imag).max()
        if imag > 1e-2 * max(np.abs(covmean.real).max(), 1e-300):
            warnings.warn(f"sqrtm(Σ1Σ2) has an imaginary component of {imag:.3g}; using its real part",
                          RuntimeWarning, stacklevel=2)
        covmean = covmean.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def embedding_stats(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (unbiased, rows = observations) of an [N, D] matrix."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be [N, D], got shape {e.shape}")
    if e.shape[0] < 2:
        raise ValueError(f"need at least 2 embedding frames for a covariance, got {e.shape[0]}")
    return e.mean(axis=0), np.atleast_2d(np.cov(e, rowvar=False))


def _frechet_from_frames(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Fréchet distance from the frames themselves, for few frames (N ≤ D).

    With A, B the centred frames scaled by 1/√(N−1) (so Σa = AᵀA, Σb = BᵀB), the non-zero
    eigenvalues of ΣaΣb are the squared singular values of A Bᵀ, hence
    tr((ΣaΣb)^½) = ||A Bᵀ||_* (nuclear norm of an [Na, Nb] matrix): no D×D square root, no eps.
    """
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    A = (a - mu_a) / np.sqrt(a.shape[0] - 1)
    B = (b - mu_b) / np.sqrt(b.shape[0] - 1)
    tr_covmean = np.linalg.svd(A @ B.T, compute_uv=False).sum()
    diff = mu_a - mu_b
    value = diff @ diff + np.sum(A * A) + np.sum(B * B) - 2.0 * tr_covmean
    return float(max(value, 0.0))


def fad(embeddings_a, embeddings_b, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two embedding matrices [Na, D], [Nb, D].

    With at least as many frames as dimensions in both sets: :func:`frechet_distance` on the
    means and covariances (scipy sqrtm). With fewer frames than dimensions in a set (a singular
    covariance, e.g. 8 aisfx blocks of 512-d), the same value is computed exactly from the frames
    (see ``_frechet_from_frames``) — much faster than a 512×512 sqrtm and free of the eps.
    """
    a = np.asarray(embeddings_a, dtype=np.float64)
    b = np.asarray(embeddings_b, dtype=np.float64)
    mu_a, s_a = embedding_stats(a)
    mu_b, s_b = embedding_stats(b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"embedding dimensions differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    if min(a.shape[0], b.shape[0]) <= a.shape[1]:
        return _frechet_from_frames(a, b)
    return frechet_distance(mu_a, s_a, mu_b, s_b, eps=eps)


def fad_report(audio_a, audio_b, embedding: "str | Embedding | None" = DEFAULT_EMBEDDING,
               sample_rate: int = INPUT_SAMPLE_RATE, eps: float = 1e-6, **embedding_kwargs) -> dict:
    """FAD between two sets of clips, with the provenance to write beside it:
    ``{"fad", "embedding", "n_clips_a", "n_clips_b", "n_frames_a", "n_frames_b", "dim"}``."""
    emb = get_embedding(embedding, **embedding_kwargs)
    clips_a, clips_b = as_clip_list(audio_a), as_clip_list(audio_b)
    ea, eb = emb.embed(clips_a, sample_rate), emb.embed(clips_b, sample_rate)
    return {"fad": fad(ea, eb, eps=eps), "embedding": emb.name,
            "n_clips_a": len(clips_a), "n_clips_b": len(clips_b),
            "n_frames_a": int(ea.shape[0]), "n_frames_b": int(eb.shape[0]), "dim": int(ea.shape[1])}


def fad_audio(audio_a, audio_b, embedding: "str | Embedding | None" = DEFAULT_EMBEDDING,
              sample_rate: int = INPUT_SAMPLE_RATE, eps: float = 1e-6, **embedding_kwargs) -> float:
    """FAD between two sets of mono clips (16 kHz by default) under ``embedding`` (a registry
    name or an Embedding). Write the value with ``get_embedding(...).name`` — or use fad_report."""
    return fad_report(audio_a, audio_b, embedding, sample_rate, eps, **embedding_kwargs)["fad"]
