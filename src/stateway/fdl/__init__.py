"""FDL text → an immutable, validated flow model, every problem located."""

from stateway.fdl._loader import load_flow, validate_flow
from stateway.fdl._model import (
    CatchRule,
    ChoiceBranch,
    Flow,
    FlowDefinitionError,
    Problem,
    RetryRule,
    Scope,
    State,
)

__all__ = [
    "CatchRule",
    "ChoiceBranch",
    "Flow",
    "FlowDefinitionError",
    "Problem",
    "RetryRule",
    "Scope",
    "State",
    "load_flow",
    "validate_flow",
]
