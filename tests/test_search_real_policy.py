"""The search strategies on the real `Policy` (a tiny random Llama, CPU): the protocols fit it unchanged,
budgets hold against its own usage counter, with and without KV reuse, and a seed replays a tree."""
import pytest
import torch

from search import STRATEGIES, Budget, SearchConfig, StepPolicy
from selfplay.model.policy import Policy
from selfplay.builtin_model.tokenizer import EOS, build_tokenizer
from tests.test_policy import biased_llama

PROMPT = "Use 3 5 8 to make 16.\n"
CONFIG = SearchConfig(max_depth=3, max_step_tokens=4, num_samples=3, beam_width=2, expansions_per_beam=2,
                      num_simulations=4, expansions_per_node=2, widening_visits=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    # A few likely tokens, the step delimiter and EOS among them: steps are short, answers end.
    return biased_llama(tokenizer, {"8": 2.0, "+": 1.5, "\n": 2.0, EOS: 1.0, "=": 1.0})


def answer_check(text: str) -> float:
    return 1.0 if "8+8" in text else 0.0


def test_the_policy_satisfies_the_protocol(model, tokenizer):
    policy: StepPolicy = Policy(model, tokenizer)
    assert isinstance(policy.usage.total_tokens, int) and policy.reuse_cache is True
    assert len(policy.root(PROMPT)) == len(PROMPT) + 1  # characters + BOS


@pytest.mark.parametrize("reuse_cache", [True, False])
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategies_keep_the_budget_on_the_real_policy(model, tokenizer, strategy, reuse_cache):
    budget = Budget.from_answers(2, tokens_per_answer=40)
    policy = Policy(model, tokenizer, reuse_cache=reuse_cache)
    policy.expand([policy.root("warm up\n")], 1, temperature=0.0, max_step_tokens=2)  # spent before: not ours
    before = policy.usage.total_tokens
    result = STRATEGIES[strategy](policy, PROMPT, CONFIG, seed=5, budget=budget, answer_check=answer_check,
                                  answer_key=lambda text: text.strip()[-1:] or None)
    assert result.tokens == policy.usage.total_tokens - before > 0
    if strategy != "greedy":
        assert result.tokens <= 80
    if result.answer_node is not None:
        assert result.answer_text == result.tree.answer_text(result.answer_node)
    for node in range(1, len(result.tree)):  # every recorded step is the policy's own text
        assert result.tree.token_counts[node] >= 1 and result.tree.logprobs[node] <= 0


@pytest.mark.parametrize("strategy", ["sample", "beam", "mcts"])
def test_a_seed_replays_the_same_tree_on_the_real_policy(model, tokenizer, strategy):
    def tree(seed: int) -> dict:
        return STRATEGIES[strategy](Policy(model, tokenizer), PROMPT, CONFIG, seed=seed, budget=None,
                                    answer_check=answer_check).tree.to_dict()
    first = tree(1)
    assert first == tree(1)
    assert first != tree(2)
