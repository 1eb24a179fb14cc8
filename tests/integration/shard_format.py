"""An independent reader of ringtrain's shard format, written from docs/DATA_FORMAT.md with numpy
alone, so the tests check the bytes on disk against the documentation, not against ringtrain's own
reader."""
import json
import os
import struct

import numpy as np

ELEMENT_TYPES = {1: np.uint8, 2: np.float16, 3: np.float32, 4: np.int64, 5: np.uint16, 6: np.int32}


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def read_shard(path):
    """{'kind', 'shape', 'count', 'num_classes', 'scale', 'features', 'labels'} of one shard file,
    after checking its magic, both checksums and its size."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == b"RINGSHRD", path
    version, kind, dtype, rank = struct.unpack_from("<4I", raw, 8)
    assert version == 1
    shape = list(struct.unpack_from("<8q", raw, 24)[:rank])
    count, num_classes = struct.unpack_from("<2q", raw, 88)
    (scale,) = struct.unpack_from("<d", raw, 104)
    data_crc, header_crc = struct.unpack_from("<2I", raw, 112)
    header = bytearray(raw[:4096])
    header[116:120] = b"\0\0\0\0"
    assert crc32c(header) == header_crc, path
    assert crc32c(raw[4096:]) == data_crc, path
    element = np.dtype(ELEMENT_TYPES[dtype]).newbyteorder("<")
    if kind == 2:  # tokens
        features = np.frombuffer(raw, element, count, 4096)
        assert len(raw) == 4096 + features.nbytes
        return dict(kind="tokens", shape=[], count=count, num_classes=num_classes, scale=scale,
                    features=features, labels=None)
    per_sample = int(np.prod(shape))
    features = np.frombuffer(raw, element, count * per_sample, 4096).reshape([count] + shape)
    labels_at = 4096 + (features.nbytes + 7) // 8 * 8
    labels = np.frombuffer(raw, np.dtype("<i8"), count, labels_at)
    assert len(raw) == labels_at + 8 * count, path
    return dict(kind="samples", shape=shape, count=count, num_classes=num_classes, scale=scale,
                features=features, labels=labels)


def read_dataset(directory):
    """(index, features, labels) of a whole data set, the shards in the index's order."""
    with open(os.path.join(directory, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    body = {key: value for key, value in index.items() if key != "index_crc32c"}
    compact = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert crc32c(compact.encode("utf-8")) == index["index_crc32c"], directory
    shards = [read_shard(os.path.join(directory, entry["file"])) for entry in index["shards"]]
    for entry, shard in zip(index["shards"], shards):
        assert entry["count"] == shard["count"]
        assert entry["bytes"] == os.path.getsize(os.path.join(directory, entry["file"]))
    features = np.concatenate([s["features"] for s in shards])
    labels = None if index["kind"] == "tokens" else np.concatenate([s["labels"] for s in shards])
    return index, features, labels
