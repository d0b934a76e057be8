"""Score a fitted value policy's choices on a value teacher's targets of any source.

    python scripts/score_value.py results/fast/value/fast_value_48 runs/values_kmnist \
        --out runs/score_kmnist

For every state of the folders' episodes (``scripts/collect_values.py --out`` folders, of any
dataset, usually one the policy was not fitted on): the measured value, in percentage points of
scoring accuracy over the state's mean selection, of the selection the policy rates best (what
``pick:PATH`` executes), of the expert's selection it rates best (``choice:PATH``), of each
expert's own selection and of the best measured one (:mod:`agents.values.report`). Writes
OUT/states.csv (one row per state), OUT/scores.csv and OUT/scores.md (means ± 95% intervals
over episodes) and OUT/config.json (the policy, its digest, the folders and episodes); prints
the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

#: The files score_value.py writes in --out.
OUTPUTS = ("states.csv", "scores.csv", "scores.md", "config.json")

#: The env settings that shape the state a policy reads: a fit and the scored folders share them.
STATE_KEYS = (
    "subpool_size",
    "acquisition_size",
    "state_scores",
    "subpool_mean_embedding",
    "classifier",
    "experts",
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="score_value.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("fit", help="a train_value.py --out folder (policy.zip, config.json)")
    p.add_argument("sources", nargs="+", help="collect_values.py --out folders to score it on")
    p.add_argument(
        "--out",
        required=True,
        help="output folder (states.csv, scores.csv, scores.md, config.json)",
    )
    args = p.parse_args(argv)
    try:  # everything that checks the input, before the policy is scored
        from agents.evaluation.methods import proposal_sampling
        from agents.policy import load_policy
        from agents.runs.files import read_json
        from agents.values.folders import read_collections

        fit, out = Path(args.fit), Path(args.out)
        config = fit / "config.json"
        if not (fit / "policy.zip").is_file() or not config.is_file():
            raise ValueError(f"{fit} holds no policy.zip and config.json of train_value.py")
        fitted = read_json(config)
        if fitted.get("method") != "value" or "env" not in fitted:
            raise ValueError(
                f"{config} is not a train_value.py fit (method {fitted.get('method')!r})"
            )
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; choose a new folder")
        for name in OUTPUTS:  # never overwrite
            if (out / name).exists():
                raise ValueError(f"{out / name} exists; choose a new --out folder")
        sources = [Path(s) for s in args.sources]
        if len({s.resolve() for s in sources}) < len(sources):
            raise ValueError("a folder is given twice; give each collection once")
        read = read_collections(sources)
        env, files = read.env, read.files
        if len(set(read.datasets)) > 1:
            raise ValueError(
                f"the folders hold different datasets ({', '.join(read.datasets)}); score "
                "each dataset on its own"
            )
        seeds = [f.name for f in files]
        if len(set(seeds)) < len(seeds):
            raise ValueError(
                "two folders hold episodes of the same seed (the same episode twice); give "
                "each episode once"
            )
        changed = [k for k in STATE_KEYS if env.get(k) != fitted["env"].get(k)]
        if changed:
            raise ValueError(
                f"the folders were collected with another state or experts than {fit} was "
                f"fitted on ({', '.join(changed)}); collect them with the fit's settings"
            )
        drawn = dataclasses.asdict(proposal_sampling(fit / "policy.zip"))  # as pick: checks it
        if read.sampling != drawn:
            raise ValueError(
                f"the folders drew their proposals with {read.sampling}, {fit} was fitted to "
                f"proposals drawn with {drawn}: the pick would not be what "
                "pick:PATH executes; collect with the fit's --batches, --keep and "
                "--proposal-seed"
            )
        policy = load_policy(str(fit / "policy.zip"))
    except ValueError as exc:
        print(f"score_value.py: error: {exc}", file=sys.stderr)
        return 2
    from agents.evaluation.sweep_files import file_digest
    from agents.runs.files import rewrite_csv
    from agents.values.collect import EpisodeValues
    from agents.values.report import (
        STATE_FIELDS,
        report_markdown,
        state_report,
        summarize_report,
    )

    policy.eval()
    episodes = [EpisodeValues.load(f) for f in files]
    rows = state_report(policy, episodes, [str(f) for f in files])
    summary = summarize_report(rows)
    out.mkdir(parents=True, exist_ok=True)
    fields = [*STATE_FIELDS, *(k for k in rows[0] if k.startswith("value_"))]
    rewrite_csv(out / "states.csv", fields, rows)
    rewrite_csv(out / "scores.csv", ("quantity", "mean", "ci", "episodes"), summary)
    table = report_markdown(summary, f"{fit.name} on {env.get('dataset')}")
    (out / "scores.md").write_text(table)
    body = {
        "method": "score_value",
        "fit": str(fit),
        "policy_sha256": file_digest(fit / "policy.zip"),
        "dataset": env.get("dataset"),
        "sources": [str(s) for s in args.sources],
        "sources_env": env,
        "sampling": read.sampling,
        "episodes": [str(f) for f in files],
    }
    (out / "config.json").write_text(json.dumps(body, indent=2))
    print(f"{len(rows)} states of {len(files)} episodes\n{table}")
    print(f"wrote {', '.join(str(out / name) for name in OUTPUTS)}")
    return 0
