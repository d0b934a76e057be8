"""Fit an IALE policy to a value teacher's targets (scripts/collect_values.py folders).

    python scripts/train_value.py runs/values_a runs/values_b --out runs/value_policy
    python scripts/evaluate.py --preset fast --methods value=iale:runs/value_policy/policy.zip ...

The policy's score of a candidate is regressed as its additive share of the retrained
accuracy of the selections measured at each state (centred over the state's selections); its
deterministic action is the top-k of those shares. The last --heldout-episodes episodes (by
seed) are left out of the fit and scored after every epoch: the squared error, the
within-state correlation with the measured values, and the measured value of the selection the
policy rates best. Writes OUT/policy.zip, OUT/log.csv (one row per epoch) and OUT/config.json
(the folders' env, which evaluate.py gives the policy's env, and the fit's settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from agents.sources import load_source
    from agents.values.fit import ValueFitConfig
    from iale_env import ALConfig, DatasetNotFoundError  # named by the except
    from iale_env.classifier import classifier_spec

    defaults = ValueFitConfig()
    p = argparse.ArgumentParser(
        prog="train_value.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", help="collect_values.py --out folders")
    p.add_argument("--out", required=True, help="output folder (policy.zip, log.csv, config.json)")
    p.add_argument("--view", default=defaults.view, help="the policy's input view")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-states", type=int, default=defaults.batch_states)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    p.add_argument("--hidden-dim", type=int, default=defaults.hidden_dim)
    p.add_argument("--heldout-episodes", type=int, default=defaults.heldout_episodes)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--folds",
        type=int,
        help="first cross-validate over the episodes (every K-th held out in turn) and write "
        "the folds' mean held-out scores per epoch to OUT/cv.csv",
    )
    p.add_argument(
        "--data-dir",
        help="data root of the folders' dataset, read for its classes and image shape "
        "(default: $IALE_DATA_DIR or a cache folder)",
    )
    args = p.parse_args(argv)
    try:  # everything that checks the input, before the fit
        from agents.policy.views import VIEWS

        if args.view not in VIEWS:
            raise ValueError(f"--view must be one of {', '.join(VIEWS)}, got {args.view!r}")
        config = ValueFitConfig(
            view=args.view,
            hidden_dim=args.hidden_dim,
            epochs=args.epochs,
            batch_states=args.batch_states,
            lr=args.lr,
            weight_decay=args.weight_decay,
            heldout_episodes=args.heldout_episodes,
            seed=args.seed,
        )
        out = Path(args.out)
        for name in ("policy.zip", "log.csv", "cv.csv", "config.json"):  # never overwrite
            if (out / name).exists():
                raise ValueError(f"{out / name} exists; choose a new --out folder")
        from agents.values.folders import read_collections

        read = read_collections([Path(s) for s in args.sources])
        env, sampling, files = read.env, read.sampling, read.files
        if args.heldout_episodes >= len(files):
            raise ValueError(
                f"--heldout-episodes {args.heldout_episodes} leaves none of the folders' "
                f"{len(files)} episodes to fit; hold out fewer (0 fits on all)"
            )
        if args.folds is not None and not 2 <= args.folds <= len(files):
            raise ValueError(
                f"--folds must be in [2, {len(files)}] (the folders' episodes), got {args.folds}"
            )
        al = ALConfig(**{k: v for k, v in env.items() if k in _al_fields()}, data_dir=args.data_dir)
        data = load_source(al.dataset, al.data_dir)  # its image shape and classes
    except (ValueError, DatasetNotFoundError) as exc:
        print(f"train_value.py: error: {exc}", file=sys.stderr)
        return 2
    from agents.runs.files import rewrite_csv
    from agents.runs.write_errors import write_atomically
    from agents.values.collect import EpisodeValues
    from agents.values.fit import (
        LOG_FIELDS,
        StateTargets,
        cross_validate,
        fit_value_policy,
        new_value_policy,
    )

    spec = classifier_spec(al.classifier, data.image_shape, data.num_classes)
    targets = StateTargets.of([EpisodeValues.load(f) for f in files])

    def new_policy():
        return new_value_policy(
            targets.obs.shape[1:],
            al.acquisition_size,
            spec.num_classes,
            spec.embedding_dim,
            len(al.state_scores),
            config,
        )

    out.mkdir(parents=True, exist_ok=True)
    if args.folds:
        cv = cross_validate(targets, config, args.folds, new_policy)
        rewrite_csv(out / "cv.csv", LOG_FIELDS, cv)
        print(f"wrote {out / 'cv.csv'} ({args.folds} folds)")
    policy = new_policy()
    log = fit_value_policy(policy, targets, config)
    rewrite_csv(out / "log.csv", LOG_FIELDS, log)
    body = {
        "method": "value",
        "env": env,
        "value_fit": dataclasses.asdict(config),
        "folds": args.folds,
        "sampling": sampling,
        "sources": [str(s) for s in args.sources],
        "episodes": [str(f) for f in files],  # paths: folders may share episode seeds
    }
    survives = "no policy.zip was written; fit again into a new --out"
    write_atomically(
        out / "config.json", lambda t: t.write_text(json.dumps(body, indent=2)), survives
    )
    # the policy last: a policy.zip in --out always has its config.json beside it
    write_atomically(
        out / "policy.zip", lambda t: policy.save(str(t)), survives, tmp_suffix=".tmp.zip"
    )
    last = log[-1]
    print(
        f"wrote {out / 'policy.zip'}: {len(files)} episodes, {len(targets.values)} states; "
        + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "epoch")
    )
    return 0


def _al_fields() -> set[str]:
    import dataclasses as dc

    from iale_env import ALConfig

    return {f.name for f in dc.fields(ALConfig)}
