"""The tools by name: what `tools: calculator,python` in a config, `--tools` on `lab eval`, or a
model's declared `selfplay_tools` switch on.

    >>> make_toolbox(["calculator"]).names
    ['calculator']

This module imports every tool module; the tool modules import `selfplay.tools.toolbox` (the
call record and the protocol), never this one. Knows nothing about models beyond the `tools`
attribute a policy carries.
"""
from __future__ import annotations

from collections.abc import Iterable

from selfplay.tools.python import PythonTool
from selfplay.tools.toolbox import TOOL_NAMES, Calculator, Tool, Toolbox, parse_tool_names

MAKERS = {"calculator": Calculator, "python": PythonTool}  # every name of TOOL_NAMES


def make_toolbox(names: Iterable[str]) -> Toolbox:
    """Tools by name (`calculator`, `python`); unknown names are an error that lists the known ones."""
    tools: list[Tool] = []
    for name in dict.fromkeys(names):
        if name not in MAKERS:
            raise ValueError(f"unknown tool {name!r}; expected some of {', '.join(TOOL_NAMES)}")
        tools.append(MAKERS[name]())
    return Toolbox(tools)


def apply_tools(policy, spec: str) -> None:
    """Set `policy.tools` from a config value: "auto" keeps what the model declared when loaded,
    "none" switches tools off, "calculator,python" switches those on."""
    if spec == "auto":
        policy.tools = getattr(policy, "declared_tools", policy.tools)
        return
    names = parse_tool_names(spec)
    if (policy.tools.names if policy.tools is not None else []) == names:
        return  # already so: called once per sampled problem, it builds nothing anew
    policy.tools = make_toolbox(names) if names else None
