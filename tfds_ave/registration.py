"""Importing a module right after another one, without importing the other one: a ``sys.meta_path`` hook.

``import_after("tensorflow_datasets", "tfds_ave.tfds_ave_dataset_builder")`` imports the builder (which
registers it with TFDS) at once when TFDS is already imported, otherwise right after TFDS' own package
has run, whoever imports it. Nothing here imports TensorFlow or TFDS.
"""

import importlib
import importlib.util
import sys


def import_after(trigger, module):
    """Imports ``module`` now if ``trigger`` is imported, else right after ``trigger`` is first imported."""
    if trigger in sys.modules:
        importlib.import_module(module)
    else:
        sys.meta_path.insert(0, _AfterImport(trigger, module))


class _AfterImport:
    """Finder that answers for ``trigger`` only, with the other finders' spec whose loader then imports
    ``module``; it leaves ``sys.meta_path`` once ``trigger`` has been imported."""

    def __init__(self, trigger, module):
        self.trigger, self.module = trigger, module
        self._searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.trigger or self._searching:
            return None
        self._searching = True  # find_spec below asks every finder again, this one included
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._searching = False
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenImport(spec.loader, self)
        return spec


class _ThenImport:
    """Loader that runs ``loader``, removes ``hook`` and imports ``hook.module``; the executed module keeps
    ``loader`` as its own."""

    def __init__(self, loader, hook):
        self.loader, self.hook = loader, hook

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        if self.hook in sys.meta_path:
            sys.meta_path.remove(self.hook)
        importlib.import_module(self.hook.module)
