"""RFC 6962 / RFC 9162 Merkle tree over the decision log, in seq order.

Leaf data is the 32 bytes of a record's ``hash`` (its hex text decoded), so
``leaf = sha256(0x00 || bytes.fromhex(record.hash))`` and
``node = sha256(0x01 || left || right)``. A record's hash already covers its
whole content and the previous record's hash, so the tree pins the chain.

The proof functions never see the leaves: they ask ``subtree(level, index)``
for the root of a *perfect* subtree (2**level leaves starting at leaf
``index * 2**level``). Every range the RFC's recursion splits off is either
such a subtree or is split further, so a proof over n leaves needs O(log² n)
stored nodes at worst, never a walk of the leaves. ``needed_subtrees`` lists
them beforehand, so a store can fetch them all in one query.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Iterable

Subtree = Callable[[int, int], bytes]  # (level, index) -> root hash of that perfect subtree
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def record_leaf(record_hash_hex: str) -> bytes:
    return leaf_hash(bytes.fromhex(record_hash_hex))


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def _is_power_of_two(size: int) -> bool:
    return size & (size - 1) == 0


class Tree:
    """The RFC's MTH, PATH and PROOF over leaves [0, size) read through ``subtree``."""

    def __init__(self, subtree: Subtree):
        self.subtree = subtree

    def root(self, start: int, end: int) -> bytes:
        size = end - start
        if size == 0:
            return EMPTY_ROOT
        if _is_power_of_two(size):  # ranges split off by the recursion are aligned to their size
            level = size.bit_length() - 1
            return self.subtree(level, start >> level)
        k = _split(size)
        return node_hash(self.root(start, start + k), self.root(start + k, end))

    def inclusion_path(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        return self._path(index, 0, size)

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _split(end - start)
        if index < start + k:
            return self._path(index, start, start + k) + [self.root(start + k, end)]
        return self._path(index, start + k, end) + [self.root(start, start + k)]

    def consistency_path(self, first: int, second: int) -> list[bytes]:
        if not 0 < first <= second:
            raise ValueError(f"no consistency proof from {first} to {second}")
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        if m == end - start:
            return [] if whole else [self.root(start, end)]
        k = _split(end - start)
        if m <= k:
            return self._subproof(m, start, start + k, whole) + [self.root(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.root(start, start + k)]


def needed_subtrees(work: Callable[[Tree], object]) -> set[tuple[int, int]]:
    """The (level, index) pairs ``work`` reads: which nodes a proof needs does not
    depend on their values, so a dry run with dummy hashes finds them."""
    seen: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        seen.add((level, index))
        return EMPTY_ROOT

    work(Tree(record))
    return seen


def perfect_subtrees(size: int) -> list[tuple[int, int]]:
    """The right edge of a tree of ``size`` leaves: its perfect subtrees, left to right."""
    out, offset = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, offset >> level))
            offset += 1 << level
    return out


class Frontier:
    """The compact range of a growing tree: one hash per set bit of its size.
    Appending a leaf costs O(1) hashes amortised; the root is O(log n)."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.hashes = list(hashes)  # roots of perfect_subtrees(size), left to right
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError("a frontier needs one hash per set bit of its size")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; return the perfect subtrees it completes as (level, index, hash)."""
        index, node, level = self.size, leaf, 0
        completed = [(0, index, leaf)]
        while index >> level & 1:  # the left sibling at this level is on the frontier
            node = node_hash(self.hashes.pop(), node)
            level += 1
            completed.append((level, index >> level, node))
        self.hashes.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not path and first_root == second_root
    if not 0 < first < second or not path:
        return False
    if _is_power_of_two(first):
        path = [first_root] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
