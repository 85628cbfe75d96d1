from __future__ import annotations

import pytest

from feedsvc.text import collapse, repair, truncate


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("negotiations â€” it will", "negotiations — it will"),
        ("CafÃ© SociÃ©tÃ©", "Café Société"),
        ("itâ€™s", "it’s"),
        ("naïve café", "naïve café"),
        ("“quoted”", "“quoted”"),
        ("a\x00b\x01c\x08d\x0be\x0cf\x1bg\x7fh\ufffei\ud800j", "abcdefghij"),
        ("Windows\x92 quote", "Windows’ quote"),
        ("tab\tnew\nline", "tab\tnew\nline"),
        ("日本語のテキスト", "日本語のテキスト"),
    ],
)
def test_repair_fixes_mojibake_and_drops_characters_xml_forbids(dirty: str, clean: str) -> None:
    assert repair(dirty) == clean


def test_collapse_makes_one_line() -> None:
    assert collapse("  a \n\t b  c ") == "a b c"


def test_truncate_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "Exploring the renewed peace talks and the challenges they face today"
    cut = truncate(text, 30)
    assert len(cut) <= 30
    assert cut.endswith("…")
    assert text.startswith(cut[:-1])
    assert text[len(cut) - 1] == " "


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate("short", 30) == "short"


def test_truncate_cuts_a_single_long_word() -> None:
    assert truncate("x" * 100, 30) == "x" * 29 + "…"
