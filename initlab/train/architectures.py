"""Small Keras networks of the kinds practitioners use, built by factory functions (`model: {factory:
"initlab.train.architectures:NAME"}`) for the lessons on users' own models."""

from initlab.base.backend import keras


def mobilenet_style(channels=(32, 64), momentum: float = 0.99, classes: int = 10, input_shape=(8, 8, 1)):
    """A stem convolution, then one depthwise-separable block per entry of `channels` (3x3 depthwise, BatchNorm,
    ReLU, 1x1 pointwise, BatchNorm, ReLU; stride 2 after the first), global pooling and a softmax: MobileNet's
    pattern (Howard et al. 2017) at digits' scale. `momentum`: every BatchNormalization's (Keras's default 0.99)."""
    layers = keras().layers
    inputs = keras().Input(tuple(input_shape))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.ReLU()(layers.BatchNormalization(momentum=momentum, name="stem_bn")(x))
    for number, width in enumerate(channels, start=1):
        stride = 1 if number == 1 else 2
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"block{number}_depthwise")(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=momentum, name=f"block{number}_depthwise_bn")(x))
        x = layers.Conv2D(width, 1, use_bias=False, name=f"block{number}_pointwise")(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=momentum, name=f"block{number}_pointwise_bn")(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras().Model(inputs, layers.Dense(classes, activation="softmax", name="classifier")(x), name="mobilenet_style")


def small_cnn(filters: int = 16, classes: int = 10, input_shape=(8, 8, 1)):
    """Two 3x3 convolutions with ReLU (the second after 2x2 pooling), global pooling and a softmax."""
    layers = keras().layers
    inputs = keras().Input(tuple(input_shape))
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(2 * filters, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras().Model(inputs, layers.Dense(classes, activation="softmax", name="classifier")(x), name="small_cnn")


def lstm_regressor(units: int = 32, length: int = 50, features: int = 2):
    """One LSTM layer read at its last step, then one linear output: the adding problem's network."""
    layers = keras().layers
    inputs = keras().Input((length, features))
    x = layers.LSTM(units, name="lstm")(inputs)
    return keras().Model(inputs, layers.Dense(1, name="readout")(x), name="lstm_regressor")
