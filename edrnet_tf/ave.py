"""The AVE facts (shapes, class list, split sizes, ``Annotations.txt`` reading), re-exported from ``tfds_ave.ave``.

``tfds_ave`` owns them, so a dataset build needs nothing of ``edrnet_tf``; the rest of ``edrnet_tf`` keeps
importing them from here (``from edrnet_tf import ave``). Nothing here imports TensorFlow, TFDS or Keras.
"""

from tfds_ave.ave import *  # noqa: F403
from tfds_ave.ave import __all__  # noqa: F401
