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
