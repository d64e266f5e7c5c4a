"""The tutorial's experiment as a notebook user writes it: plain pandas + Keras, no initlab.

python benchmarks/plain_keras.py                                   # the tutorial: 2 units, every weight 0.5
python benchmarks/plain_keras.py --units 10 --initializer he_normal  # one run of the 40-run sweep
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from keras.layers import Dense, Input
from keras.models import Sequential
from keras.optimizers import Adam

parser = argparse.ArgumentParser()
parser.add_argument("--units", type=int, default=2)
parser.add_argument("--initializer", default=None, help="a Keras initializer name; default: every weight set to 0.5")
args = parser.parse_args()

df = pd.read_csv(Path(__file__).resolve().parent / "../data/ushape.csv")
X = df.iloc[:, 0:2].values
y = df.iloc[:, -1].values

init = args.initializer or "glorot_uniform"
model = Sequential([Input(shape=(2,)), Dense(args.units, activation="relu", kernel_initializer=init),
                    Dense(1, activation="sigmoid", kernel_initializer=init)])
if args.initializer is None:
    model.set_weights([np.full(w.shape, 0.5) for w in model.get_weights()])  # every weight, biases included, 0.5

model.compile(optimizer=Adam(learning_rate=0.001), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(X, y, epochs=100, batch_size=32, validation_split=0.2, verbose=0)
print(f"final accuracy {history.history['accuracy'][-1]:.4f}, val_accuracy {history.history['val_accuracy'][-1]:.4f}")
