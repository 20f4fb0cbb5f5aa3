"""Host placement (``--data-placement host``, the default): the training split read from the built
``tfds_ave`` and fed batch by batch from host memory by ``tf.data``, SMB fused videos made on the fly as
``tf.data`` ops (``data/smb.py``). ``device_data.py`` is the other placement."""

import math

import tensorflow as tf

from edrnet_tf.data import pipeline, smb


def training_batches(data_dir, config, settings, share=(0, 1)):
    """The batched training ``tf.data`` of the ``tfds_ave`` ``config`` (the task's) and ``settings`` (task, S,
    batch size and seed) and its steps per epoch (None when unknown). With S > 0 (sel) every epoch draws fresh
    fused videos. ``share``: ``(index, count)``, this process's part of every global batch when ``count``
    processes train one model (``distribution.share``): full batches only, the rows ``[index*B/count,
    (index+1)*B/count)`` of each."""
    count = share[1]
    if settings.task == "wsel" or settings.smb_per_class == 0:
        examples = pipeline.load_split(data_dir, "train", config=config)
        batches = pipeline.train_pipeline(examples, settings.batch_size, shuffle=True, seed=settings.seed,
                                          drop_remainder=count > 1)
        steps = int(batches.cardinality())
        return _rows(batches, settings.batch_size, share), steps if steps > 0 else None
    arrays = pipeline.split_arrays(data_dir, "train", features="variable")  # held once, no NumPy copy
    fusable = smb.StateDatabase.from_labels(arrays["segment_labels"], arrays["video_label"]).fusable_classes()
    videos = len(arrays["video_label"]) + settings.smb_per_class * len(fusable)
    examples = smb.smb_training_dataset(arrays, settings.smb_per_class, seed=settings.seed,
                                        sequence_rule=settings.smb_sequences)
    examples = examples.apply(tf.data.experimental.assert_cardinality(videos))  # a sized progress bar
    batches = pipeline.train_pipeline(examples, settings.batch_size, shuffle=False, cache=False,
                                      drop_remainder=count > 1)
    return _rows(batches, settings.batch_size, share), (videos // settings.batch_size if count > 1
                                                          else math.ceil(videos / settings.batch_size))


def _rows(batches, batch_size, share):
    """This process's rows of every batch (all of them for one process)."""
    index, count = share
    if count == 1:
        return batches
    rows = slice(index * batch_size // count, (index + 1) * batch_size // count)
    return batches.map(lambda batch: {key: value[rows] for key, value in batch.items()})
