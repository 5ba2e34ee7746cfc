"""RFC 9162 tree hashing: the published RFC 6962 roots, and the compact frontier against the RFC's
recursive definition for every size, with SHA-256 and SM3."""

from __future__ import annotations

import pytest

from appliance.audit.merkle import Frontier, Hasher, HashName, frontier_heights, range_heights, subtree_root

# The Certificate Transparency reference leaves and the root of each tree of their first n (RFC 6962 test data).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def rfc_root(hasher: Hasher, leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 defines it: split at the largest power of two below n."""
    if not leaves:
        return hasher.empty()
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return hasher.node(rfc_root(hasher, leaves[:split]), rfc_root(hasher, leaves[split:]))


def test_roots_match_the_published_rfc_6962_test_vectors() -> None:
    hasher = Hasher("sha256")
    frontier = Frontier(hasher)
    assert frontier.root().hex() == CT_ROOTS[0]
    for size, leaf in enumerate(CT_LEAVES, start=1):
        frontier.append(hasher.leaf(bytes.fromhex(leaf)))
        assert frontier.root().hex() == CT_ROOTS[size], size


def test_sm3_is_the_gb_t_32905_hash() -> None:
    assert Hasher("sm3").digest(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@pytest.mark.parametrize("name", ["sha256", "sm3"])
def test_the_frontier_gives_the_rfc_root_for_every_size_and_resumes_from_its_stored_form(name: HashName) -> None:
    hasher = Hasher(name)
    leaves = [hasher.leaf(bytes([i, i * 7 % 256])) for i in range(70)]
    frontier = Frontier(hasher)
    for size in range(1, len(leaves) + 1):
        frontier.append(leaves[size - 1])
        assert frontier.root() == rfc_root(hasher, leaves[:size]), size
        assert len(frontier.nodes) == len(frontier_heights(size))
        resumed = Frontier(hasher, size, frontier.nodes)  # as the log's head stores it
        assert resumed.root() == frontier.root()


@pytest.mark.parametrize("start,end", [(0, 0), (0, 1), (0, 13), (5, 6), (5, 64), (37, 70), (64, 65), (1, 1024)])
def test_aligned_subtrees_after_a_prefix_give_the_same_tree_as_leaf_by_leaf(start: int, end: int) -> None:
    hasher = Hasher("sha256")
    leaves = [hasher.leaf(i.to_bytes(4, "big")) for i in range(end)]
    tree = Frontier(hasher)
    for leaf in leaves[:start]:
        tree.append(leaf)
    blocks = list(range_heights(start, end))
    for first, height in blocks:
        tree.append_subtree(subtree_root(hasher, leaves[first : first + (1 << height)]), height)

    assert tree.size == end
    assert tree.root() == rfc_root(hasher, leaves)
    assert sum(1 << height for _, height in blocks) == end - start


def test_a_subtree_must_be_aligned_and_a_frontier_must_fit_its_size() -> None:
    hasher = Hasher("sha256")
    tree = Frontier(hasher)
    tree.append(hasher.leaf(b"a"))
    with pytest.raises(ValueError):
        tree.append_subtree(hasher.leaf(b"b"), 1)
    with pytest.raises(ValueError):
        Frontier(hasher, 3, [hasher.leaf(b"a")])
