"""How often bf16 inference changes the best-expert oracle's decision.

Two envs with the same settings but ``inference_precision`` fp32 and bf16 follow one random
episode (the same seed and picks, so they see the same states: training is fp32 in both); at
every state both oracles decide, and the script prints how often the winner and the selection
differ, and the largest gap between the two precisions' scoring-set accuracies.

    python scripts/bf16_oracle_agreement.py --preset cpu --dataset FashionMNIST --seeds 0,1
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from iale_env import ActiveLearningEnv, ALConfig
from iale_env.protocols import PROTOCOLS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", choices=sorted(PROTOCOLS), default="cpu")
    p.add_argument("--dataset", default="FashionMNIST")
    p.add_argument("--data-dir")
    p.add_argument("--seeds", default="0")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    base = ALConfig(
        dataset=args.dataset, data_dir=args.data_dir, **PROTOCOLS[args.preset].al_config()
    )
    states = winners = selections = 0
    gap = 0.0
    for seed in (int(s) for s in args.seeds.split(",")):
        exact = ActiveLearningEnv(base)
        approx = ActiveLearningEnv(base.replace(inference_precision="bf16"))
        exact.reset(seed=seed)
        approx.reset(seed=seed)
        done = False
        while not done:
            assert np.array_equal(exact.subpool_indices, approx.subpool_indices)
            a, b = exact.oracle_action(), approx.oracle_action()
            da, db = exact.last_oracle, approx.last_oracle
            states += 1
            winners += da.winner != db.winner
            selections += not np.array_equal(a, b)
            gap = max(gap, *(abs(da.scores[n] - db.scores[n]) for n in da.scores))
            action = exact.expert_action("random")
            done = exact.step(action)[2]
            approx.step(action)
    print(
        f"{args.preset} protocol, {args.dataset}, seeds {args.seeds}: {states} states; bf16 "
        f"changed the winner at {winners} ({winners / states:.1%}) and the selection at "
        f"{selections} ({selections / states:.1%}); largest scoring-accuracy gap {gap:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
