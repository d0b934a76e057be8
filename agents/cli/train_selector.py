"""Fit an expert selector (agents.selector) to the oracle's decisions on a DAgger run's states.

    python scripts/train_selector.py runs/fast_dagger_top3_soft --out runs/selector_top3
    python scripts/train_selector.py decisions.npz --env-config RUN/config.json --out DIR
    python scripts/evaluate.py --preset fast --methods selector:runs/selector_top3 ...

The selector chooses, at every AL step, which expert's own selection to execute, by a
conditional logit on summaries of each expert's selection (its uncertainty, its spread over the
sub-pool, how common its predicted classes are in the labeled set), fitted to the oracle's
winners. It reads each expert's selection from the state: every oracle expert must be margin,
entropy, or a score column of the run's state (train_dagger.py --state-scores). Writes
DIR/selector.json and DIR/config.json (the run's state, which evaluate.py gives the env).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="train_selector.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        help="a train_dagger.py --out folder, or a file of imitability.py --export-decisions",
    )
    p.add_argument("--out", required=True, help="output folder (selector.json, config.json)")
    p.add_argument("--rounds", type=int, help="fit on the run's first N rounds (default: all)")
    p.add_argument(
        "--env-config",
        help="the run's config.json (default: SOURCE/config.json; needed for a file)",
    )
    p.add_argument("--l2", type=float, default=1e-2, help="L2 penalty of the conditional logit")
    args = p.parse_args(argv)
    try:
        from agents.diagnostics.decisions import oracle_decisions
    except ImportError as exc:  # the base install has no imitation: one line, what to install
        print(f"train_selector.py: error: {exc}", file=sys.stderr)
        return 2
    from agents.runs.files import read_json
    from agents.selector import SELECTOR_FILE, ExpertSelector, fit_conditional_logit

    out, source = Path(args.out), Path(args.source)
    try:  # everything that checks the input, before the fit
        for name in (SELECTOR_FILE, "config.json"):  # never a run's own config.json
            if (out / name).exists():
                raise ValueError(f"{out / name} exists; choose a new --out folder")
        if not args.l2 >= 0:
            raise ValueError(f"--l2 must be >= 0, got {args.l2}")
        config_path = Path(args.env_config) if args.env_config else source / "config.json"
        if not config_path.is_file():
            raise ValueError(
                f"no run config at {config_path}: pass --env-config with the config.json of the "
                f"train_dagger.py run whose decisions {source} holds"
            )
        config = read_json(config_path)
        decisions = oracle_decisions(source, args.rounds)
        if decisions.selections is None:
            raise ValueError(
                f"{source} holds no expert selections: either the oracle's experts "
                f"{list(decisions.experts)} cannot all be read from the run's state (a selector "
                f"needs margin, entropy or --state-scores columns), or the file was exported "
                f"by an older version (export it again with imitability.py --export-decisions)"
            )
    except (ValueError, FileExistsError) as exc:
        print(f"train_selector.py: error: {exc}", file=sys.stderr)
        return 2
    model = fit_conditional_logit(decisions.selections, decisions.winners, args.l2)
    selector = ExpertSelector(decisions.experts, decisions.selection_names, model)
    out.mkdir(parents=True, exist_ok=True)
    saved = selector.save(out)
    body = {
        "method": "selector",
        "env": config.get("env", {}),
        "selector": {
            "source": str(source),
            "rounds": args.rounds,
            "states": len(decisions.winners),
            "l2": args.l2,
        },
    }
    (out / "config.json").write_text(json.dumps(body, indent=2))
    print(f"wrote {saved} ({len(decisions.winners)} states)")
    print("| feature | weight (per standard deviation) |\n|---|---:|")
    for name, w in zip(selector.feature_names, model.weights):
        print(f"| {name} | {w:+.3f} |")
    for name, b in zip(selector.experts, model.intercepts):
        print(f"| intercept: {name} | {b:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
