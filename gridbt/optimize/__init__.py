"""Optuna studies over the sweep actors: search, walk-forward folds, overfitting statistics."""
