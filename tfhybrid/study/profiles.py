"""Budgets of the study: how large the benchmark is and how long each run trains.

`cpu` is the study's profile on CPUs, chosen from learning curves (docs/results.md): a 4x larger
benchmark, a studio pre-training per input kind, 3,000 steps in mixed_bfloat16, two runs side by
side on a 2-core machine. `cpu_long` is `cpu` on 6,000 steps, the schedule whose learning curve
flattened (docs/results.md); it shares `cpu`'s study folder, so its benchmark and pre-trainings
(whose flags are the same) are `cpu`'s and only its runs are new. `tiny` is the first study's
profile (1,200 steps, no pre-training; its learner had not converged; kept for
docs/results-tiny.md). `paper` is the paper's recipe for GPUs
(DCT starts every run from a pre-trained checkpoint; here each input kind is first pre-trained on
the studio set), `micro` trains a handful of steps for tests.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    world_num: int            # images rendered per dataset
    world_size: int           # rendered image side in pixels
    crop_size: int            # converted crop side (records)
    train: dict               # training configuration shared by every run (RunConfig flat entries)
    mixture: tuple            # (dataset, weight) of the training batches
    parallel_runs_per_gpu: bool   # one run per GPU (small models) or each run mirrored over all GPUs
    pretrain_steps: int = 0       # steps of studio pre-training (3D + 2D on h36m) that start every run
    runtime: dict = dataclasses.field(default_factory=dict)   # RuntimeOptions flags (not part of a run's identity)
    cpu_slots: int = 1            # runs side by side on a machine without GPUs (each with its share of the cores)
    folder: str = ""              # the study folder out/study/<folder> (default: the name); shared with a profile
                                  # of the same benchmark and pre-training, the runs apart (their hashes differ)

    @property
    def study_folder(self):
        return self.folder or self.name


# DCT's Table-3 recipes: UP-3D and Human3.6M, half of each batch; COCO-like data serves DKD evaluation.
_MIXTURE = (("up-3d", 0.5), ("h36m", 0.5))
_CPU = dict(world_num=4096, world_size=128, crop_size=64, mixture=_MIXTURE, parallel_runs_per_gpu=True,
            pretrain_steps=2000, runtime={"checkpoint_every": 500, "log_every": 100, "validate_every": 500},
            cpu_slots=2)
_CPU_TRAIN = {"main_depth": 18, "aux_depth": 18, "input_size": 64, "batch_size": 32, "steps": 3000,
              "steps_per_epoch": 250, "learning_rate": 3e-4, "precision": "mixed_bfloat16"}

PROFILES = {
    "micro": Profile("micro", world_num=24, world_size=96, crop_size=32, mixture=_MIXTURE,
                     parallel_runs_per_gpu=True, pretrain_steps=2,
                     train={"main_depth": 18, "aux_depth": 18, "input_size": 32, "batch_size": 4, "steps": 3,
                            "steps_per_epoch": 3, "learning_rate": 3e-4},
                     runtime={"checkpoint_every": 3, "log_every": 3, "validate_every": 3}),
    "tiny": Profile("tiny", world_num=1024, world_size=128, crop_size=64, mixture=_MIXTURE,
                    parallel_runs_per_gpu=True,
                    train={"main_depth": 18, "aux_depth": 18, "input_size": 64, "batch_size": 32, "steps": 1200,
                           "steps_per_epoch": 100, "learning_rate": 3e-4},
                    runtime={"checkpoint_every": 500, "log_every": 100}),
    "cpu": Profile("cpu", train=_CPU_TRAIN, **_CPU),
    "cpu_long": Profile("cpu_long", train={**_CPU_TRAIN, "steps": 6000}, folder="cpu", **_CPU),
    "paper": Profile("paper", world_num=8000, world_size=320, crop_size=224,
                     mixture=_MIXTURE, parallel_runs_per_gpu=False,
                     pretrain_steps=10000,
                     train={"main_depth": 50, "aux_depth": 18, "input_size": 224, "batch_size": 64, "steps": 20000,
                            "steps_per_epoch": 1000, "learning_rate": 1e-4},
                     runtime={"checkpoint_every": 1000, "log_every": 100}),
}


def get(name):
    if name not in PROFILES:
        raise ValueError(f"unknown study profile {name!r}; expected one of {sorted(PROFILES)}")
    return PROFILES[name]
