"""Writes the files in preprocessing/ (run with numpy and h5py installed:
python3 make_preprocessing_files.py) as the Keras releases lay them out,
with Normalization and Rescaling first in the model, and beside each one
the input x and the outputs the source formulas give (NAME.x.npy,
NAME.y.npy), computed here in float32 as Keras computes them:

  Normalization  (x - mean) / maximum(sqrt(variance), 1e-7)
                 invert: mean + x * maximum(sqrt(variance), 1e-7)
                 (tf.keras 2.10 only: (x + mean) * maximum(...))
  Rescaling      x * scale + offset

(keras/layers/preprocessing/normalization.py at v2.6.0 ... v2.12.0,
tf_keras at v2.15.0 ... v2.21.0, keras/src/layers/preprocessing/ at
v3.0.0 ... v3.15.1; image_preprocessing.py and rescaling.py for Rescaling.)

Adapted weights are the non-trainable mean, variance and count (an int64
scalar); the legacy .h5 names them normalization/mean:0 ..., the Keras 3
layout layers/normalization/vars/0..2."""
import io
import json
import os
import zipfile

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocessing")
EPS = np.float32(1e-7)


def std(var):
    s = np.sqrt(var.astype(np.float32))
    return np.maximum(s, EPS)


def normalize(x, mean, var, invert=False, k210=False):
    m, d = mean.astype(np.float32), std(var)
    if not invert:
        return (x - m) / d
    return (x + m) * d if k210 else m + x * d


def dense(x, w, b):
    return (x @ w + b).astype(np.float32)


def policy3():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def dense_cfg(name, units, k3):
    cfg = {"name": name, "trainable": True, "dtype": policy3() if k3 else "float32",
           "units": units, "activation": "linear", "use_bias": True,
           "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
           "bias_initializer": {"class_name": "Zeros", "config": {}},
           "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
           "kernel_constraint": None, "bias_constraint": None}
    return cfg


def k2_model(layers, shape):
    entries = [{"class_name": "InputLayer",
                "config": {"batch_input_shape": [None] + shape, "dtype": "float32",
                           "sparse": False, "ragged": False, "name": "input_1"}}]
    entries += [{"class_name": cls, "config": cfg} for cls, cfg, _ in layers]
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": entries}}


def k3_model(layers, shape):
    entries = [{"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": [None] + shape, "dtype": "float32", "sparse": False,
                           "name": "input_layer"}, "registered_name": None}]
    for cls, cfg, in_shape in layers:
        entries.append({"module": "keras.layers", "class_name": cls, "config": cfg,
                        "registered_name": None, "build_config": {"input_shape": in_shape}})
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "sequential", "trainable": True, "dtype": policy3(),
                       "layers": entries},
            "registered_name": None, "build_config": {"input_shape": [None] + shape}}


def write_legacy_h5(path, release, config, weights):
    """weights: [(layer name, [(weight name, array)])] in model order."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = release
        f.attrs["backend"] = "tensorflow"
        config = dict(config, keras_version=release, backend="tensorflow")
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        vlen = h5py.string_dtype()
        g.attrs.create("layer_names", [n for n, _ in weights], dtype=vlen)
        g.attrs["backend"] = "tensorflow"
        g.attrs["keras_version"] = release
        for name, ws in weights:
            lg = g.create_group(name)
            names = ["%s/%s:0" % (name, w) for w, _ in ws]
            lg.attrs.create("weight_names", names, dtype=vlen) if names else \
                lg.attrs.create("weight_names", np.zeros((0,), np.float64))
            for n, (_, value) in zip(names, ws):
                lg.create_dataset(n, data=value)
        top = g.create_group("top_level_model_weights")
        top.attrs.create("weight_names", np.zeros((0,), np.float64))


def write_keras(path, release, config, weights):
    """weights: [(snake path under layers/, [arrays in vars order])]."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("vars")
        f.create_group("layers")
        for p, ws in weights:
            g = f.create_group("layers/%s/vars" % p)
            for i, value in enumerate(ws):
                g.create_dataset(str(i), data=value)
    meta = {"keras_version": release, "date_saved": "2025-01-01@00:00:00"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())


def save_xy(name, x, y):
    np.save(os.path.join(OUT, name + ".x.npy"), x.astype(np.float32))
    np.save(os.path.join(OUT, name + ".y.npy"), y.astype(np.float32))


def sample(shape, seed):
    r = np.random.RandomState(seed)
    return (r.standard_normal([2] + shape) * 3 + 1).astype(np.float32)


def norm_cfg(k3, axis, mean=None, variance=None, invert=None):
    cfg = {"name": "normalization", "trainable": True,
           "dtype": policy3() if k3 else "float32", "axis": axis}
    if invert is not None:
        cfg["invert"] = invert
    cfg.update(mean=mean, variance=variance)
    return cfg


def tf_adapted():
    """tf.keras 2.12 (no invert key yet), adapted, axis -1, then Dense."""
    x = sample([4, 3], 1)
    mean = np.array([0.5, -1.25, 3.0], np.float32)
    var = np.array([4.0, 0.0, 2.25], np.float32)  # 0: the epsilon decides
    w = np.arange(6, dtype=np.float32).reshape(3, 2) / 7 - 0.4
    b = np.array([0.1, -0.2], np.float32)
    layers = [("Normalization", norm_cfg(False, [-1]), None),
              ("Dense", dense_cfg("dense", 2, False), None)]
    write_legacy_h5(os.path.join(OUT, "tf2_12_adapted.h5"), "2.12.0", k2_model(layers, [4, 3]),
                    [("normalization", [("mean", mean), ("variance", var),
                                        ("count", np.int64(123456789))]),
                     ("dense", [("kernel", w), ("bias", b)])])
    save_xy("tf2_12_adapted", x, dense(normalize(x, mean, var), w, b))


def tf_given():
    """tf.keras 2.15, mean and variance in the config (no weights), invert;
    a scalar variance broadcast over the features."""
    x = sample([3], 2)
    mean, var = [1.0, 2.0, -3.0], 0.25
    layers = [("Normalization", norm_cfg(False, [-1], mean, var, True), None)]
    write_legacy_h5(os.path.join(OUT, "tf2_15_given_invert.h5"), "2.15.0",
                    k2_model(layers, [3]), [("normalization", [])])
    save_xy("tf2_15_given_invert", x,
            normalize(x, np.array(mean), np.full(3, var, np.float32), invert=True))


def tf_k210():
    """tf.keras 2.10's invert, given in the config: (x + mean) * std."""
    x = sample([3], 3)
    mean, var = [1.0, 2.0, -3.0], [4.0, 1.0, 0.25]
    layers = [("Normalization", norm_cfg(False, [-1], mean, var, True), None)]
    write_legacy_h5(os.path.join(OUT, "tf2_10_invert.h5"), "2.10.0", k2_model(layers, [3]),
                    [("normalization", [])])
    save_xy("tf2_10_invert", x, normalize(x, np.array(mean), np.array(var, np.float32),
                                          invert=True, k210=True))


def k3_adapted_axis1():
    """Keras 3.5, adapted over axis 1 (the steps) with invert, then Dense."""
    x = sample([4, 3], 4)
    mean = np.array([1.0, -2.0, 0.5, 4.0], np.float32)
    var = np.array([1.0, 9.0, 0.04, 2.0], np.float32)
    w = (np.arange(6, dtype=np.float32).reshape(3, 2) - 2) / 5
    b = np.array([0.3, 0.0], np.float32)
    layers = [("Normalization", norm_cfg(True, [1], invert=True), [None, 4, 3]),
              ("Dense", dense_cfg("dense", 2, True), [None, 4, 3])]
    write_keras(os.path.join(OUT, "k3_5_adapted_axis1.keras"), "3.5.0",
                k3_model(layers, [4, 3]),
                [("normalization", [mean, var, np.int64(9876543210)]), ("dense", [w, b])])
    y = normalize(x, mean.reshape(1, 4, 1), var.reshape(1, 4, 1), invert=True)
    save_xy("k3_5_adapted_axis1", x, dense(y, w, b))


def k3_given():
    """Keras 3.14, axis [1, 2] with a mean of the kept shape and a
    variance broadcast along the steps; then Rescaling per feature, its
    scale a numpy array as Keras 3.5+ serializes one."""
    x = sample([2, 3], 5)
    mean = [[0.0, 1.0, 2.0], [-1.0, -2.0, 5.0]]
    var = [[1.0, 4.0, 0.25]]
    scale = {"class_name": "__numpy__",
             "config": {"value": [0.5, 2.0, -1.0], "dtype": "float32"}}
    layers = [("Normalization", norm_cfg(True, [1, 2], mean, var, False), [None, 2, 3]),
              ("Rescaling", {"name": "rescaling", "trainable": True, "dtype": policy3(),
                             "scale": scale, "offset": 0.25}, [None, 2, 3])]
    write_keras(os.path.join(OUT, "k3_14_given.keras"), "3.14.0", k3_model(layers, [2, 3]), [])
    y = normalize(x, np.array(mean, np.float32), np.broadcast_to(np.float32(var), (2, 3)))
    y = y * np.float32([0.5, 2.0, -1.0]) + np.float32(0.25)
    save_xy("k3_14_given", x, y)


def tf_rescaling():
    """tf.keras 2.9: Rescaling(1/255, offset=-1) before an adapted
    Normalization over every value (axis None: scalar weights)."""
    x = (np.arange(12, dtype=np.float32).reshape(2, 6) * 21.0)
    scale, offset = 1 / 255, -1.0
    mean, var = np.float32(-0.5), np.float32(0.09)
    layers = [("Rescaling", {"name": "rescaling", "trainable": True, "dtype": "float32",
                             "scale": scale, "offset": offset}, None),
              ("Normalization", norm_cfg(False, []), None)]
    write_legacy_h5(os.path.join(OUT, "tf2_9_rescaling.h5"), "2.9.0", k2_model(layers, [6]),
                    [("rescaling", []),
                     ("normalization", [("mean", mean), ("variance", var),
                                        ("count", np.int64(12))])])
    y = x * np.float32(scale) + np.float32(offset)
    save_xy("tf2_9_rescaling", x, normalize(y, mean, var))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    tf_adapted()
    tf_given()
    tf_k210()
    k3_adapted_axis1()
    k3_given()
    tf_rescaling()
