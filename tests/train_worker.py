"""Run by test_train.py and test_checkpoint_safety.py in a subprocess (plain or under torchrun): train a
tiny run on a saved dataset, resuming from the run directory if it holds a checkpoint.

    train_worker.py DATA OUT_DIR STEPS

Fault injection (test code only; the product never signals itself), through environment variables:

``DDX7_TEST_KILL_AT_STEP=N``
    SIGKILL once N steps are done (their checkpoint included): just before step N+1 begins.
``DDX7_TEST_SIGINT_AT_STEP=N``
    Send ourselves SIGINT (Ctrl-C) during step N, as a user would.
``DDX7_TEST_KILL_AT_WRITE=K:PHASE``
    SIGKILL at the K-th rename of a run file (last.pt, best.pt, log.csv) into OUT_DIR. PHASE ``mid``:
    the temporary file is cut to 0 bytes first (a kill while writing it); ``before``: the temporary
    file is complete but not renamed; ``after``: right after the rename. ``os.replace`` is wrapped, as
    every atomic writer of the run files ends with it, whichever version of ddx7 writes them.

The last line printed is the run summary as JSON.
"""

import json
import os
import signal
import sys
from pathlib import Path

import torch

from ddx7.runs import run_config
from ddx7.train import Dataset, Split, Trainer

RUN_FILES = ("last.pt", "best.pt", "log.csv")


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def inject_faults(out_dir: Path):
    kill_step = int(os.environ.get("DDX7_TEST_KILL_AT_STEP", "0"))
    sigint_step = int(os.environ.get("DDX7_TEST_SIGINT_AT_STEP", "0"))
    if kill_step or sigint_step:
        train_step = Trainer.train_step

        def faulty_train_step(self):
            if kill_step and self.step == kill_step:  # kill_step steps done and checkpointed as the trainer would
                die()
            loss = train_step(self)
            if sigint_step and self.step + 1 == sigint_step:  # the Ctrl-C arrives while step sigint_step runs
                os.kill(os.getpid(), signal.SIGINT)
            return loss

        Trainer.train_step = faulty_train_step

    kill_write = os.environ.get("DDX7_TEST_KILL_AT_WRITE")
    if kill_write:
        index, phase = kill_write.split(":")
        index = int(index)
        assert phase in ("mid", "before", "after"), phase
        replace, seen = os.replace, [0]

        def faulty_replace(src, dst, *args, **kwargs):
            dst_path = Path(dst)
            if dst_path.parent.resolve() != out_dir.resolve() or dst_path.name not in RUN_FILES:
                return replace(src, dst, *args, **kwargs)
            seen[0] += 1
            if seen[0] == index:
                if phase == "mid":
                    os.truncate(src, 0)
                if phase in ("mid", "before"):
                    die()
                replace(src, dst, *args, **kwargs)
                die()
            return replace(src, dst, *args, **kwargs)

        os.replace = faulty_replace


def make_trainer(data_file, out_dir, steps: int) -> Trainer:
    """The worker's tiny run (tests may also resume it in their own process, faster than a subprocess)."""
    arrays = torch.load(data_file)
    dataset = Dataset(Split(**arrays["train"]), Split(**arrays["valid"]), "test-manifest")
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=steps, batch_size=2, excerpt_frames=40, valid_every=4, checkpoint_every=2, log_every=1)
    return Trainer(cfg, dataset, Path(out_dir), device="cpu", threads=1, progress=False)


def main():
    data_file, out_dir, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    inject_faults(out_dir)
    trainer = make_trainer(data_file, out_dir, steps)
    trainer.resume()
    summary = trainer.run()
    torch.save(trainer.model.state_dict(), out_dir / f"weights_rank{trainer.rank}.pt")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
