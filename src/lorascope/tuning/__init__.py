"""Hyperparameter search before a study's runs: Optuna TPE with median pruning, per task × method.

Modules: ``config`` (the study file's ``tune:`` section), ``units`` (what is searched), ``storage``
(journal file or database, and the lock that keeps the trial budget exact), ``search`` (a worker),
``results`` (best.yaml, trials.csv, figures, summary.json, and the final phase's tuned values).
"""
