"""Writes the numpy (and h5py) files in this directory (run with numpy and
h5py installed: python3 make_numpy_files.py). The tests read them as numpy
and h5py wrote them."""
import h5py
import numpy as np

x = np.arange(12, dtype=np.float64).reshape(3, 4) / 8.0
ids = np.array([2, 0, 1], dtype=np.int64)
names = np.array(["thanks", "hello", "iloveyou"])  # dtype <U8

np.savez("arrays.npz", x=x, ids=ids, labels=names)
np.savez_compressed("arrays_compressed.npz", x=x, ids=ids, labels=names)
np.savez("single.npz", np.float32([1.5, -2.0]))  # one array, named arr_0
np.save("labels_str.npy", names)
np.save("labels_bytes.npy", names.astype("S"))  # dtype |S8
np.save("labels_big_endian.npy", names.astype(">U10"))
np.save("labels_unicode.npy", np.array(["caf\u00e9", "\u65e5\u672c", "\U0001F44B"]))

# h5py's own LZF filter, which libhdf5 does not have.
with h5py.File("lzf_x.h5", "w") as f:
    f.create_dataset("x", data=np.arange(6, dtype="f4").reshape(3, 2), compression="lzf")

# numpy bool as h5py writes it: an enum of FALSE = 0 and TRUE = 1.
with h5py.File("bool_y.h5", "w") as f:
    f.create_dataset("y", data=np.array([[True], [False], [True]]))

# Attributes of every kind h5py writes, on the file, a group and the
# dataset: the HDF5 screen walks each datatype and must accept them all.
with h5py.File("attrs_x.h5", "w") as f:
    kinds = {
        "flag": True,
        "count": np.int64(7),
        "scale": np.float32(0.5),
        "ratio": 0.25,
        "name": "walk",
        "names": ["jump", "wave", "sit down"],
        "fixed": np.bytes_("abc"),
        "fixed_list": np.array([b"a", b"bcd"]),
        "shape": np.array([30, 126], dtype="i4"),
        "grid": np.arange(6, dtype="f8").reshape(2, 3),
        "flags": np.array([True, False, True]),
        "complex": np.complex64(1 + 2j),
        "pair": np.array([(1, 2.5)], dtype=[("a", "i4"), ("b", "f4")]),
        "opaque": np.void(b"\x01\x02\x03"),
        "colour": np.array(2, dtype=h5py.enum_dtype({"red": 0, "green": 1, "blue": 2}, basetype="u1")),
        "vec": np.array([(1, 2, 3)], dtype=np.dtype("(3,)i2")),
        "empty": h5py.Empty("f4"),
    }
    g = f.create_group("meta")
    x = f.create_dataset("x", data=np.arange(6, dtype="f4").reshape(3, 2))
    for target in (f, g, x):
        for key, value in kinds.items():
            target.attrs[key] = value
