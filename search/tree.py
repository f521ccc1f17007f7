"""The search tree: one object of flat per-node arrays, in the order nodes were created.

    tree = Tree(strategy="beam")                  # node 0 is the root (the prompt), parent -1
    child = tree.add_node(ROOT_INDEX, "25-5=20\\n", token_count=6, logprob=-1.2, terminal=False)
    tree.answer_text(child)                       # "25-5=20\\n": the steps from the root, joined

Node `i` is the `i`-th node created; `parents[i] < i` always. Arrays are Python lists so a
search can grow the tree one node at a time; `to_dict` / `from_dict` convert to and from the
versioned JSON form (`"format": "selfplay.tree/1"`) that runs store one per line.

Per node: `visit_counts` and `value_sums` are whatever the strategy backs up (MCTS: one visit
per value backed up through the node, see `search.mcts`; other strategies: one visit per
evaluation of the node itself). `scores` holds the scorer's (reward / value model) output for
the node's path, `answer_checks` the answer-time check of a terminal node, `verdicts` the
grader's verdict (`{"passed", "score", "status"}`), set by the caller after the search.
`rollout` marks nodes sampled by MCTS rollouts (outside the search tree proper).
`tool_calls` holds, per node, the tool runs its step made (`{"tool", "input", "output",
"status", "wall_s", "start"}`, `start` the output's first character in the step's text); it
is stored only when some node has one, and a tree stored without it reads as having none.

The loop's fields (`LOOP_FIELDS`): `problem_id`, `task` and `round` in the header, `verdicts`
and `selected` per node. A search leaves them empty (None, False); the caller that owns the
problem fills them in on the tree the search returned, or takes a copy (`with_selected`). They
are plain fields rather than one `extra` mapping because the stored form, which every run's
trees files hold, places them among the search's own keys, and `to_dict` keeps that order.

Walkers other code reads the tree with: `children`, `path_nodes`, `path_to`, `answer_text`,
`leaves`, `terminals`, `graded` (the grader's verdicts), `subtree_counts` (graded and passed
answers below each node), `chosen_node`, `mean_value`, `tool_spans`, `path_logprob`.

Knows nothing about models, tokens, files or the algorithms that grow it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Sequence

FORMAT = "selfplay.tree/1"
ROOT_INDEX = 0
NO_PARENT = -1

# Per-node arrays, in the order they appear in `to_dict`.
NODE_FIELDS = ("parents", "depths", "step_texts", "token_counts", "logprobs", "priors", "visit_counts",
               "value_sums", "scores", "answer_checks", "verdicts", "finish_reasons", "terminal", "rollout",
               "chosen", "selected")


OPTIONAL_NODE_FIELDS = ("tool_calls",)  # stored only when some node has an entry
LOOP_FIELDS = ("problem_id", "task", "round", "verdicts", "selected")  # set by the round loop, never by a search


class TreeFormatError(ValueError):
    """A tree dict that this code cannot read (another format version, or inconsistent arrays)."""


@dataclass
class Tree:
    """A reasoning tree as a struct of arrays; the root (node 0) stands for the prompt."""

    strategy: str = ""
    problem_id: str | None = None
    task: str | None = None
    round: int | None = None
    parents: list[int] = field(default_factory=lambda: [NO_PARENT])
    depths: list[int] = field(default_factory=lambda: [0])  # steps from the root
    step_texts: list[str] = field(default_factory=lambda: [""])  # the step this node added
    token_counts: list[int] = field(default_factory=lambda: [0])  # policy tokens of that step
    logprobs: list[float] = field(default_factory=lambda: [0.0])  # the step's summed token log-probs
    priors: list[float] = field(default_factory=lambda: [1.0])  # search prior among its siblings
    visit_counts: list[int] = field(default_factory=lambda: [0])
    value_sums: list[float] = field(default_factory=lambda: [0.0])
    scores: list[float | None] = field(default_factory=lambda: [None])  # scorer output for the path
    answer_checks: list[float | None] = field(default_factory=lambda: [None])  # answer-time check
    verdicts: list[dict | None] = field(default_factory=lambda: [None])  # grader verdict
    finish_reasons: list[str] = field(default_factory=lambda: [""])  # why the step ended
    terminal: list[bool] = field(default_factory=lambda: [False])  # the answer ends at this node
    rollout: list[bool] = field(default_factory=lambda: [False])  # made by an MCTS rollout
    chosen: list[bool] = field(default_factory=lambda: [False])  # on the chosen answer's path
    selected: list[bool] = field(default_factory=lambda: [False])  # picked as training data
    tool_calls: list[list[dict]] = field(default_factory=lambda: [[]])  # the step's tool runs, in order
    _children: list[list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in NODE_FIELDS + OPTIONAL_NODE_FIELDS}
        if len(set(lengths.values())) != 1:
            raise TreeFormatError(f"node arrays differ in length: {lengths}")
        if not lengths["parents"] or self.parents[ROOT_INDEX] != NO_PARENT:
            raise TreeFormatError("node 0 must be the root, with parent -1")
        if any(not 0 <= parent < node for node, parent in enumerate(self.parents) if node != ROOT_INDEX):
            raise TreeFormatError("every node's parent must be an earlier node")
        self._children = [[] for _ in self.parents]
        for node, parent in enumerate(self.parents[1:], start=1):
            self._children[parent].append(node)

    # --- growing -------------------------------------------------------------------------------

    def add_node(self, parent: int, step_text: str, *, token_count: int, logprob: float, terminal: bool,
                 finish_reason: str = "", prior: float = 1.0, rollout: bool = False,
                 tool_calls: Sequence[dict] = ()) -> int:
        """Append a child of `parent` and return its index."""
        if not 0 <= parent < len(self):
            raise IndexError(f"no node {parent} in a tree of {len(self)}")
        node = len(self)
        values = {"parents": parent, "depths": self.depths[parent] + 1, "step_texts": step_text,
                  "token_counts": token_count, "logprobs": logprob, "priors": prior, "visit_counts": 0,
                  "value_sums": 0.0, "scores": None, "answer_checks": None, "verdicts": None,
                  "finish_reasons": finish_reason, "terminal": terminal, "rollout": rollout, "chosen": False,
                  "selected": False}
        for name in NODE_FIELDS:
            getattr(self, name).append(values[name])
        self.tool_calls.append([dict(call) for call in tool_calls])
        self._children[parent].append(node)
        self._children.append([])
        return node

    def set_verdict(self, node: int, passed: bool, score: float, status: str) -> None:
        """Record the grader's verdict on a terminal node."""
        self.verdicts[node] = {"passed": bool(passed), "score": float(score), "status": str(status)}

    def mark_chosen(self, node: int) -> None:
        """Flag `node` and its ancestors as the chosen answer's path (and nothing else)."""
        self.chosen = [False] * len(self)
        for on_path in self.path_nodes(node):
            self.chosen[on_path] = True

    def with_selected(self, nodes: Sequence[int]) -> Tree:
        """A copy whose `selected` flags are exactly the steps of the paths to `nodes` (the root never).

        The copy shares the other arrays with this tree; neither is changed.

        >>> tree = Tree()
        >>> step = tree.add_node(0, "a", token_count=1, logprob=0.0, terminal=False)
        >>> tree.with_selected([step]).selected, tree.selected
        ([False, True], [False, False])
        """
        flags = [False] * len(self)
        for node in nodes:
            for on_path in self.path_nodes(node)[1:]:
                flags[on_path] = True
        return replace(self, selected=flags)

    # --- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.parents)

    def children(self, node: int) -> list[int]:
        """Children of `node`, in creation order."""
        return list(self._children[node])

    def path_nodes(self, node: int) -> list[int]:
        """Nodes from the root to `node`, both included."""
        nodes = []
        while node != NO_PARENT:
            nodes.append(node)
            node = self.parents[node]
        return nodes[::-1]

    def path_to(self, node: int) -> list[str]:
        """The step texts from the root to `node` (the root's empty text left out)."""
        return [self.step_texts[on_path] for on_path in self.path_nodes(node)[1:]]

    def answer_text(self, node: int) -> str:
        """The answer written along the path to `node`: its steps joined (steps carry their delimiter)."""
        return "".join(self.path_to(node))

    def leaves(self) -> list[int]:
        """Nodes without children, in creation order."""
        return [node for node in range(len(self)) if not self._children[node]]

    def terminals(self) -> list[int]:
        """Nodes where an answer ended, in creation order."""
        return [node for node in range(len(self)) if self.terminal[node]]

    def graded(self) -> list[tuple[int, bool]]:
        """(node, passed) for each terminal node the grader gave a verdict, in creation order."""
        return [(node, bool(self.verdicts[node]["passed"])) for node in range(len(self))
                if self.terminal[node] and self.verdicts[node] is not None]

    def subtree_counts(self) -> list[tuple[int, int]]:
        """(passed, graded) terminal nodes in each node's subtree, the node included.

        >>> tree = Tree()
        >>> step = tree.add_node(0, "a", token_count=1, logprob=0.0, terminal=False)
        >>> right, wrong = (tree.add_node(step, text, token_count=1, logprob=0.0, terminal=True) for text in "bc")
        >>> tree.set_verdict(right, True, 1.0, "passed"); tree.set_verdict(wrong, False, 0.0, "wrong")
        >>> tree.subtree_counts()
        [(1, 2), (1, 2), (1, 1), (0, 1)]
        """
        passed, total = [0] * len(self), [0] * len(self)
        for node, outcome in self.graded():
            passed[node], total[node] = int(outcome), 1
        for node in range(len(self) - 1, 0, -1):  # parents[i] < i: children are summed before parents
            parent = self.parents[node]
            passed[parent] += passed[node]
            total[parent] += total[node]
        return list(zip(passed, total))

    def chosen_node(self) -> int | None:
        """The deepest node on the chosen path, or None when nothing is chosen."""
        on_path = [node for node in range(len(self)) if self.chosen[node]]
        return on_path[-1] if on_path else None

    def mean_value(self, node: int) -> float:
        """value_sum / visit_count (0 for an unvisited node)."""
        visits = self.visit_counts[node]
        return self.value_sums[node] / visits if visits else 0.0

    def tool_spans(self, node: int) -> list[tuple[int, int]]:
        """Character spans [start, end) of tool output within `answer_text(node)`, in order.

        >>> tree = Tree()
        >>> node = tree.add_node(0, "<<2+2=4>>\\n", token_count=10, logprob=0.0, terminal=True,
        ...                      tool_calls=[{"tool": "calculator", "input": "2+2", "output": "4>>", "start": 6}])
        >>> tree.tool_spans(node)
        [(6, 9)]
        """
        spans, offset = [], 0
        for on_path in self.path_nodes(node)[1:]:
            for call in self.tool_calls[on_path]:
                start = offset + int(call["start"])
                spans.append((start, start + len(call["output"])))
            offset += len(self.step_texts[on_path])
        return spans

    def path_logprob(self, node: int) -> tuple[float, int]:
        """(summed log-prob, token count) of the steps from the root to `node`."""
        nodes = self.path_nodes(node)[1:]
        return sum(self.logprobs[n] for n in nodes), sum(self.token_counts[n] for n in nodes)

    # --- the stored form -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The versioned JSON-able form: header fields, then one list per node field."""
        data = {"format": FORMAT, "problem_id": self.problem_id, "task": self.task, "round": self.round,
                "strategy": self.strategy}
        for name in NODE_FIELDS:
            values = getattr(self, name)
            data[name] = [dict(value) if isinstance(value, dict) else value for value in values]
        if any(self.tool_calls):
            data["tool_calls"] = [[dict(call) for call in calls] for calls in self.tool_calls]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Tree:
        """Read `to_dict`'s form back; refuses any other format version."""
        version = data.get("format") if isinstance(data, dict) else None
        if version != FORMAT:
            raise TreeFormatError(f"tree format {version!r} is not supported: this code reads {FORMAT!r}")
        known = {f.name for f in fields(cls) if not f.name.startswith("_")} | {"format"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TreeFormatError(f"unknown tree fields: {unknown}")
        missing = [name for name in NODE_FIELDS if name not in data]
        if missing:
            raise TreeFormatError(f"tree is missing node fields: {missing}")
        arrays = {name: [dict(v) if isinstance(v, dict) else v for v in data[name]] for name in NODE_FIELDS}
        return cls(strategy=data.get("strategy", ""), problem_id=data.get("problem_id"), task=data.get("task"),
                   round=data.get("round"), tool_calls=_read_tool_calls(data, len(arrays["parents"])), **arrays)


def _read_tool_calls(data: dict, node_count: int) -> list[list[dict]]:
    """The stored per-node tool calls; a tree written before they were recorded has none."""
    stored = data.get("tool_calls")
    if stored is None:
        return [[] for _ in range(node_count)]
    if not isinstance(stored, list) or not all(
            isinstance(calls, list) and all(isinstance(call, dict) and "output" in call and "start" in call
                                            for call in calls) for calls in stored):
        raise TreeFormatError("tool_calls must hold, per node, a list of calls with an output and a start")
    return [[dict(call) for call in calls] for calls in stored]

