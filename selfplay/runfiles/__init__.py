"""A run's settings and files: `runconfig` (`RunConfig`, presets and overrides), `rundir` (the
layout, atomic writers, the lock), `treeio` (the trees files), `runread` (reading a run back),
`export` (its data as jsonl / parquet) and `tracking` (metrics to a tracker, progress.png).

Knows files, tasks and prompt formats; nothing about models' weights, search or Ray.
"""
