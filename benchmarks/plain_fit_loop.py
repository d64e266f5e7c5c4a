"""The plain-Keras side of benchmarks/yours_benchmark.py: the same runs as the sweep, as one loop of model.fit calls
in one process (a small CNN on digits as 8x8x1 images, each initializer x each seed, the last 20% held out).

    python benchmarks/plain_fit_loop.py --initializers glorot_uniform he_normal --seeds 0 1 --epochs 5
"""

import argparse

import keras
import numpy as np
from sklearn.datasets import load_digits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--initializers", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    digits = load_digits()
    x, y = (digits.images / 16.0).astype("float32")[..., None], digits.target
    cut = int(len(x) * 0.8)
    for initializer in args.initializers:
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            inputs = keras.Input((8, 8, 1))
            h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=initializer)(inputs)
            h = keras.layers.MaxPooling2D(2)(h)
            h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=initializer)(h)
            h = keras.layers.GlobalAveragePooling2D()(h)
            outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=initializer)(h)
            model = keras.Model(inputs, outputs)
            model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            model.fit(x[:cut], y[:cut], validation_data=(x[cut:], y[cut:]), epochs=args.epochs, batch_size=64,
                      verbose=0)
            print(initializer, seed, np.round(model.evaluate(x[cut:], y[cut:], verbose=0), 4))


if __name__ == "__main__":
    main()
