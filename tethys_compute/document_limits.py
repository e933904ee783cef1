"""Bounds for documents read from users: size, nesting, YAML aliases, message length.

A few hundred bytes can cost gigabytes: YAML aliases that repeat a list of
lists (a "billion laughs"), JSON nested a hundred thousand levels deep (a
``RecursionError``), a value echoed back in full in an error message.
``schedulers import`` checks every document with these functions before it
builds anything from it; every message they make is short.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import yaml

from tethys_compute.exceptions import InvalidArgumentError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_MESSAGE",
    "MAX_NESTING",
    "DocumentLimitError",
    "cap",
    "check_json_nesting",
    "check_yaml_tree",
    "compose_yaml",
    "read_document",
]

#: Largest document read (bytes): thousands of scheduler definitions.
MAX_DOCUMENT_BYTES = 1_000_000
#: Deepest nesting of lists and mappings (an export nests 3 levels).
MAX_NESTING = 32
#: Most YAML nodes in one document.
MAX_NODES = 200_000
#: Longest single error message (characters).
MAX_MESSAGE = 500


class DocumentLimitError(InvalidArgumentError):
    """A document is too large, too deep or uses a YAML feature refused here.

    ``line`` is the 1-based line of the problem (0 when it is the whole document).
    """

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def cap(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def read_document(stream: IO[bytes], limit: int = MAX_DOCUMENT_BYTES) -> str:
    """Read at most ``limit`` bytes of UTF-8 text from ``stream``.

    Raises
    ------
    DocumentLimitError
        When there is more, or the bytes are not UTF-8.
    """
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise DocumentLimitError(f"the file is larger than {limit} bytes; split it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentLimitError(f"the file is not UTF-8 text (byte {exc.start})") from None


def check_json_nesting(text: str, limit: int = MAX_NESTING) -> None:
    """Refuse JSON text whose lists and objects nest deeper than ``limit`` (strings skipped).

    Raises
    ------
    DocumentLimitError
        With the line where the nesting goes too deep.
    """
    depth = 0
    line = 1
    in_string = escaped = False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise DocumentLimitError(f"lists and objects nest deeper than {limit} levels", line)
        elif char in "]}":
            depth -= 1


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_mapping(node: yaml.MappingNode) -> None:
    seen: set[str] = set()
    for key, _value in node.value:
        line = key.start_mark.line + 1
        if key.tag == "tag:yaml.org,2002:merge":
            raise DocumentLimitError("merge keys ('<<') are not supported; write the keys", line)
        if isinstance(key, yaml.ScalarNode):
            if key.value in seen:
                raise DocumentLimitError(f"the key {cap(key.value, 60)!r} appears twice", line)
            seen.add(key.value)


def compose_yaml(text: str, limit: int = MAX_NESTING) -> yaml.Node | None:
    """Compose one YAML document (safe tags) after refusing aliases, and check its tree.

    Raises
    ------
    DocumentLimitError
        For an alias (``*name``), a merge key, a repeated key, nesting deeper
        than ``limit`` or more than :data:`MAX_NODES` values, with its line.
    yaml.YAMLError
        For text that is not YAML.
    """
    depth = 0
    # Events come one at a time: stop at the first problem, before PyYAML's work on
    # deep nesting (quadratic in the depth) or on aliases can grow.
    for count, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            raise DocumentLimitError(
                "YAML aliases ('*name') are not supported; write the value out", line
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                raise DocumentLimitError(
                    f"lists and mappings nest deeper than {limit} levels", line
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if count > 4 * MAX_NODES:
            raise DocumentLimitError(f"the document has more than {MAX_NODES} values", line)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    check_yaml_tree(root, limit)
    return root


def check_yaml_tree(root: yaml.Node | None, limit: int = MAX_NESTING) -> None:
    """Refuse a composed YAML document that shares nodes (aliases) or uses merge keys,
    repeats a key, nests deeper than ``limit`` or has more than :data:`MAX_NODES` nodes.

    Raises
    ------
    DocumentLimitError
        With the line of the first problem.
    """
    if root is None:
        return
    visited: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in visited:
            # A node met twice is an alias ("*name") of an anchored node.
            raise DocumentLimitError("YAML aliases ('*name') are not supported; write it out", line)
        visited.add(id(node))
        if len(visited) > MAX_NODES:
            raise DocumentLimitError(f"the document has more than {MAX_NODES} values", line)
        if depth > limit:
            raise DocumentLimitError(f"lists and mappings nest deeper than {limit} levels", line)
        if isinstance(node, yaml.MappingNode):
            _check_mapping(node)
        stack.extend((child, depth + 1) for child in _children(node))
