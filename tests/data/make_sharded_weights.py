"""Writes the sharded weights in sharded/ (run with numpy and h5py installed:
python3 make_sharded_weights.py) as Keras 3.10+ model.save_weights(
"NAME.weights.json", max_shard_size=...) lays them out, for the model

    Sequential([Input((5, 3)), LSTM(4, return_sequences=True), LSTM(3), Dense(2)])

The writer follows keras/src/saving/saving_lib.py (ShardedH5IOStore,
_save_state): every object with a name gets its vars group, with a "name"
attribute, in the shard being written when it is visited; a variable that
would take the shard past max_shard_size starts the next shard, where its
group is made again, without attributes. The index maps each group that
received variables to its shard, from Keras 3.11 to the list of its shards
when they were split (3.10 kept only the first).

lstm.weights.json (3.11+) splits lstm's cell over three shards and
lstm_1's over two; lstm.weights.h5 holds the same values unsharded
(H5IOStore) to compare with; k310.weights.json is the same save by Keras
3.10, which neither Keras nor ckeras can load back (the split groups name
one shard each)."""
import json
import os

import h5py
import numpy as np

# (object path, name attribute, variables in save_own_variables order)
def model_objects():
    rng = np.arange(1000, dtype=np.float32)

    def values(shape, offset):
        n = int(np.prod(shape))
        return ((rng[offset:offset + n] % 17 - 8) / 16).reshape(shape)

    return [
        ("", "sequential", []),
        ("layers/lstm", "lstm", []),
        ("layers/lstm/cell", "lstm_cell",
         [values((3, 16), 0), values((4, 16), 1), values((16,), 2)]),
        ("layers/lstm_1", "lstm_1", []),
        ("layers/lstm_1/cell", "lstm_cell_1",
         [values((4, 12), 3), values((3, 12), 4), values((12,), 5)]),
        ("layers/dense", "dense", [values((3, 2), 6), values((2,), 7)]),
    ]


def make_group(f, path, name=None):
    g = f.create_group(path).create_group("vars") if path else f.create_group("vars")
    if name is not None:
        g.attrs["name"] = name
    return g


def write_unsharded(path):
    with h5py.File(path, "w") as f:
        for obj, name, variables in model_objects():
            g = make_group(f, obj, name)
            for i, v in enumerate(variables):
                g[str(i)] = v


def write_sharded(index_path, max_bytes, keras310=False):
    folder = os.path.dirname(index_path)
    base = os.path.basename(index_path)[: -len(".weights.json")]
    shards = []
    weight_map = {}
    total = 0.0
    current = 0

    def new_shard():
        name = f"{base}_{len(shards):05}.weights.h5"
        shards.append(h5py.File(os.path.join(folder, name), "w"))
        return name

    shard_name = new_shard()
    for obj, name, variables in model_objects():
        group = make_group(shards[-1], obj, name)
        for i, v in enumerate(variables):
            size = v.size * 32 / 8  # dtype_size("float32") is in bits
            total += size
            current += size
            if current > max_bytes:
                shards[-1].close()
                shard_name = new_shard()
                group = None
                current = size
            if group is None:
                group = make_group(shards[-1], obj)
            group[str(i)] = v
            entry = weight_map.get(group.name)
            if entry is None:
                weight_map[group.name] = shard_name
            elif not keras310:
                if not isinstance(entry, list):
                    entry = weight_map[group.name] = [entry]
                if shard_name not in entry:
                    entry.append(shard_name)
    shards[-1].close()
    config = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(index_path, "w") as f:
        f.write(json.dumps(config, indent=4))


os.makedirs("sharded", exist_ok=True)
write_unsharded("sharded/lstm.weights.h5")
# max_shard_size=300 / 1024**3 (in GB): the largest variable is 256 bytes.
write_sharded("sharded/lstm.weights.json", 300)
write_sharded("sharded/k310.weights.json", 300, keras310=True)
