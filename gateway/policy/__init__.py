"""The rule language and rule packs: parse, check, compile, evaluate, reload.

See gateway/policy/README.md for the condition language and its missing-value
semantics.
"""

from gateway.policy.condition import Condition, compile_condition
from gateway.policy.errors import PolicyError
from gateway.policy.pack import Rule, RuleTest, StickySpec
from gateway.policy.reload import RuleSetWatcher
from gateway.policy.ruleset import Evaluation, RuleSet, Sticky, Thresholds

__all__ = [
    "Condition",
    "Evaluation",
    "PolicyError",
    "Rule",
    "RuleSet",
    "RuleSetWatcher",
    "RuleTest",
    "Sticky",
    "StickySpec",
    "Thresholds",
    "compile_condition",
]
