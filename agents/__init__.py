"""Agents for IALE-Gym and the harness that benchmarks them.

Each module has one job; import from it directly:

- :mod:`agents.policy`: the IALE policy network (``IALEPolicy``, ``load_policy``);
- :mod:`agents.pretrained`: policies that ship with the package (``load_pretrained``);
- :mod:`agents.oracle`: the best-expert oracle as an expert policy (``BestExpertOracle``);
- :mod:`agents.dagger`: DAgger training on ``imitation`` (``DAggerConfig``, ``train_dagger``);
- :mod:`agents.alil`, :mod:`agents.rl`: ALIL and stable-baselines3 PPO/A2C on the same env;
- :mod:`agents.evaluation`: paired learning-curve sweeps, statistics, plots and reports;
- :mod:`agents.cli`: the command-line programs (``iale-*``, ``scripts/*.py``).
"""
