"""Exceptions raised by the data pipeline."""


class DataError(ValueError):
    """Bad input for the data pipeline: the message names the file, piece or setting at fault.

    Builders catch it per file or per piece, record it under ``skipped`` in the manifest and go on
    with the rest; it only stops a build when nothing usable is left (or the input as a whole is
    wrong: unknown instrument, missing soundfont or fluidsynth, URMP root without stems).
    """
