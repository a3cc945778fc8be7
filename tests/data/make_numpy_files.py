"""Writes the numpy files in this directory (run with numpy installed:
python3 make_numpy_files.py). The tests read them as numpy wrote them."""
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
