"""Best fit: the subset of hosts covering a GPU need with the least waste, then the fewest hosts.

Hosts come grouped by GPU count (few distinct sizes in practice), each group ordered by preference, so the
search is a small bounded knapsack over sizes, not over hosts; within a size the first hosts in order win.
"""

from __future__ import annotations


def caps_for(size, need, min_hosts):
    """Hosts of one size worth considering: more than max(min_hosts, ceil(need/size)) can never be optimal,
    because that many hosts of this size alone would already cover the need with less waste."""
    return max(min_hosts, -(-max(need, 0) // size), 0)


def best_fit(groups, need, min_hosts):
    """Choose hosts whose sizes sum to >= need with >= min_hosts hosts: least waste, then fewest hosts.

    groups: iterable of (size, [host names in preference order]); sizes > 0. Returns the chosen names (in group
    order) or None when no subset qualifies. Deterministic: equal (sum, count) choices resolve the same way.
    """
    groups = sorted((size, list(names)) for size, names in groups if size > 0 and names)
    max_size = max((size for size, _ in groups), default=1)
    limit = max(min_hosts * max_size, need + max_size - 1, 0)
    # layers[i][total] is a bitmask of host counts reachable with groups i.. summing to `total`.
    layers = [None] * (len(groups) + 1)
    base = [0] * (limit + 1)
    base[0] = 1
    layers[len(groups)] = base
    for index in range(len(groups) - 1, -1, -1):
        size, names = groups[index]
        previous = layers[index + 1]
        current = list(previous)
        for taken in range(1, len(names) + 1):
            shift = taken * size
            if shift > limit:
                break
            for total in range(shift, limit + 1):
                mask = previous[total - shift]
                if mask:
                    current[total] |= mask << taken
        layers[index] = current
    top = layers[0]
    for total in range(max(need, 0), limit + 1):
        mask = top[total] >> max(min_hosts, 0)
        if mask:
            count = max(min_hosts, 0) + (mask & -mask).bit_length() - 1
            break
    else:
        return None
    chosen = []
    for index, (size, names) in enumerate(groups):
        following = layers[index + 1]
        for taken in range(0, len(names) + 1):
            if taken * size > total or taken > count:
                break
            if (following[total - taken * size] >> (count - taken)) & 1:
                chosen.extend(names[:taken])
                total -= taken * size
                count -= taken
                break
    return chosen
