"""YAML front matter, read safely: no aliases, bounded size and depth, dates left as text.

A few hundred bytes of aliases stand for gigabytes once expanded, and deep nesting costs
recursion; both are refused while composing, from the parser's events, before anything is
built. Dates stay text so that feedsvc's own date parsing (and its checks) reads them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from feedsvc.articles.fields import too_long
from feedsvc.errors import ArticleError, quote_value

MAX_FRONT_MATTER_CHARS = 65_536
MAX_FRONT_MATTER_DEPTH = 16


def load_front_matter(yaml_text: str, path: Path) -> tuple[dict[Any, Any], dict[str, int]]:
    """The front matter as a dict, and the file's line number of each (scalar) key."""
    import yaml  # only articles with front matter need it

    if len(yaml_text) > MAX_FRONT_MATTER_CHARS:
        message = too_long("the front matter", len(yaml_text), MAX_FRONT_MATTER_CHARS)
        raise ArticleError(path, message, line=1)

    loader = _front_matter_loader()(yaml_text)
    try:
        root = _compose(loader, path)
        if root is None:
            return {}, {}
        if not isinstance(root, yaml.MappingNode):
            raise ArticleError(path, "front matter is not a set of 'key: value' lines", line=2)
        data = loader.construct_document(root)
    except (yaml.YAMLError, ValueError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 2 if mark is not None else 1
        message = f"invalid YAML front matter: {quote_value(problem, 200)[1:-1]}"
        raise ArticleError(path, message, line=line, show_cause=False) from exc
    finally:
        loader.dispose()
    lines = {
        str(key.value): key.start_mark.line + 2
        for key, _value in root.value
        if isinstance(key, yaml.ScalarNode)
    }
    return data, lines


def _compose(loader: Any, path: Path) -> Any:
    """The document's node tree, built from the parser's events as PyYAML's composer does,
    but refusing aliases (which let a few hundred bytes stand for gigabytes) and nesting
    deeper than MAX_FRONT_MATTER_DEPTH. Anchors alone are harmless and allowed."""
    from yaml import events, nodes

    loader.get_event()  # the stream's start
    if loader.check_event(events.StreamEndEvent):
        return None
    loader.get_event()  # the document's start
    open_nodes: list[tuple[Any, list[Any]]] = []
    root = None
    while not loader.check_event(events.DocumentEndEvent):
        event = loader.get_event()
        line = event.start_mark.line + 2
        if isinstance(event, events.AliasEvent):
            message = f"front matter uses the YAML alias *{event.anchor}: aliases are not allowed"
            raise ArticleError(path, message, line=line)
        if isinstance(event, events.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(nodes.ScalarNode, event.value, event.implicit)
            node = nodes.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, style=event.style
            )
        elif isinstance(event, (events.SequenceStartEvent, events.MappingStartEvent)):
            if len(open_nodes) >= MAX_FRONT_MATTER_DEPTH:
                message = f"front matter nests deeper than {MAX_FRONT_MATTER_DEPTH} levels"
                raise ArticleError(path, message, line=line)
            kind = (
                nodes.SequenceNode
                if isinstance(event, events.SequenceStartEvent)
                else nodes.MappingNode
            )
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(kind, None, event.implicit)
            collection = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            open_nodes.append((collection, []))
            continue
        else:  # the end of a sequence or a mapping
            node, children = open_nodes.pop()
            node.end_mark = event.end_mark
            if isinstance(node, nodes.MappingNode):
                node.value = list(zip(children[::2], children[1::2], strict=True))
            else:
                node.value = children
        if open_nodes:
            open_nodes[-1][1].append(node)
        else:
            root = node
    loader.get_event()  # the document's end
    if not loader.check_event(events.StreamEndEvent):
        raise ArticleError(path, "front matter holds more than one YAML document", line=2)
    return root


@cache
def _front_matter_loader() -> type:
    """A safe YAML loader that leaves dates as text, for feedsvc's own date parsing."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    resolvers = {
        first: [(tag, regexp) for tag, regexp in pairs if tag != "tag:yaml.org,2002:timestamp"]
        for first, pairs in base.yaml_implicit_resolvers.items()
    }
    return type("FrontMatterLoader", (base,), {"yaml_implicit_resolvers": resolvers})
