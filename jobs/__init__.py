"""Thin entry points that `ray job submit` runs; they only wire config to `selfplay`."""
