"""TFRecord schema, dataset converters, decoding, augmentation and the tf.data pipeline."""
