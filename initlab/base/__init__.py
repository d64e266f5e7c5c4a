"""The ground floor: TensorFlow and Keras started once (quietly, with the thread pools asked for), the one user
error (UserError, told in one line with exit code 2), Ctrl-C/SIGTERM raised where it is safe and counts in words.
It imports nothing of initlab's; every other layer may import it."""
