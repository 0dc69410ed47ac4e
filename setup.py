"""Everything is declared in pyproject.toml; this only adds one file setuptools cannot declare.

`medforget-evaluate.pth` goes to the top of site-packages (next to the packages), where Python runs
its import line at start-up: that is what makes `evaluate.load("medforget_metric")` work as typed
(see medforget_data/scoring/evaluate_hook.py; eval/register.py re-exports it). Wheels get it
through build_py; editable installs through the unpacked editable wheel, which setuptools installs
as `install_lib`.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "medforget-evaluate.pth"
SOURCE = Path(__file__).resolve().parent / "eval" / PTH


class BuildPyWithPth(build_py):
    def run(self) -> None:
        super().run()
        target = self.build_lib
        if self.editable_mode:
            # build_lib is a scratch folder then; setuptools (>= 64) unpacks the editable wheel in
            # install_lib, a temporary folder named after the wheel. Anything else: leave it (importing
            # medforget_data installs the same hook).
            target = self.get_finalized_command("install").install_lib
            if not str(target).rstrip("/").endswith(".whl"):
                return
        self.copy_file(str(SOURCE), str(Path(target) / PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


setup(cmdclass={"build_py": BuildPyWithPth})
