"""The package imports, the extension is ours, and errors map to the analyzer's built-ins."""

import crypto_analyzer_promotion as cap
from crypto_analyzer_promotion import exceptions


def test_extension_version_matches_package():
    assert cap._core.__version__ == cap.__version__
    assert cap.__version__.count(".") == 2


def test_exception_hierarchy_keeps_the_analyzers_builtins():
    assert issubclass(exceptions.InvalidInputError, ValueError)
    assert issubclass(exceptions.MissingFileError, FileNotFoundError)
    assert issubclass(exceptions.DatabaseBusyError, RuntimeError)
    assert issubclass(exceptions.AccessDeniedError, PermissionError)
    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.PromotionError)


def _stub_literal(name):
    """The names of the ``Literal[...]`` type alias ``name`` in ``_core.pyi``."""
    import ast
    import pathlib

    tree = ast.parse((pathlib.Path(cap.__file__).parent / "_core.pyi").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            sub = node.value
            assert isinstance(sub, ast.Subscript)
            elts = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
            return [e.value for e in elts]
    raise AssertionError(f"no {name} in _core.pyi")


def test_statuses_come_from_the_core_and_the_stub_literals_match():
    assert cap._core.STATUSES == ["exploratory", "candidate", "accepted", "rejected"]
    assert cap._core.ELIGIBILITY_LEVELS == [s for s in cap._core.STATUSES if s != "rejected"]
    assert list(cap._core.VALID_STATUSES) == cap._core.STATUSES
    assert _stub_literal("Status") == cap._core.STATUSES
    assert _stub_literal("EligibilityLevel") == cap._core.ELIGIBILITY_LEVELS


def test_evaluation_target_is_the_next_rung():
    target = cap._core.status_evaluation_target
    assert [target(s) for s in (None, "", " exploratory ", " ", "candidate", "accepted", "rejected", "odd")] == [
        "candidate",
        "candidate",
        "candidate",
        "accepted",
        "accepted",
        "accepted",
        "accepted",
        "accepted",
    ]


def test_gating_annotations_resolve_at_run_time():
    import typing

    from crypto_analyzer_promotion import gating

    hints = typing.get_type_hints(gating.PromotionDecision)
    assert list(typing.get_args(hints["status"])) == cap._core.STATUSES
    hints = typing.get_type_hints(gating.EligibilityReport)
    assert list(typing.get_args(hints["level"])) == cap._core.ELIGIBILITY_LEVELS
