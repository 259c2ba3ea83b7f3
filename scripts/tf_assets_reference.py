#!/usr/bin/env python3
"""Writes tests/data/tf_assets/vocab_asset_savedmodel/: a TF2 SavedModel whose lookup table is
initialised from a vocabulary file that `tf.saved_model.save` copies into the model's own
`assets/` folder (issue 16; the commonest TF-Hub/text-model layout). The graph reads the file
with `InitializeTableFromTextFileV2` in an initializer function whose filename input is
captured from the asset object (`object_graph_def`), so the loader feeds it
`<model>/assets/vocab_asset.txt`.

The committed files were written by this code with TensorFlow 2.21.0 (the red-team run of
issue 16); TensorFlow is not installed in the scanner's build environment, so they were not
rewritten here. To reproduce:
    python3 -m venv /tmp/venv-tf
    /tmp/venv-tf/bin/pip install tensorflow-cpu==2.21.0
    /tmp/venv-tf/bin/python scripts/tf_assets_reference.py tests/data/tf_assets

What the scanner must say (tests/longtail_formats.rs): every file clean with no finding above
`info` (no TFG004 for the table reading its own asset).

The script only writes files; it never loads one back.
"""
import os
import sys
import tempfile

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf  # noqa: E402


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        vocab = os.path.join(work, "vocab_asset.txt")
        with open(vocab, "w") as f:
            f.write("a\nb\nc\n")

        class V(tf.Module):
            def __init__(self):
                self.t = tf.lookup.StaticHashTable(
                    tf.lookup.TextFileInitializer(vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                                  tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), -1)

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
            def __call__(self, x):
                return self.t.lookup(x)

        tf.saved_model.save(V(), os.path.join(out, "vocab_asset_savedmodel"))
    print("wrote", os.path.join(out, "vocab_asset_savedmodel"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/tf_assets")
