"""The FDL expression language: paths, literals, operators, built-in functions, templates.

Expressions are parsed once (``compile_expression``) into closures and evaluated many times
against an environment mapping variable names (``Input``, ``Output``, ``Context``, ``Global``,
``Item``) to JSON values.
"""

from stateway.expr._errors import EvaluationError, ExpressionError
from stateway.expr._parser import Expression, compile_expression
from stateway.expr._template import Template, compile_template

__all__ = [
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "Template",
    "compile_expression",
    "compile_template",
]
