"""Record one active-learning episode as an animated GIF: what was picked, step by step.

    python scripts/record_episode.py --preset cpu --dataset FashionMNIST --method mc_dropout \
        --out runs/episode.gif
    python scripts/record_episode.py --preset cpu --method iale:runs/cpu/iale --show-oracle \
        --out runs/iale.gif

Each frame is the env's ``render()``: the candidates of the step just taken, outlined green
where the method labeled them (and orange where the best-expert oracle would have, with
``--show-oracle``, which runs the oracle at every step), the labeled set's class histogram and
the test-accuracy curve so far. Methods are named as in evaluate.py (a heuristic, ``oracle`` or
FAMILY:PATH of a trained policy).
"""

from __future__ import annotations

import argparse
import sys

from agents.cli.common import add_device_flags, add_env_flags, env_config, resolve
from iale_env.protocols import PROTOCOLS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="record_episode.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PROTOCOLS), default="cpu")
    p.add_argument("--dataset", default="MNIST")
    p.add_argument("--method", default="random", help="a heuristic, oracle, or FAMILY:PATH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show-oracle", action="store_true", help="outline the oracle's picks too")
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--out", default="episode.gif", help="the GIF to write")
    add_env_flags(p)
    add_device_flags(p, precision=False)
    args = p.parse_args(argv)
    settings = resolve(PROTOCOLS[args.preset].al_config(), args)
    try:
        from PIL import Image

        from agents.evaluation import make_selector, parse_method, policy_env_overrides
        from iale_env import ActiveLearningEnv, DatasetNotFoundError

        spec = parse_method(args.method)
        cfg = env_config(settings, args).replace(dataset=args.dataset, **policy_env_overrides(spec))
        env = ActiveLearningEnv(cfg, render_mode="rgb_array")
        select = make_selector(spec, env, args.device)
        obs, _ = env.reset(seed=args.seed)
        frames, done = [env.render()], False
        while not done:
            if args.show_oracle:
                env.oracle_action()
            kind, value = select(env, obs)
            step = env.step_indices if kind == "indices" else env.step
            obs, _, done, _, _ = step(value)
            frames.append(env.render())
    except (ValueError, DatasetNotFoundError) as exc:
        print(f"record_episode.py: error: {exc}", file=sys.stderr)
        return 2
    images = [Image.fromarray(f) for f in frames]
    duration = int(1000 / args.fps)
    images[0].save(args.out, save_all=True, append_images=images[1:], duration=duration, loop=0)
    print(f"wrote {args.out} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
