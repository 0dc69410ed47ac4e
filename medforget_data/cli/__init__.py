"""`medforget` console script: one module per subcommand, each exposing `register(subparsers)`.

A `MedForgetError` (or a pydantic validation error at a boundary) becomes one line on
stderr and exit status 2; nothing else is caught, so real bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pydantic import ValidationError

from medforget_data.errors import MedForgetError

# Subcommand modules, in the order `medforget --help` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "run", "build", "verify", "info", "finetune", "unlearn", "generate", "score", "attack", "leaderboard",
    "export",
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


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except MedForgetError as error:
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 2
    except ValidationError as error:  # a config's range check (pydantic) at a boundary
        detail = error.errors()[0]
        where = ".".join(map(str, detail["loc"])) or "value"
        print(f"error: {error.title} {where}: {detail['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
