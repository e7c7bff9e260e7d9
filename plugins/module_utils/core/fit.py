"""Best fit: the subset of hosts covering a GPU need with the least waste, then the fewest hosts.

Hosts come grouped by GPU count (few distinct sizes in practice), each group ordered by preference, so the
search is a bounded knapsack over sizes, not over hosts. Reachable (sum, host count) pairs are bits of one big
integer (bit sum * width + count), so adding k hosts of a size is one shift-or; groups use binary splitting.
The composition chosen is canonical (fewest hosts of the smallest size first), so it depends only on which
compositions are feasible, and within a size the first hosts in order win.
"""

from __future__ import annotations


def caps_for(size, need, min_hosts):
    """Hosts of one size worth considering: more than max(min_hosts, ceil(need/size)) can never be optimal,
    because that many hosts of this size alone would already cover the need with less waste."""
    return max(min_hosts, -(-max(need, 0) // size), 0)


def best_fit(groups, need, min_hosts):
    """Choose hosts whose sizes sum to >= need with >= min_hosts hosts: least waste, then fewest hosts.

    groups: iterable of (size, [host names in preference order]); sizes > 0. Returns the chosen names (in size
    order) or None when no subset qualifies.
    """
    groups = sorted((size, list(names)) for size, names in groups if size > 0 and names)
    need, min_hosts = max(need, 0), max(min_hosts, 0)
    max_size = max((size for size, unused in groups), default=1)
    limit = max(min_hosts * max_size, need + max_size - 1)
    # A count never exceeds the hosts offered, nor limit // smallest size.
    width = min(sum(len(names) for unused, names in groups), limit // (groups[0][0] if groups else 1)) + 1
    full = (1 << ((limit + 1) * width)) - 1
    # layers[i]: bit (total * width + count) set when groups i.. can make `total` GPUs with `count` hosts.
    layers = [0] * len(groups) + [1]
    for index in range(len(groups) - 1, -1, -1):
        size, names = groups[index]
        reach, left, piece = layers[index + 1], len(names), 1
        while left > 0:
            take = min(piece, left)
            reach = (reach | (reach << (take * size * width + take))) & full
            left -= take
            piece *= 2
        layers[index] = reach
    row_mask = (1 << width) - 1
    for total in range(need, limit + 1):
        row = ((layers[0] >> (total * width)) & row_mask) >> min_hosts
        if row:
            count = min_hosts + (row & -row).bit_length() - 1
            break
    else:
        return None
    chosen = []
    for index, (size, names) in enumerate(groups):
        following = layers[index + 1]
        for taken in range(0, min(len(names), count) + 1):
            if taken * size > total:
                break
            if (following >> ((total - taken * size) * width + count - taken)) & 1:
                chosen.extend(names[:taken])
                total -= taken * size
                count -= taken
                break
    return chosen
