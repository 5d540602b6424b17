"""Evaluation: spectral loss, FAD with offline embeddings, pitch/loudness errors, real-time factor."""
