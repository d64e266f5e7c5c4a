"""The long circles experiment as a notebook user writes it: plain Keras model.fit, no initlab.

python benchmarks/plain_keras_circles.py [--epochs 15000]
"""

import argparse

from keras.layers import Dense, Input
from keras.models import Sequential
from keras.optimizers import SGD
from sklearn.datasets import make_circles

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=15000)
args = parser.parse_args()

X, y = make_circles(n_samples=300, noise=0.05, random_state=1)
model = Sequential([Input(shape=(2,)), Dense(10, activation="relu", kernel_initializer="he_normal"),
                    Dense(5, activation="relu", kernel_initializer="he_normal"),
                    Dense(1, activation="sigmoid", kernel_initializer="he_normal")])
model.compile(optimizer=SGD(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(X, y, epochs=args.epochs, batch_size=300, shuffle=False, verbose=0)
print(f"final accuracy {history.history['accuracy'][-1]:.4f}")
