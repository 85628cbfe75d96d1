"""Safe, stable file names for tags and authors, whatever their text.

A slug is lower-case ASCII letters, digits and single hyphens (python-slugify, which
transliterates: "日本語" is "ri-ben-yu"), so it never holds "..", "/", NUL or a leading dot.
Names whose slug comes out empty, too long or a Windows device name get a hash of the name
instead or in addition; names that collide on one slug are told apart by such a hash. Every
hash is SHA-256, so slugs are the same in every process.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable

from slugify import slugify

MAX_SLUG = 64
SAFE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
)


def topic_key(name: str) -> str:
    """What two names must share to be one topic: Unicode-normalised (NFKC), case-folded,
    whitespace collapsed. "Café", "CAFÉ" and "cafe\\u0301" share one key."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def assign_slugs(keys: Iterable[str]) -> dict[str, str]:
    """A distinct slug for each of ``keys`` (topic keys), decided by the keys alone.

    Of keys that share a slug, the one that is its own slug (else the smallest) keeps it;
    each other gets "-" and the first 8 hexadecimal digits of its key's hash (all 64, should
    such a name still meet another's slug).
    """
    claims: dict[str, list[str]] = defaultdict(list)
    for key in sorted(set(keys)):
        claims[base_slug(key)].append(key)
    slugs: dict[str, str] = {}
    moved: list[str] = []
    for slug, claimants in claims.items():
        keeper = slug if slug in claimants else claimants[0]
        for key in claimants:
            slugs[key] = slug if key == keeper else f"{slug}-{_hash(key)[:8]}"
            moved += [] if key == keeper else [key]
    counts = Counter(slugs.values())
    for key in moved:
        if counts[slugs[key]] > 1:
            slugs[key] = f"{base_slug(key)}-{_hash(key)}"
    return slugs


def base_slug(key: str) -> str:
    """The slug of one topic key before collisions are settled."""
    slug = slugify(key)
    if not SAFE.fullmatch(slug):  # empty: "!!!", "..", an emoji
        return _hash(key)[:12]
    if len(slug) > MAX_SLUG:
        slug = slugify(key, max_length=MAX_SLUG - 9, word_boundary=True) or slug[: MAX_SLUG - 9]
        return f"{slug.rstrip('-')}-{_hash(key)[:8]}"
    if slug in WINDOWS_RESERVED:
        return f"{slug}-{_hash(key)[:8]}"
    return slug


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
