"""Reading YAML config files safely: bounded size, UTF-8, no alias bombs, no duplicate keys.

Issue 9 item 12: a 2 KB "billion laughs" config (anchors whose aliases nest, each level
multiplying the size) took 81 s and 9.7 GB, and an error then printed its expanded value as a
2.1 GB line; a key written twice in a mapping was silently resolved last-wins. Item 11: a
config in another encoding ended in a ``UnicodeDecodeError`` traceback. Every way reading a
file can fail here is a one-line :class:`~miaudit.errors.ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from miaudit.errors import ConfigError, one_line, short_repr

#: Largest config file read (bytes). Real configs are a few KB.
MAX_FILE_BYTES = 1 << 20
#: Most alias uses (``*name``) in one file. Real configs use a handful, if any.
MAX_ALIASES = 100
#: Most values (scalars, lists, mappings) the document may stand for once its aliases are
#: expanded. A config with every attack and defense listed has a few hundred.
MAX_EXPANDED_NODES = 100_000
#: Deepest nesting of lists and mappings (PyYAML composes recursively).
MAX_DEPTH = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """Raised inside the loader; turned into a ConfigError naming the file."""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts aliases, limits nesting and rejects duplicate keys.

    Composition of an alias returns the anchored node itself (no copy), so counting alias
    events and, once the document is composed, the size of the tree they stand for is cheap
    and happens before any Python value is built.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused(
                    f"more than {MAX_ALIASES} aliases (*name) at line {mark.line + 1}; "
                    "write the values out"
                )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep at line {mark.line + 1}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def _check_duplicate_keys(loader: BoundedSafeLoader, node: yaml.MappingNode) -> None:
    """Refuse a key written twice in one mapping (``<<`` merges may still be overridden)."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
            seen.setdefault(key, line)
        except TypeError:  # unhashable: SafeConstructor reports it
            continue
        if first is not None:
            raise _Refused(
                f"duplicate key {short_repr(key)} at line {line} (first at line {first}); "
                "each key may appear once in a mapping"
            )


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the tree stands for with every alias expanded (shared nodes counted
    each time they are used), stopping as soon as the count passes the limit; refuses
    recursive aliases."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Refused("an alias refers to the list or mapping that contains it")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                raise _Refused(
                    f"its aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                    "(a YAML 'billion laughs'?); write the values out"
                )
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def read_yaml(path: str | Path) -> Any:
    """The parsed content of the YAML file ``path`` (None for an empty file).

    Raises:
        ConfigError: missing file, a directory, larger than :data:`MAX_FILE_BYTES`, not
            UTF-8, invalid YAML, duplicate keys, too many or recursive aliases, too deep.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"{path}: is not a file; pass the path of a YAML config")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: {size:,} bytes is too large for a config (at most {MAX_FILE_BYTES:,})"
        )
    text = _decode(path, path.read_bytes())
    loader = None
    try:
        loader = BoundedSafeLoader(text)  # reading starts here: NUL and control characters
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except _Refused as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML{_where(exc)}: {_problem(exc)}") from None
    except (ValueError, OverflowError) as exc:  # e.g. an int of > 4300 digits, a bad date
        problem = str(exc)
        if "integer string conversion" in problem:
            problem = "an integer with thousands of digits"
        raise ConfigError(f"{path}: invalid YAML value: {one_line(problem)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the config as UTF-8"
        ) from None


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
    return one_line(problem)


__all__ = ["BoundedSafeLoader", "read_yaml"]
