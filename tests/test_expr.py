import pytest
from hypothesis import given
from hypothesis import strategies as st

from stateway.expr import EvaluationError, ExpressionError, compile_expression, compile_template

ENV = {"Input": {"a": [1, {"b": 2}], "s": "x", "my key": 3, "n": 7}, "Global": {"g": True}}


@pytest.mark.parametrize("source,expected", [
    ("$Input.a[1].b", 2),
    ('$Input["my key"] + 1', 4),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ('$Input.s == "x" && !false', True),
    ("3 in [1, 2, 3]", True),
    ('"a" in {"a": 1}', True),
    ("7 / 2", 3.5),
    ("7 % 4", 3),
    ("$Input.missing.deeper", None),
    ('1 == "1"', False),
    ('1 != "1"', True),
    ("$Global.g || false", True),
    ("-$Input.n", -7),
    ("`raw \\n`", "raw \\n"),
    ('format("{}-{}", "a", 1)', "a-1"),
    ("length(split(\"a,b\", \",\"))", 2),
])
def test_values(source, expected):
    assert compile_expression(source).evaluate(ENV) == expected


@pytest.mark.parametrize("source,position", [("$Input.a ==", 11), ("1 +* 2", 3), ("nosuch(1)", 0), ("[1, 2", 5)])
def test_parse_errors_name_the_position(source, position):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert info.value.position == position
    assert source in str(info.value)


@pytest.mark.parametrize("source", ['1 < "a"', "1 && true", 'intAdd(1, "2")', "length(5)", "1 / 0"])
def test_evaluation_errors(source):
    with pytest.raises(EvaluationError):
        compile_expression(source).evaluate(ENV)


def test_template_dot_dollar_rule():
    template = compile_template({"a.$": "$Input.n", "lit": "$Input.n", "nested": {"b.$": "$Input.s"}, "l": [{"c.$": "1"}]})
    assert template.build(ENV) == {"a": 7, "lit": "$Input.n", "nested": {"b": "x"}, "l": [{"c": 1}]}


def test_calls_nest_at_most_ten_deep():
    compile_expression("length(" * 10 + '"x"' + ")" * 10)
    with pytest.raises(ExpressionError):
        compile_expression("length(" * 11 + '"x"' + ")" * 11)


@given(st.text(max_size=60))
def test_any_text_parses_or_gives_a_documented_error(text):
    try:
        expr = compile_expression(text)
    except ExpressionError:
        return
    try:
        expr.evaluate(ENV)
    except EvaluationError:
        pass


@given(st.text(alphabet="$Input.ab[]0123()\"',+-*/%!=<>&|{}: intrueflsnl", max_size=40))
def test_operator_soup_parses_or_gives_a_documented_error(text):
    test_any_text_parses_or_gives_a_documented_error.hypothesis.inner_test(text)
