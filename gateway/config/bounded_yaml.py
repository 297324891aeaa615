"""Reading the routing YAML with bounds, so a hostile or broken file is refused quickly and by name.

PyYAML's `safe_load` has no limits: a 5,000-deep file exhausts the composer's recursion (a
`RecursionError`, not a `YAMLError`), and a few hundred bytes of nested aliases ("billion laughs")
stay cheap as a shared graph but explode in whatever walks them afterwards (msgspec, the `${VAR}`
substitution). ruamel.yaml refuses duplicate keys but has no depth or alias bound either, so
`BoundedLoader` is a SafeLoader that counts while composing, before anything is built:

- file size: `MAX_FILE_BYTES`, checked before parsing;
- nesting: at most `MAX_DEPTH` collections deep;
- size: at most `MAX_NODES` nodes, an alias counting as every node it expands to (linear time:
  each anchored node's expanded size is remembered), so expansion is bounded however it is nested;
- a mapping key may appear once (`auth:` twice would silently replace the first).

Errors are `YamlLimitError(path, message)`; gateway.config turns them into ConfigError.
"""

from __future__ import annotations

from typing import Any, Protocol

import yaml
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_FILE_BYTES = 1024 * 1024  # the shipped examples are under 10 KiB
MAX_DEPTH = 64  # the shipped files are 5 deep; an inline ComfyUI workflow adds about 4
MAX_NODES = 20_000  # with aliases expanded; the shipped example has 163 (20k plain values parse in ~1.4 s)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Mark(Protocol):  # yaml.error.Mark, or the C parser's
    line: int


class YamlLimitError(yaml.YAMLError):
    """A bound or a duplicate key; `path` is the dotted key path where it was found."""

    def __init__(self, path: str, message: str, mark: _Mark | None = None) -> None:
        line = f" (line {mark.line + 1})" if mark is not None else ""
        super().__init__(f"{message}{line}")
        self.path = path
        self.message = f"{message}{line}"


class BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []
        self._nodes = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> nodes it stands for
        self._where: dict[int, str] = {}  # id(node) -> its key path, for errors while constructing

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._path.append(_segment(index))
        try:
            if self.check_event(AliasEvent):
                return self._compose_alias(parent, index)
            if len(self._path) > MAX_DEPTH:
                top = self.path_text().replace("[", ".[").split(".")[:8]  # the start says where
                raise YamlLimitError(
                    ".".join(top).replace(".[", "[") + "...",
                    f"nested more than {MAX_DEPTH} levels deep",
                    self._peek().start_mark,
                )
            anchor = getattr(self._peek(), "anchor", None)
            before = self._nodes
            self._count(1)
            node = super().compose_node(parent, index)
            assert node is not None  # only an alias can compose to nothing, handled above
            if anchor is not None:
                self._sizes[id(node)] = self._nodes - before
            self._where[id(node)] = self.path_text()
            return node
        finally:
            self._path.pop()

    def _compose_alias(self, parent: Node | None, index: Any) -> Node:
        mark = self._peek().start_mark
        node = super().compose_node(parent, index)  # raises on an undefined alias
        size = self._sizes.get(id(node))
        if node is None or size is None:  # the alias points into its own anchor: an infinite structure
            raise YamlLimitError(self.path_text(), "an alias refers to a node that contains it", mark)
        self._count(size, mark)
        return node

    def _count(self, nodes: int, mark: _Mark | None = None) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            where = mark or self._peek().start_mark
            raise YamlLimitError(
                self.path_text(), f"more than {MAX_NODES} values (aliases counted expanded)", where
            )

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], ScalarNode] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue  # `<<: *base` keys may be overridden, as YAML's merge says
            first = seen.setdefault((key.tag, key.value), key)
            if first is not key:
                above = self.path_text()
                raise YamlLimitError(
                    f"{above}.{key.value}" if above else key.value,
                    f"duplicate key {key.value!r} at line {key.start_mark.line + 1}"
                    f" (first at line {first.start_mark.line + 1})",
                )
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """A scalar Python refuses (`2024-02-30`, a 5,000-digit int) names its path, not a traceback."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise YamlLimitError(self._where.get(id(node), ""), f"invalid value: {exc}", node.start_mark) from None

    def _peek(self) -> Event:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event

    def path_text(self) -> str:
        """`providers.x.settings[3]`: the keys above the node being composed (the root is skipped)."""
        text = ""
        for segment in self._path[1:]:
            text += segment if segment.startswith("[") or not text else f".{segment}"
        return text


def _segment(index: object) -> str:
    if isinstance(index, int):
        return f"[{index}]"
    if isinstance(index, ScalarNode):
        return str(index.value)
    return "?" if index is not None else "<key>"


def load_bounded(text: str) -> Any:
    """Parse one YAML document within the bounds above; YamlLimitError or yaml.YAMLError otherwise."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlLimitError("", f"file larger than {MAX_FILE_BYTES // 1024} KiB")
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
