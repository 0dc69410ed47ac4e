"""Make `evaluate.load("medforget_metric")` work as typed, offline, once the package is installed.

`evaluate.load(<bare name>)` asks the Hub for `evaluate-metric/<name>`; when that fails (offline,
or no such Hub repository) it takes the newest script cached at
`<HF_MODULES_CACHE>/evaluate_modules/metrics/evaluate-metric--<name>/<sha256>/<name>.py`
(`evaluate.loading.CachedEvaluationModuleFactory`). `register_metric` writes our module there.

It runs as soon as `evaluate` is imported: the wheel puts `medforget-evaluate.pth` in
site-packages, whose one line calls `install_hook()` at interpreter start; the hook waits for
`evaluate` to finish importing (so the cache path is the one evaluate itself resolved) and then
registers. Importing `medforget_data` does the same, for interpreters started without site.
`medforget_data.eval.register` re-exports these names (the library never imports eval/).

This module must stay cheap to import (it runs at every interpreter start): `sys` only at the top.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not `from typing import ...`: typing alone costs more than the rest
if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

# Everything else is imported where it is used: this module is imported at every interpreter start.
METRIC_NAME = "medforget_metric"
# evaluate's cache folder for a canonical metric: "evaluate-metric/<name>" with "/" → "--".
CACHED_NAME = f"evaluate-metric--{METRIC_NAME}"


def _write_atomic(path: Path, data: bytes) -> None:
    import os
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.replace(temporary, path)


def register_metric(modules_cache: str | Path | None = None) -> Path:
    """Copy the metric script into evaluate's cache of canonical modules; return the copy's path.

    `modules_cache` defaults to evaluate's HF_MODULES_CACHE. Idempotent; the copy is made the
    newest cached version, since evaluate picks the newest (an older package version re-registered
    after a newer one must win).
    """
    import hashlib
    import os
    from pathlib import Path

    from evaluate.loading import init_dynamic_modules

    from medforget_data.scoring.paths import metric_path

    code = (Path(metric_path()) / f"{METRIC_NAME}.py").read_bytes()
    dynamic = Path(init_dynamic_modules(hf_modules_cache=modules_cache))
    folder = dynamic / "metrics" / CACHED_NAME
    version = folder / hashlib.sha256(code).hexdigest()
    for package in (dynamic / "metrics", folder, version):
        package.mkdir(exist_ok=True)
        (package / "__init__.py").touch(exist_ok=True)
    script = version / f"{METRIC_NAME}.py"
    if not script.is_file() or script.read_bytes() != code:
        _write_atomic(script, code)
    others = [p / script.name for p in folder.iterdir() if p != version and (p / script.name).is_file()]
    newest = max((p.stat().st_mtime for p in others), default=0.0)
    if script.stat().st_mtime <= newest:
        os.utime(script, (newest + 1, newest + 1))
    return script


def _register_quietly() -> None:
    import warnings

    try:
        register_metric()
    except Exception as error:  # a read-only cache must not break `import evaluate`
        warnings.warn(
            f"medforget: could not register the metric for evaluate.load({METRIC_NAME!r}): {error}; "
            "evaluate.load(medforget_data.metric_path()) still works",
            stacklevel=2,
        )


class _AfterEvaluateImport:
    """A one-shot meta path finder: finds `evaluate` as usual and registers once it has executed."""

    def find_spec(self, fullname: str, path: object = None, target: object = None):
        if fullname != "evaluate":
            return None
        import importlib.util

        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from coming back here
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _register_quietly()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install_hook() -> None:
    """Register now if `evaluate` is already imported, else as soon as it is."""
    if "evaluate" in sys.modules:
        _register_quietly()
    elif not any(isinstance(finder, _AfterEvaluateImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterEvaluateImport())
