"""AVE data: synthetic AVE files (``synthetic``), tf.data pipelines over ``tfds_ave`` (``pipeline``)
and SMB video fusion (``smb``). Import the submodule you need; this package imports nothing heavy."""
