#!/usr/bin/env python3
"""Writes a small seed corpus of valid, signed inputs for the fuzz targets into fuzz/seeds/.

Random bytes almost never carry a valid ed25519 signature or a track id that matches its chunk
hashes, so without seeds the fuzzer stops at those checks. Mutating a valid seed keeps the
signature and id valid while the fuzzer changes other fields (hints, trailing bytes, text
normalisation), so the later checks are reached too. Needs Python 3 and `cryptography` (for
ed25519). The encodings follow core/src/model.rs, core/src/taste.rs, core/src/net/codec.rs and
recommender/src/profile.rs. Run from fuzz/: `python3 seeds.py`.
"""

import os
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# --- BLAKE3, only for inputs of at most one chunk (1024 bytes), enough for a track id ---

_IV = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
_PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
_CHUNK_START, _CHUNK_END, _ROOT = 1, 2, 8
_M32 = 0xFFFFFFFF


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & _M32


def _g(v, a, b, c, d, x, y):
    v[a] = (v[a] + v[b] + x) & _M32
    v[d] = _rotr(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & _M32
    v[b] = _rotr(v[b] ^ v[c], 12)
    v[a] = (v[a] + v[b] + y) & _M32
    v[d] = _rotr(v[d] ^ v[a], 8)
    v[c] = (v[c] + v[d]) & _M32
    v[b] = _rotr(v[b] ^ v[c], 7)


def _compress(cv, block, block_len, counter, flags):
    m = list(struct.unpack("<16I", block))
    v = cv[:] + _IV[:4] + [counter & _M32, counter >> 32, block_len, flags]
    for rnd in range(7):
        _g(v, 0, 4, 8, 12, m[0], m[1])
        _g(v, 1, 5, 9, 13, m[2], m[3])
        _g(v, 2, 6, 10, 14, m[4], m[5])
        _g(v, 3, 7, 11, 15, m[6], m[7])
        _g(v, 0, 5, 10, 15, m[8], m[9])
        _g(v, 1, 6, 11, 12, m[10], m[11])
        _g(v, 2, 7, 8, 13, m[12], m[13])
        _g(v, 3, 4, 9, 14, m[14], m[15])
        if rnd < 6:
            m = [m[i] for i in _PERM]
    return [v[i] ^ v[i + 8] for i in range(8)]


def blake3_small(data):
    assert len(data) <= 1024
    blocks = [data[i:i + 64] for i in range(0, len(data), 64)] or [b""]
    cv = _IV[:]
    for i, blk in enumerate(blocks):
        flags = 0
        if i == 0:
            flags |= _CHUNK_START
        if i == len(blocks) - 1:
            flags |= _CHUNK_END | _ROOT
        cv = _compress(cv, blk.ljust(64, b"\0"), len(blk), 0, flags)
    return struct.pack("<8I", *cv)


assert blake3_small(b"").hex() == (
    "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
assert blake3_small(b"abc").hex() == (
    "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85")

# --- encodings ---


def key(seed_byte):
    sk = Ed25519PrivateKey.from_private_bytes(bytes([seed_byte]) * 32)
    pk = sk.public_key().public_bytes_raw()
    return sk, pk


def wstr(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def wbytes(b):
    return struct.pack(">I", len(b)) + b


def manifest(sk, pk, title, tags, file_size, chunk_size):
    n = -(-file_size // chunk_size)
    chunks = [blake3_small(bytes([i]) * 8) for i in range(n)]
    track_id = blake3_small(b"busker track id v1\0" + struct.pack(">QI", file_size, chunk_size)
                            + b"".join(chunks))
    body = (b"BKM\0" + bytes([1]) + track_id + pk
            + struct.pack(">QQI", 1_700_000_000, file_size, chunk_size)
            + bytes([1]) + wstr("flac") + struct.pack(">IB", 44100, 2)
            + struct.pack(">Q", 183_000)
            + wstr(title) + wstr("Busker Band") + wstr("Streets")
            + bytes([len(tags)]) + b"".join(wstr(t) for t in tags)
            + struct.pack(">I", n) + b"".join(chunks))
    return body + sk.sign(b"busker manifest signature v1\0" + body)


def profile(pk, version, items, follows):
    out = b"BTP" + bytes([1]) + pk + struct.pack("<QH", version, len(items))
    for k, w in sorted(items):
        out += k + struct.pack("<f", w)
    out += struct.pack("<H", len(follows)) + b"".join(sorted(follows))
    return out


def signed_profile(sk, body):
    return body, sk.sign(b"busker taste profile v1\0" + body)


def taste_message(signed, hint):
    out = b"BTM" + bytes([1]) + struct.pack(">H", len(signed))
    for body, sig in signed:
        out += wbytes(body) + sig
    return out + struct.pack(">H", len(hint)) + b"".join(hint)


def main():
    a_sk, a_pk = key(9)
    b_sk, b_pk = key(10)
    item = lambda b: bytes([b]) * 32
    seeds = {}

    m1 = manifest(a_sk, a_pk, "Spring of love", ["folk", "street"], 100_000, 64 * 1024)
    m2 = manifest(b_sk, b_pk, "Rain", [], 16 * 1024, 16 * 1024)
    seeds["manifest"] = [m1, m2]
    seeds["announcement"] = [bytes([1]) + m1, bytes([1]) + m2]

    pa = profile(a_pk, 3, [(item(1), 1.0), (item(2), 2.5), (item(7), 16.0)], [b_pk])
    pb = profile(b_pk, 1, [(item(3), 0.5)], [])
    sa, sb = signed_profile(a_sk, pa), signed_profile(b_sk, pb)
    seeds["taste_profile"] = [pa, pb, profile(a_pk, 0, [], [])]
    msg1 = taste_message([sa], [])
    msg2 = taste_message([sa, sb], [b_pk, item(5)])
    seeds["taste_message"] = [msg1, msg2, sa[0] + sa[1], sb[0] + sb[1]]

    tid = bytes.fromhex(m1[5:37].hex())
    seeds["transfer_request"] = [
        b"\x01\x01" + tid,
        b"\x01\x02" + tid + struct.pack(">IH", 7, 3),
        b"\x01\x03\x00",
        b"\x01\x03\x01" + tid,
        b"\x01\x04" + struct.pack(">H", 2) + tid + item(4),
        b"\x01\x06" + wbytes(msg1),
        b"\x01\x07" + item(8) + struct.pack(">Q", 42),
        b"\x01\x08" + item(8),
    ]
    seeds["transfer_response"] = [
        b"\x01\x01\x00",
        b"\x01\x01\x01" + wbytes(m1),
        b"\x01\x02" + struct.pack(">IH", 7, 2) + wbytes(b"abc") + wbytes(b""),
        b"\x01\x03\x01" + struct.pack(">H", 2) + tid + b"\x01" + item(4) + b"\x00",
        b"\x01\x04" + struct.pack(">H", 2) + wbytes(m1) + wbytes(m2),
        b"\x01\x05",
        b"\x01\x06" + wbytes(msg2),
        b"\x01\x07" + struct.pack(">H", 1) + wbytes(b"segment"),
    ]

    for target, inputs in seeds.items():
        d = os.path.join("seeds", target)
        os.makedirs(d, exist_ok=True)
        for i, data in enumerate(inputs):
            with open(os.path.join(d, f"seed-{i}"), "wb") as f:
                f.write(data)
        print(f"{target}: {len(inputs)} seeds")


if __name__ == "__main__":
    main()
