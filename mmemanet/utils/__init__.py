"""Utilities that are neither models nor engine parts. ``python -m mmemanet.utils.collect_env`` prints
the environment report that bug reports ask for (:func:`mmemanet.utils.collect_env.collect_env`)."""
