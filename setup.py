"""Installs ``tfds_ave/tfds_ave_build.pth`` at the top of site-packages (the metadata is in pyproject.toml).

The ``.pth`` file lets the bare ``tfds build tfds_ave`` find the builder from any folder. ``pip install .``
puts it in the wheel through ``build_py``'s build folder; ``pip install -e .`` (setuptools' editable wheel
runs ``build_py`` in editable mode, with ``install``'s library folder set to the wheel's root) gets it
written straight into that root.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = os.path.join("tfds_ave", "tfds_ave_build.pth")


class BuildPyWithPth(build_py):
    """``build_py`` that also puts ``PTH`` at the top of the installed library folder."""

    def run(self):
        super().run()
        self.copy_file(PTH, os.path.join(self._pth_folder(), os.path.basename(PTH)))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else outputs + [os.path.join(self.build_lib, os.path.basename(PTH))]

    def _pth_folder(self):
        return self.get_finalized_command("install").install_lib if self.editable_mode else self.build_lib


setup(cmdclass={"build_py": BuildPyWithPth})
