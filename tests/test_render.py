from __future__ import annotations

import pytest
from lxml import html as lxml_html

from feedsvc.render import Renderer, summary_text

BASE = "https://news.example.org/story/"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<iframe src="https://evil.example/"></iframe>',
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        '<svg onload="alert(1)"><circle/></svg>',
        '<p style="background:url(javascript:alert(1))">x</p>',
        '<object data="evil.swf"></object><embed src="evil.swf">',
        '<form action="https://evil.example/"><input name="a"></form>',
        "<style>body{display:none}</style>",
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    ],
)
def test_hostile_markup_is_stripped(renderer: Renderer, hostile: str) -> None:
    html, _ = renderer.render(f"Before.\n\n{hostile}\n\nAfter.", BASE)
    tree = lxml_html.fragment_fromstring(html, create_parent="div")
    banned = {"script", "iframe", "object", "embed", "form", "input", "style", "svg"}
    assert not [element.tag for element in tree.iter() if element.tag in banned]
    for element in tree.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on")
            assert name != "style" or "url(" not in value
            if name in ("href", "src"):
                assert value.startswith(("https://", "http://")), value
    assert "After." in html


def test_ordinary_formatting_links_images_and_tables_survive(renderer: Renderer) -> None:
    markdown = (
        "Some *emphasis*, **strong**, `code` and [a link](https://example.org/).\n\n"
        "![A chart](https://example.org/chart.png)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n- one\n- two\n\n```\nblock\n```\n"
    )
    html, _ = renderer.render(markdown, BASE)
    tree = lxml_html.fragment_fromstring(html, create_parent="div")
    assert tree.find(".//em").text == "emphasis"
    assert tree.find(".//strong").text == "strong"
    assert tree.find(".//a").get("href") == "https://example.org/"
    assert tree.find(".//img").get("src") == "https://example.org/chart.png"
    assert tree.find(".//img").get("alt") == "A chart"
    assert [td.text for td in tree.iterfind(".//td")] == ["1", "2"]
    assert tree.find(".//blockquote") is not None and tree.find(".//pre/code") is not None


@pytest.mark.parametrize(
    ("markdown", "attribute", "expected"),
    [
        ("[about](/about/)", "href", "https://news.example.org/about/"),
        ("[next](next/)", "href", "https://news.example.org/story/next/"),
        ("[top](#top)", "href", "https://news.example.org/story/#top"),
        ("![chart](images/chart.png)", "src", "https://news.example.org/story/images/chart.png"),
        ('<img src="../up.png">', "src", "https://news.example.org/up.png"),
        ("[cdn](//cdn.example.org/x)", "href", "https://cdn.example.org/x"),
    ],
)
def test_relative_urls_become_absolute(
    renderer: Renderer, markdown: str, attribute: str, expected: str
) -> None:
    html, _ = renderer.render(markdown, BASE)
    element = lxml_html.fragment_fromstring(html, create_parent="div").find(
        ".//*[@" + attribute + "]"
    )
    assert element.get(attribute) == expected


def test_first_paragraph_is_plain_text(renderer: Renderer) -> None:
    _, first = renderer.render(
        "![img](x.png)\n\n## Heading\n\nThe *first* [para](/x) <b>here</b>.", BASE
    )
    assert " ".join(first.split()) == "The first para here."


@pytest.mark.parametrize(
    ("title", "plain"),
    [
        ("The *Real* Cost of **Bread** & Butter", "The Real Cost of Bread & Butter"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("<em>Storm</em>   warning", "Storm warning"),
        ("`code` in [a link](https://x.org)", "code in a link"),
        ("CafÃ© reopens â€” finally", "Café reopens — finally"),
        ("Plain title", "Plain title"),
    ],
)
def test_inline_text_is_plain(renderer: Renderer, title: str, plain: str) -> None:
    assert renderer.inline_text(title) == plain


def test_summary_text_strips_markup_and_cuts(renderer: Renderer) -> None:
    assert (
        summary_text("Hello <script>x()</script><b>world</b> &amp; all", 300) == "Hello world & all"
    )
    cut = summary_text("word " * 200, 100)
    assert len(cut) <= 100 and cut.endswith("…")
