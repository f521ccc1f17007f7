"""Tree search over reasoning steps. Pure: no model, file or Ray inside.

    from search import STRATEGIES, Budget, SearchConfig
    result = STRATEGIES["mcts"](policy, prompt_text, SearchConfig(), seed=0,
                                budget=Budget.from_answers(16, tokens_per_answer=120),
                                scorer=None, answer_check=check)
    result.answer_text, result.tokens, result.tree.to_dict()

Every strategy has the same signature, `(policy, prompt_text, config, *, seed, budget=None,
scorer=None, answer_check=None, answer_key=None) -> SearchResult`, and ignores the arguments
it has no use for (only `majority` reads `answer_key`, and requires it). `STRATEGIES` (in
`search.strategies`) is the one list of names: each maps to a callable `Strategy` whose `kind`
(greedy, sampling or search) says how it answers; callers derive their names from it.
"""
from search.beam import beam
from search.budget import MAX_ANSWERS, Budget, BudgetTooSmall, TokenMeter, expand_cost_bound
from search.config import SearchConfig, check_overrides
from search.mcts import choose_answer, mcts
from search.protocols import AnswerCheck, AnswerKey, PolicyState, PolicyStep, Scorer, StepPolicy, UsageCounter
from search.run import SearchResult, SearchRun
from search.sampling import best_of_n, greedy, majority, sample
from search.seeds import derive_seed
from search.choice_math import best_index, majority_vote, mean_token_probability, puct_score, sibling_priors
from search.strategies import GREEDY, KINDS, SAMPLING, SEARCH, STRATEGIES, Strategy, lookup_strategy, strategy_names
from search.tree import FORMAT, NO_PARENT, ROOT_INDEX, Tree, TreeFormatError
from search.weighted import weighted_majority, weighted_vote

__all__ = ["weighted_majority", "weighted_vote", "GREEDY", "KINDS", "MAX_ANSWERS", "SAMPLING", "SEARCH", "STRATEGIES", "AnswerCheck", "AnswerKey", "Budget",
           "BudgetTooSmall", "FORMAT", "NO_PARENT", "PolicyState", "PolicyStep", "ROOT_INDEX", "Scorer", "SearchConfig", "SearchResult",
           "SearchRun", "StepPolicy", "Strategy", "TokenMeter", "Tree", "TreeFormatError", "UsageCounter", "beam",
           "best_index", "best_of_n", "check_overrides", "choose_answer", "derive_seed", "expand_cost_bound",
           "greedy", "lookup_strategy", "majority", "majority_vote", "mcts", "mean_token_probability", "puct_score",
           "sample", "sibling_priors", "strategy_names"]
