"""The worked examples in module and function docstrings run, so they stay true."""
import doctest
import importlib

import pytest

MODULES = ["search.tree", "selfplay.loop.selection", "selfplay.loop.finetune", "selfplay.loop.curriculum",
           "selfplay.tools.calculator", "selfplay.tools.toolbox", "selfplay.tools.catalog", "selfplay.tools.spans",
           "selfplay.runfiles.config_files", "selfplay.builtin_model.corpus", "selfplay.tasks.traces",
           "selfplay.tasks.countdown.traces", "verifiers.countdown", "selfplay.tasks.sources"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
