"""RFC 9162 (§2.1) Merkle tree hashing with SHA-256 or SM3, kept as a compact range: pure, no I/O.

leaf = H(0x00 ‖ entry), node = H(0x01 ‖ left ‖ right), empty tree = H(""). A tree of n leaves is held by
its *frontier*: the roots of the perfect subtrees that n's binary digits describe, largest (leftmost)
first — at most 64 hashes, whatever n. Appending a leaf merges equal-sized subtrees like carries in
binary addition; the root folds the frontier from the right, which is exactly RFC 9162's MTH (the left
subtree of n leaves holds the largest power of two below n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from cryptography.hazmat.primitives import hashes

HashName = Literal["sha256", "sm3"]
HASH_NAMES: tuple[HashName, ...] = ("sha256", "sm3")
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def _digest_function(name: HashName) -> Callable[[bytes], bytes]:
    if name == "sha256":
        sha256 = hashlib.sha256
        return lambda data: sha256(data).digest()
    if "sm3" in hashlib.algorithms_available:  # the system OpenSSL's, when it has one: faster per call
        new = hashlib.new
        return lambda data: new("sm3", data).digest()

    def sm3(data: bytes) -> bytes:
        digest = hashes.Hash(hashes.SM3())
        digest.update(data)
        return digest.finalize()

    return sm3


class Hasher:
    """The leaf and node hashes of one algorithm."""

    __slots__ = ("digest", "name")

    def __init__(self, name: HashName) -> None:
        if name not in HASH_NAMES:
            raise ValueError(f"unknown hash {name!r}: one of {', '.join(HASH_NAMES)}")
        self.name = name
        self.digest = _digest_function(name)

    def leaf(self, entry: bytes) -> bytes:
        return self.digest(LEAF_PREFIX + entry)

    def node(self, left: bytes, right: bytes) -> bytes:
        return self.digest(NODE_PREFIX + left + right)

    def empty(self) -> bytes:
        return self.digest(b"")


def frontier_heights(size: int) -> list[int]:
    """The heights of the frontier's subtrees for a tree of `size` leaves, left to right."""
    return [bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]


def range_heights(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The leaves [start, end) as aligned perfect subtrees, left to right: (first leaf, height) each.

    Appended in this order to a tree of `start` leaves, they give the tree of `end` leaves.
    """
    while start < end:
        height = (start & -start).bit_length() - 1 if start else end.bit_length()
        while start + (1 << height) > end:
            height -= 1
        yield start, height
        start += 1 << height


class Frontier:
    """A tree of `size` leaves, kept as its frontier; append leaves (or aligned subtrees) and read roots."""

    __slots__ = ("hasher", "nodes", "size")

    def __init__(self, hasher: Hasher, size: int = 0, nodes: Iterable[bytes] = ()) -> None:
        self.hasher = hasher
        self.size = size
        self.nodes = list(nodes)
        if len(self.nodes) != bin(size).count("1") or any(len(n) != 32 for n in self.nodes):
            raise ValueError(f"a frontier of {size} leaves has {bin(size).count('1')} hashes of 32 bytes")

    def copy(self) -> Frontier:
        return Frontier(self.hasher, self.size, self.nodes)

    def append(self, leaf_hash: bytes) -> None:
        node, carry, nodes, node_hash = leaf_hash, self.size, self.nodes, self.hasher.node
        while carry & 1:
            node = node_hash(nodes.pop(), node)
            carry >>= 1
        nodes.append(node)
        self.size += 1

    def append_subtree(self, root: bytes, height: int) -> None:
        """Append 2**height leaves at once, given the root of their perfect subtree (the tree's size must
        be a multiple of 2**height, as `range_heights` guarantees)."""
        if self.size & ((1 << height) - 1):
            raise ValueError(f"a subtree of height {height} cannot start after leaf {self.size}")
        node, carry = root, self.size >> height
        while carry & 1:
            node = self.hasher.node(self.nodes.pop(), node)
            carry >>= 1
        self.nodes.append(node)
        self.size += 1 << height

    def root(self) -> bytes:
        if not self.nodes:
            return self.hasher.empty()
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = self.hasher.node(node, root)
        return root


def subtree_root(hasher: Hasher, leaf_hashes: Iterable[bytes]) -> bytes:
    """The root of the tree of these leaves (a perfect subtree's root when there are 2**h of them)."""
    frontier = Frontier(hasher)
    for leaf in leaf_hashes:
        frontier.append(leaf)
    return frontier.root()
