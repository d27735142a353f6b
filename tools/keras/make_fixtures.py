"""Makes the Keras import fixtures in Tests/Fixtures/keras/ with TensorFlow's Keras: a small network of the seed-004
layer types (and the other layers Kennel imports) saved as Keras 3 `.keras` and legacy `.h5`, Keras's outputs for a
few images, and a `.keras` with a layer Kennel does not have. Run once with a Python that has tensorflow-cpu, in a
throwaway venv (never a dependency of the project); the outputs are committed.

Usage: python make_fixtures.py [OUT_DIR (default Tests/Fixtures/keras)]"""

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
from keras import layers  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "keras")
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(4)

HEIGHT, WIDTH, CLASSES = 40, 30, 5
model = keras.Sequential([
    keras.Input(shape=(HEIGHT, WIDTH, 1)),
    layers.Rescaling(1 / 255),
    layers.Conv2D(8, 5, strides=2, padding="same", activation="relu"),
    layers.MaxPooling2D(2, padding="same"),
    layers.Conv2D(16, 3, padding="same"),
    layers.BatchNormalization(),
    layers.Activation("relu"),
    layers.AveragePooling2D(2),
    layers.Flatten(),
    layers.Dense(32, activation="relu"),
    layers.Dropout(0.1),
    layers.Dense(CLASSES, activation="softmax"),
], name="seed004_small")
# Batch normalization's moving statistics as training would leave them, not the identity they start as.
normalization = model.layers[4]
rng = np.random.default_rng(4)
gamma, beta, mean, variance = normalization.get_weights()
normalization.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                           rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])
# Larger final weights than initialization gives, so the probabilities are far from uniform and any difference in
# how a layer is computed shows in them.
for layer, factor in ((model.layers[8], 1.5), (model.layers[10], 4.0)):
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * factor, rng.normal(0, 0.5, bias.shape)])
model.save(os.path.join(out, "seed004_small.keras"))
model.save(os.path.join(out, "seed004_small.h5"))

# Four images of pixels 0…255 (what Kennel decodes from a PNG) and Keras's probabilities for them.
images = rng.integers(0, 256, size=(4, HEIGHT, WIDTH, 1)).astype(np.uint8)
probabilities = model.predict(images.astype(np.float32), verbose=0)
with open(os.path.join(out, "seed004_small_outputs.json"), "w") as file:
    json.dump({"height": HEIGHT, "width": WIDTH, "classes": CLASSES,
               "images": images.reshape(4, -1).tolist(), "probabilities": probabilities.tolist()}, file)

unsupported = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(2, 3), layers.UpSampling2D(2),
                                layers.Flatten(), layers.Dense(2)], name="with_upsampling")
unsupported.save(os.path.join(out, "unsupported_layer.keras"))
print("wrote", sorted(os.listdir(out)))
