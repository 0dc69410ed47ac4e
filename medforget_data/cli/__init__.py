"""`medforget` console script: one module per subcommand, each exposing `register(subparsers)`.

A `MedForgetError` (or a pydantic validation error at a boundary, or the machine refusing a path:
full disk, read-only mount, no permission) becomes one line on stderr and exit status 2; nothing else
is caught, so real bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from pydantic import ValidationError

from medforget_data import progress
from medforget_data.errors import MedForgetError

# Subcommand modules, in the order `medforget --help` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "run", "build", "verify", "info", "pretrain", "finetune", "unlearn", "generate", "score", "attack",
    "leaderboard", "export",
)  # fmt: skip


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise MedForgetError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="medforget", description="MedForget: hierarchy-aware multimodal unlearning benchmark"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"medforget_data.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"medforget_data.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(subparsers)
    return parser


# What the machine, not the program, refuses: a full disk or quota, a read-only mount, a file or
# folder without permission. One line naming the path; any other OSError is a bug and keeps its traceback.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def _fail(message: str, status: int = 2) -> int:
    progress.clear()  # an open bar's line would otherwise come before (or after) the one line
    print(f"error: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except MedForgetError as error:
        return _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
    except ValidationError as error:  # a config's range check (pydantic) at a boundary
        detail = error.errors()[0]
        where = ".".join(map(str, detail["loc"])) or "value"
        return _fail(f"{error.title} {where}: {detail['msg']}")
    except OSError as error:
        if error.errno not in STORAGE_ERRNOS:
            raise
        where = f"{error.filename}: " if error.filename is not None else ""
        return _fail(f"{where}{error.strerror or os.strerror(error.errno)}")
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
