"""Utilities that are neither models nor engine parts: the environment report."""
from .collect_env import collect_env

__all__ = ['collect_env']
