"""An Article to a feed Entry: what a feed shows of it, its body rendered as safe HTML and
its summary."""

from __future__ import annotations

from feedsvc.config import Config
from feedsvc.errors import ArticleError
from feedsvc.model import Article, Entry
from feedsvc.render import MarkupError, Renderer, summary_text


def to_entry(article: Article, body: str, config: Config, renderer: Renderer) -> Entry:
    """Render what a feed shows of an article: its ``body`` as safe HTML, and its summary.

    Raises ArticleError for a body too large or deep to render within bounds."""
    try:
        content_html, first_paragraph = renderer.render(body, article.link)
    except MarkupError as exc:
        message = f"the body cannot be published: {exc}"
        raise ArticleError(article.path, message, show_cause=False) from exc
    if article.summary:
        summary = summary_text(article.summary)  # a summary someone wrote is kept whole
    else:
        summary = summary_text(first_paragraph, config.articles.summary_length)
    return rendered_entry(article, summary, content_html)


def rendered_entry(article: Article, summary: str, content_html: str) -> Entry:
    """The entry of ``article`` with its summary and body rendered (here, or kept)."""
    return Entry(
        entry_id=article.entry_id,
        link=article.link,
        title=article.title,
        published=article.published,
        updated=article.updated,
        summary=summary,
        content_html=content_html,
        tags=article.tags,
        author=article.author,
    )
