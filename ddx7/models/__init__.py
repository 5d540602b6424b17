"""Models: the TCN decoder, the learnable reverb, DDX7 and the HpN baseline."""

from .ddx7 import DDX7, HpN, build_model, count_parameters
from .reverb import Reverb, fft_convolve
from .tcn import InputScaling, TCNDecoder

__all__ = ["DDX7", "HpN", "build_model", "count_parameters", "Reverb", "fft_convolve", "TCNDecoder",
           "InputScaling"]
