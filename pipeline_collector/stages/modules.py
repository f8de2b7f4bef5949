"""A collector module named by text: an import path or a ``.py`` file.

Every place that takes "a module" (``gather``, ``discover``, ``bench_chunking``,
the command line, Django's ``COLLECTORS``) takes it the same way: a module
object as it is, ``"mypackage.collectors"`` imported, ``"mycollectors.py"``
(or any path) loaded from the file, with its folder on ``sys.path`` for its
own imports.  A file loaded once and unchanged since is reused, so loading
it twice does not run its code twice.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from ..errors import ConfigurationError, describe_exception, message_of

__all__ = ["is_module_name", "load_collector_module", "looks_like_file"]

# Files loaded here, by real path, with the (mtime, size) they had: loaded again
# unchanged, the module is reused rather than run again.
_LOADED: dict[Path, tuple[ModuleType, tuple[int, int]]] = {}
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def is_module_name(text: str) -> bool:
    """Whether ``text`` reads as an import path.

    >>> is_module_name("mypackage.collectors"), is_module_name("my collectors")
    (True, False)
    """
    return bool(_DOTTED.match(text))


def looks_like_file(name: str | os.PathLike[str]) -> bool:
    """Whether ``name`` names a file rather than an import path.

    >>> looks_like_file("mycollectors.py"), looks_like_file("pkg/collectors")
    (True, True)
    >>> looks_like_file("mypackage.collectors")
    False
    """
    if isinstance(name, os.PathLike):
        return True
    return name.endswith(".py") or os.sep in name or bool(os.altsep and os.altsep in name)


def load_collector_module(name: str | os.PathLike[str], *, search_cwd: bool = False) -> ModuleType:
    """Import a collector module by import path, or load it from a file path.

    ``search_cwd`` puts the current folder first on ``sys.path`` before an
    import (a command line's console script does not have it there).  A
    module that cannot be found or whose import raises is a
    ``ConfigurationError`` of one line.
    """
    if looks_like_file(name):
        return _load_file(Path(name))
    text = str(name)
    if not is_module_name(text):
        raise ConfigurationError(
            f"collector module {text!r} is neither an import path (mypackage.collectors)"
            " nor a .py file"
        )
    if search_cwd:
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
    try:
        return importlib.import_module(text)
    except ModuleNotFoundError as e:
        here = Path(f"{text.replace('.', os.sep)}.py")
        hint = f" (a file {here} is here: pass {str(here)!r})" if here.is_file() else ""
        raise ConfigurationError(
            f"cannot import collector module {text!r}: {message_of(e)}{hint}"
        ) from None
    except Exception as e:
        raise ConfigurationError(f"importing {text} failed: {describe_exception(e)}") from None


def _load_file(path: Path) -> ModuleType:
    """A module from a file, its folder put on the path for its own imports."""
    if not path.is_file():
        raise ConfigurationError(f"collector module file not found: {path}")
    real = path.resolve()
    stat = real.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    loaded, seen = _LOADED.get(real, (None, None))
    if loaded is not None and seen == version and sys.modules.get(loaded.__name__) is loaded:
        return loaded
    folder = str(real.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    stem = path.stem if path.stem.isidentifier() else "collectors"
    module_name = stem if stem not in sys.modules else f"_pipeline_collector_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, real)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise ConfigurationError(f"importing {path} failed: {describe_exception(e)}") from None
    _LOADED[real] = (module, version)
    return module
