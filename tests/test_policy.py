"""The policy on tiny random Llamas with the built-in tokenizer: cache parity, batching, stops, seeds,
usage counters, adapters, and complete vs step-wise generation."""
import pytest

from tests.tiny_models import tiny_llama
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaForCausalLM

from selfplay.model.policy import Policy
from selfplay.model.next_token import StopRule, choose_tokens
from selfplay.builtin_model.tokenizer import build_tokenizer

PROMPTS = ["Use 3 5 8 to make 24 with + - * /. Each number at most once.\n", "12+30=?\n",
           "Write f(x) returning x*x.\n"]
TOLERANCE = 1e-4


def biased_llama(tokenizer, preferences: dict[str, float]) -> LlamaForCausalLM:
    """A 'bandit' model: the same next-token distribution at every position, set by an output bias."""
    model = tiny_llama(tokenizer)
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-30.0)
        for token, logit in preferences.items():
            head.bias[tokenizer.convert_tokens_to_ids(token)] = logit
    model.lm_head = head
    return model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_llama(tokenizer)


def assert_matches_teacher_forcing(policy, step):
    parent_ids = step.state.token_ids[:-step.n_tokens]
    reference = policy.logprobs(list(parent_ids), list(step.token_ids))
    assert len(reference) == step.n_tokens
    assert max(abs(a - b) for a, b in zip(reference, step.token_logprobs)) < TOLERANCE
    assert step.logprob == pytest.approx(sum(reference), abs=step.n_tokens * TOLERANCE)


def grow(policy, roots, depth, branching, seed, **options):
    """Expand level by level; returns every step, level by level."""
    levels, frontier = [], list(roots)
    for level in range(depth):
        steps = [step for children in policy.expand(frontier, branching, seed=seed + level, **options)
                 for step in children]
        levels.append(steps)
        frontier = [step.state for step in steps]
    return levels


def test_cached_multi_step_expansion_matches_teacher_forced_logprobs(model, tokenizer):
    policy = Policy(model, tokenizer)
    levels = grow(policy, [policy.root(PROMPTS[0])], depth=3, branching=2, seed=0, max_step_tokens=6)
    assert [len(level) for level in levels] == [2, 4, 8]
    for level in levels:
        for step in level:
            assert_matches_teacher_forcing(policy, step)
    # children of one parent share the parent's KV instead of copying it; each keeps its own tokens' KV
    parent = levels[1][0].state.parent
    assert levels[1][1].state.parent is parent
    assert (parent.segment.start, parent.segment.end) == (len(parent.parent) - 1, len(parent) - 1)


def test_cached_and_uncached_paths_sample_the_same_steps(model, tokenizer):
    cached, uncached = Policy(model, tokenizer), Policy(model, tokenizer, reuse_cache=False)
    options = dict(depth=3, branching=2, seed=7, max_step_tokens=5, temperature=1.0)
    with_cache = grow(cached, [cached.root(PROMPTS[1])], **options)
    without = grow(uncached, [uncached.root(PROMPTS[1])], **options)
    for level_a, level_b in zip(with_cache, without):
        for a, b in zip(level_a, level_b):
            assert a.token_ids == b.token_ids
            assert max(abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs)) < TOLERANCE
    assert uncached.usage.prefill_tokens > 3 * cached.usage.prefill_tokens
    assert uncached.usage.decode_tokens == cached.usage.decode_tokens


def mixed_states(policy):
    """States of different lengths and cache conditions: a child, an uncached root, a cached root."""
    roots = [policy.root(prompt) for prompt in PROMPTS]
    child = policy.expand([roots[0]], 1, temperature=0.0, max_step_tokens=4)[0][0].state
    policy.expand([roots[2]], 1, temperature=0.0, max_step_tokens=2)  # roots[2]'s prompt is now cached
    return [child, roots[1], policy.root(PROMPTS[2] + "x"), roots[2]]


def test_batched_expansion_of_mixed_lengths_equals_one_at_a_time(model, tokenizer):
    policy = Policy(model, tokenizer)
    states = mixed_states(policy)
    assert len({len(state) for state in states}) == len(states)
    batched = policy.expand(states, 2, temperature=0.0, max_step_tokens=7)
    other = Policy(model, tokenizer)
    for state, steps in zip(mixed_states(other), batched):
        alone = other.expand([state], 2, temperature=0.0, max_step_tokens=7)[0]
        for a, b in zip(steps, alone):
            assert a.token_ids == b.token_ids
            assert max(abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs)) < TOLERANCE
            assert_matches_teacher_forcing(policy, a)
        assert steps[0].token_ids == steps[1].token_ids  # greedy samples agree


def test_a_state_listed_twice_is_expanded_twice_and_stays_consistent(model, tokenizer):
    policy = Policy(model, tokenizer)
    root = policy.root(PROMPTS[1])
    [[first], [second]] = policy.expand([root, root], 1, seed=[1, 2], max_step_tokens=5)
    [[child_a], [child_b]] = policy.expand([first.state, first.state], 1, seed=[3, 4], max_step_tokens=5)
    assert root.segment.end == len(root) - 1
    for step in (first, second, child_a, child_b):
        assert_matches_teacher_forcing(policy, step)
    [[grandchild]] = policy.expand([child_a.state], 1, temperature=0.0, max_step_tokens=5)
    [[again]] = policy.expand([first.state], 1, temperature=0.0, max_step_tokens=5)
    assert first.state.segment.end == len(first.state) - 1
    for step in (grandchild, again):
        assert_matches_teacher_forcing(policy, step)


def test_per_state_seeds_make_sampling_independent_of_the_batch(model, tokenizer):
    policy = Policy(model, tokenizer)
    roots = [policy.root(prompt) for prompt in PROMPTS]
    together = policy.expand(roots, 3, seed=[11, 12, 13], max_step_tokens=6)
    for root, seed, steps in zip(roots, [11, 12, 13], together):
        alone = policy.expand([root], 3, seed=[seed], max_step_tokens=6)[0]
        assert [s.token_ids for s in steps] == [s.token_ids for s in alone]


def test_same_seed_same_steps_and_different_seed_different_steps(model, tokenizer):
    policy = Policy(model, tokenizer)
    root = policy.root(PROMPTS[0])
    first = [s.token_ids for s in policy.expand([root], 4, seed=3, max_step_tokens=8)[0]]
    again = [s.token_ids for s in policy.expand([root], 4, seed=3, max_step_tokens=8)[0]]
    other = [s.token_ids for s in policy.expand([root], 4, seed=4, max_step_tokens=8)[0]]
    assert first == again
    assert first != other
    with pytest.raises(ValueError, match="seed"):
        policy.expand([root], 1, temperature=1.0)


def test_expand_stops_at_the_step_delimiter(tokenizer):
    policy = Policy(biased_llama(tokenizer, {"a": 2.0, "\n": 0.0}), tokenizer)  # P("\\n") = 0.12
    steps = policy.expand([policy.root(PROMPTS[0])], 32, seed=0, max_step_tokens=8)[0]
    for step in steps:
        assert "\n" not in step.text[:-1]
        assert (step.finish_reason == "delimiter") == step.text.endswith("\n")
        assert step.terminal == (step.finish_reason != "delimiter")
    assert {step.finish_reason for step in steps} == {"delimiter", "max_tokens"}


def test_expand_stops_at_eos_and_min_step_tokens_delays_stops(tokenizer):
    policy = Policy(biased_llama(tokenizer, {"<eos>": 5.0, "\n": 4.0, "b": 3.0}), tokenizer)
    root = policy.root(PROMPTS[0])
    [step] = policy.expand([root], 1, temperature=0.0, max_step_tokens=5)[0]
    assert (step.text, step.n_tokens, step.finish_reason, step.terminal) == ("", 1, "eos", True)
    [step] = policy.expand([root], 1, temperature=0.0, max_step_tokens=5, min_step_tokens=3)[0]
    assert (step.text, step.n_tokens, step.finish_reason) == ("\n\n", 3, "eos")  # no stop before the 3rd token
    no_eos = Policy(biased_llama(tokenizer, {"\n": 4.0, "b": 3.0}), tokenizer)
    [step] = no_eos.expand([no_eos.root(PROMPTS[0])], 1, temperature=0.0, max_step_tokens=5, min_step_tokens=3)[0]
    assert (step.text, step.finish_reason) == ("\n\n\n", "delimiter")
    [[answer]] = policy.complete([PROMPTS[0]], 1, max_new_tokens=5)
    assert (answer.text, answer.finished, answer.n_tokens) == ("", True, 1)


def test_stop_rule_finds_delimiters_spanning_tokens():
    texts = ["a", "\n", "b\n\nc", "<eos>"]
    rule = StopRule(texts, eos_ids={3}, delimiter="\n\n")
    assert rule.check("a", 1) == (None, "a\n")
    assert rule.check("a\n", 1) == ("delimiter", "a\n\n")
    assert rule.check("", 2) == ("delimiter", "b\n\nc")
    assert rule.check("a", 3) == ("eos", "a")
    assert rule.check("a\n", 1, allow_stop=False) == (None, "a\n\n")


def test_tiny_top_p_is_greedy():
    logprobs = torch.log_softmax(torch.randn(5, 50, generator=torch.Generator().manual_seed(0)), dim=-1)
    generator = torch.Generator().manual_seed(1)
    sampled = choose_tokens(logprobs, 1.0, 1e-6, [generator], [0] * 5)
    assert sampled.tolist() == logprobs.argmax(-1).tolist()


def test_usage_counts_a_shared_root_once(model, tokenizer):
    policy = Policy(model, tokenizer)
    root = policy.root(PROMPTS[0])
    steps = policy.expand([root], 4, seed=0, max_step_tokens=6)[0]
    generated = [step.n_tokens for step in steps]
    assert policy.usage.prefill_tokens == len(root)
    assert policy.usage.decode_tokens == sum(generated)
    assert policy.usage.forward_calls == max(generated)  # one prefill + one forward per further token
    assert root.segment.end == len(root) - 1  # the prompt's KV is kept; the last token is fed per expansion
    before = policy.usage.copy()
    policy.expand([root], 2, seed=1, max_step_tokens=3)
    assert (policy.usage - before).prefill_tokens == 1
    before = policy.usage.copy()
    policy.expand([step.state for step in steps], 2, seed=2, max_step_tokens=3)
    assert (policy.usage - before).prefill_tokens == 4  # one pending token per child
    naive = Policy(model, tokenizer, reuse_cache=False)
    naive.expand([naive.root(PROMPTS[0])], 4, seed=0, max_step_tokens=6)
    assert naive.usage.prefill_tokens == 4 * len(root)
    assert naive.usage.total_tokens == naive.usage.prefill_tokens + naive.usage.decode_tokens


def make_adapter(tokenizer, path, seed):
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(tiny_llama(tokenizer), config).save_pretrained(path)
    return path


def test_load_and_unload_adapter_change_and_restore_outputs(tokenizer, tmp_path):
    first, second = make_adapter(tokenizer, tmp_path / "a1", 1), make_adapter(tokenizer, tmp_path / "a2", 2)
    policy = Policy(tiny_llama(tokenizer), tokenizer)
    base_model = policy._lm
    root = policy.root(PROMPTS[0])
    [[step]] = policy.expand([root], 1, temperature=0.0, max_step_tokens=6)
    base = policy.logprobs(PROMPTS[0], "12+3")
    policy.load_adapter(first)
    with_first = policy.logprobs(PROMPTS[0], "12+3")
    assert max(abs(a - b) for a, b in zip(base, with_first)) > 1e-3
    # a state cached under the base weights is re-encoded under the adapter, not reused
    [[grandchild]] = policy.expand([step.state], 1, temperature=0.0, max_step_tokens=4)
    assert_matches_teacher_forcing(policy, grandchild)
    policy.load_adapter(second)
    assert policy._lm is base_model  # swapped in place, base model not reloaded
    fresh = Policy(tiny_llama(tokenizer), tokenizer)
    fresh.load_adapter(second)
    assert policy.logprobs(PROMPTS[0], "12+3") == pytest.approx(fresh.logprobs(PROMPTS[0], "12+3"), abs=1e-5)
    policy.unload_adapter()
    assert policy.logprobs(PROMPTS[0], "12+3") == pytest.approx(base, abs=1e-6)


def test_complete_greedy_equals_step_by_step_greedy(model, tokenizer):
    policy = Policy(model, tokenizer)
    [[completion]] = policy.complete([PROMPTS[1]], 1, temperature=0.0, max_new_tokens=30)
    state, tokens, text = policy.root(PROMPTS[1]), [], ""
    while len(tokens) < 30:
        [[step]] = policy.expand([state], 1, temperature=0.0, max_step_tokens=7)
        tokens += step.token_ids
        text += step.text
        state = step.state
        if step.finish_reason == "eos":
            break
    assert list(completion.token_ids) == tokens[:30]
    assert completion.n_tokens == len(completion.token_ids)
    assert text.startswith(completion.text)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("reuse_cache", [True, False])
def test_a_huge_token_cap_decodes_to_the_context_and_allocates_no_more(tokenizer, reuse_cache):
    """A cap of 10**9 new tokens used to allocate its buffers as asked (terabytes); the context stops every
    row first, so the answers equal those under a cap of exactly the room the context leaves."""
    model = biased_llama(tokenizer, {"5": 0.0, "+": 0.0})  # never EOS: every row runs to the context's end
    policy = Policy(model, tokenizer, max_total_tokens=48, reuse_cache=reuse_cache)
    huge = policy.complete(PROMPTS[:2], num_samples=2, temperature=1.0, max_new_tokens=10**9, seed=3)
    room = policy.complete(PROMPTS[:2], num_samples=2, temperature=1.0, max_new_tokens=48, seed=3)
    assert [[c.text for c in row] for row in huge] == [[c.text for c in row] for row in room]
    assert {c.finish_reason for row in huge for c in row} == {"max_total_tokens"}
    steps = policy.expand([policy.root(PROMPTS[0])], 2, temperature=1.0, max_step_tokens=10**9, seed=1)
    assert all(step.finish_reason == "max_total_tokens" for step in steps[0])
