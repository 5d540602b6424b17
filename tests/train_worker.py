"""Run by test_train.py in a subprocess (plain or under torchrun): train a tiny run on a saved dataset."""

import sys
from pathlib import Path

import torch

from ddx7.runs import run_config
from ddx7.train import Dataset, Split, Trainer

data_file, out_dir, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
arrays = torch.load(data_file)
dataset = Dataset(Split(**arrays["train"]), Split(**arrays["valid"]), "test-manifest")
cfg = run_config("violin-2osc-imax2", "smoke")
cfg["train"].update(steps=steps, batch_size=2, excerpt_frames=40, valid_every=4, checkpoint_every=2, log_every=1)
trainer = Trainer(cfg, dataset, out_dir, device="cpu", threads=1, progress=False)
trainer.resume()
summary = trainer.run()
torch.save(trainer.model.state_dict(), out_dir / f"weights_rank{trainer.rank}.pt")
print(summary)
