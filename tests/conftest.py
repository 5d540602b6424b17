import torch

import ddx7  # noqa: F401  (first: it sets numba's CPU target before any test imports librosa)

# One intra-op thread: on a 2-core machine shared with other jobs, torch's default of two threads
# makes small-tensor tests many times slower (spinning threads); results do not depend on it.
torch.set_num_threads(1)
