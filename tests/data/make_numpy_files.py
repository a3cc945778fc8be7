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
