"""Places in YAML files: node marks, and offsets inside a scalar mapped back to line:col."""

from __future__ import annotations

from yaml.nodes import Node, ScalarNode


def node_place(path: str, node: Node) -> str:
    mark = node.start_mark
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def scalar_offset_place(path: str, source: str, node: ScalarNode, offset: int) -> str:
    """file:line:col of character ``offset`` of a scalar's value.

    The value is what YAML made of the text (quotes removed, escapes decoded,
    lines folded). Its non-space characters appear in the same order in the
    raw text, so walking both side by side finds the raw position for plain,
    quoted and block scalars alike.
    """
    start, end = node.start_mark.index, node.end_mark.index
    if not (0 <= start <= end <= len(source)) or source[start:end].strip() == "":
        return node_place(path, node)
    if node.style in ('"', "'"):
        cursor = start + 1
    elif node.style in ("|", ">"):
        newline = source.find("\n", start, end)  # skip the block header line
        cursor = newline + 1 if newline >= 0 else start
    else:
        cursor = start
    value = node.value
    for ch in value[: max(0, min(offset, len(value)))]:
        if ch.isspace():
            continue
        found = source.find(ch, cursor, end)
        if found < 0:
            break
        cursor = found + 1
    if offset < len(value) and not value[offset].isspace():
        found = source.find(value[offset], cursor, end)
        if found >= 0:
            cursor = found
    line = source.count("\n", 0, cursor)
    column = cursor - (source.rfind("\n", 0, cursor) + 1)
    return f"{path}:{line + 1}:{column + 1}"
