"""The folders ``scripts/collect_values.py`` writes, read back for fitting or scoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.runs.files import read_json
from agents.values.collect import EPISODE_NAME, finished_episodes

#: The folder of per-episode files in a collection's ``--out``.
VALUES_DIR = "values"

#: Env settings that may differ between collections fitted or scored together.
FREE_SETTINGS = frozenset(
    {"dataset", "device", "deterministic", "precision", "fit_mode", "cuda_graphs"}
)


@dataclass(frozen=True)
class Collections:
    """Several collections read together.

    Attributes:
        env: The env settings they share (the first folder's).
        sampling: Their proposals' ``sampling`` (``None`` where the folders drew them
            differently, or a folder did not record it).
        files: Their finished episodes' files, by episode seed.
        datasets: Each folder's dataset (or other source), in the folders' order.
    """

    env: dict[str, Any]
    sampling: dict[str, Any] | None
    files: list[Path]
    datasets: tuple[str, ...]


def read_collections(folders: list[Path]) -> Collections:
    """Read and check ``folders`` (``collect_values.py --out`` folders).

    Raises:
        ValueError: a folder is not a finished collection, or the folders differ in their env
            (another protocol, dataset's state or experts).
    """
    envs, samplings, files = [], [], []
    for folder in folders:
        config = folder / "config.json"
        body = read_json(config) if config.is_file() else {}
        episodes = finished_episodes(folder / VALUES_DIR)
        if body.get("method") != "value_targets":
            raise ValueError(
                f"{folder} is not a collect_values.py --out folder (no collect_values.py "
                "config.json in it)"
            )
        if not episodes:
            raise ValueError(f"{folder} holds no finished episode; run collect_values.py first")
        envs.append(body["env"])
        samplings.append(body.get("sampling"))
        files += episodes
    first = {k: v for k, v in envs[0].items() if k not in FREE_SETTINGS}
    for folder, env in zip(folders[1:], envs[1:]):
        changed = sorted(k for k in first if env.get(k) != first[k])
        if changed:
            raise ValueError(
                f"{folder} was collected with other env settings than {folders[0]} "
                f"({', '.join(changed)}); fit folders of one protocol together"
            )
    files.sort(key=lambda f: int(EPISODE_NAME.match(f.name)[1]))  # type: ignore[index]
    sampling = samplings[0] if all(s == samplings[0] for s in samplings) else None
    return Collections(envs[0], sampling, files, tuple(str(e.get("dataset")) for e in envs))
