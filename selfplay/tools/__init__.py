"""Tools the policy calls mid-answer: a calculator and a sandboxed Python interpreter."""
from selfplay.tools.toolbox import TOOL_NAMES, Calculator, Tool, ToolCall, Toolbox, parse_tool_names

__all__ = ["TOOL_NAMES", "Calculator", "Tool", "ToolCall", "Toolbox", "parse_tool_names"]
