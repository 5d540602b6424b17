"""Data for DDX7: rendered expressive corpus, URMP stems, your own recordings.

Reading a built dataset::

    from ddx7.data import load_split, load_manifest
    d = load_split("quick", "violin", "train")        # root="data"
    d["audio"]        # float32 [N, 64000]   4 s at 16 kHz
    d["f0_hz"]        # float32 [N, 1000]    hop 64, centred frames
    d["loudness_db"]  # float32 [N, 1000]
    d["periodicity"]  # float32 [N, 1000]
    d["manifest_hash"]  # identifies the dataset in every result

Training reads the train and valid splits this way (:func:`ddx7.train.load_dataset`, into
``ddx7.train.Split`` tensors), evaluation the test split. ``ExcerptDataset`` wraps a split as a
torch ``Dataset`` for your own training loops; ddx7's training does not use it.

Features of any audio (resynthesis, evaluation)::

    from ddx7.data.features import extract_f0, loudness_db
    f0, periodicity = extract_f0(audio, method="tiny")   # [..., n // 64] each
    ld = loudness_db(audio)                               # [..., n // 64]

Building: ``ddx7 data build --profile quick`` (see :mod:`ddx7.data.build`), ``ddx7 data urmp``,
``ddx7 data folder``; in Python ``build_profile``, ``build_urmp``, ``build_folder``,
``ensure_built``. The rendered corpus: :mod:`ddx7.data.render` (pieces in ``catalog.yaml``).
"""

from .dataset import ExcerptDataset, dataset_dir, load_manifest, load_split
from .errors import DataError
from .instruments import INSTRUMENTS

__all__ = ["DataError", "INSTRUMENTS", "ExcerptDataset", "dataset_dir", "load_manifest",
           "load_split", "build_profile", "build_urmp", "build_folder", "ensure_built",
           "PROFILES"]


def __getattr__(name):  # lazy: readers of datasets (training, evaluation) need none of the builders
    if name in ("build_profile", "ensure_built", "PROFILES"):
        from . import build

        return getattr(build, name)
    if name == "build_urmp":
        from .urmp import build_urmp

        return build_urmp
    if name == "build_folder":
        from .folder import build_folder

        return build_folder
    raise AttributeError(name)
