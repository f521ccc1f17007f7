"""Tree search over reasoning steps. Pure: no model, file or Ray inside."""
