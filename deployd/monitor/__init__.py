"""Keeping apps up: the crash watcher, the live health monitor and the reconciler.

These watch and report; the engine's slot transitions and jobs do the acting.
"""
