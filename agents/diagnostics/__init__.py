"""Research diagnostics: how well the oracle can be imitated, what decides its choices, and how
much of them is the retraining's seed. Maintainer tools behind ``scripts/imitability.py`` and
``scripts/oracle_noise.py``; nothing a user of the env or the policies needs to import."""
