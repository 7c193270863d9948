#!/usr/bin/env python3
"""Generate the character tables of rc_mcp/sanitize.py from this Python's unicodedata.

Run: python scripts/gen_sanitize_tables.py          (rewrites the generated block in rc_mcp/sanitize.py)
     python scripts/gen_sanitize_tables.py --check  (exit 1 if the module's block differs)

The module keeps the tables as literal data so that importing it never scans the 1,114,112 code points
(that takes about 0.3 s; the cold start of the server matters). tests/test_sanitize.py regenerates the
block and fails if it differs, when the Python running the tests has the Unicode version of the tables.

What clean() removes is the union of:
- general categories Cc, Cf, Cs and Co: from unicodedata.category();
- noncharacters: U+FDD0..U+FDEF and the last two code points of every plane (Unicode's definition, fixed);
- Default_Ignorable_Code_Point: unicodedata does not expose this property, so DEFAULT_IGNORABLE below
  copies it from DerivedCoreProperties-14.0.0.txt of the Unicode Character Database
  (https://www.unicode.org/Public/14.0.0/ucd/DerivedCoreProperties.txt, the version of Python 3.11's
  unicodedata). Unicode derives it as Other_Default_Ignorable_Code_Point + Cf + Variation_Selector
  - White_Space - FFF9..FFFB - 13430..13438 (Egyptian format controls) - Prepended_Concatenation_Mark
  (PropList-14.0.0.txt); cross_check() verifies the copy against unicodedata as far as that can: every
  entry has the category the file states, and every Cf is either listed or one of the documented
  exceptions (CF_NOT_DEFAULT_IGNORABLE). The entries that are not Cf (Other_Default_Ignorable_Code_Point
  and Variation_Selector) cannot be derived from unicodedata; they are unchanged since Unicode 14.0
  (U+180F, the fourth Mongolian selector, was added then).
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

MODULE = Path(__file__).resolve().parent.parent / "rc_mcp" / "sanitize.py"
BEGIN = "# BEGIN GENERATED TABLES: scripts/gen_sanitize_tables.py writes this block; do not edit it by hand."
END = "# END GENERATED TABLES"

DEFAULT_IGNORABLE_VERSION = "14.0.0"

# DerivedCoreProperties-14.0.0.txt, every line of "Default_Ignorable_Code_Point": first, last, category, name.
DEFAULT_IGNORABLE: tuple[tuple[int, int, str, str], ...] = (
    (0x00AD, 0x00AD, "Cf", "SOFT HYPHEN"),
    (0x034F, 0x034F, "Mn", "COMBINING GRAPHEME JOINER"),
    (0x061C, 0x061C, "Cf", "ARABIC LETTER MARK"),
    (0x115F, 0x1160, "Lo", "HANGUL CHOSEONG FILLER..HANGUL JUNGSEONG FILLER"),
    (0x17B4, 0x17B5, "Mn", "KHMER VOWEL INHERENT AQ..KHMER VOWEL INHERENT AA"),
    (0x180B, 0x180D, "Mn", "MONGOLIAN FREE VARIATION SELECTOR ONE..THREE"),
    (0x180E, 0x180E, "Cf", "MONGOLIAN VOWEL SEPARATOR"),
    (0x180F, 0x180F, "Mn", "MONGOLIAN FREE VARIATION SELECTOR FOUR"),
    (0x200B, 0x200F, "Cf", "ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK"),
    (0x202A, 0x202E, "Cf", "LEFT-TO-RIGHT EMBEDDING..RIGHT-TO-LEFT OVERRIDE"),
    (0x2060, 0x2064, "Cf", "WORD JOINER..INVISIBLE PLUS"),
    (0x2065, 0x2065, "Cn", "<reserved-2065>"),
    (0x2066, 0x206F, "Cf", "LEFT-TO-RIGHT ISOLATE..NOMINAL DIGIT SHAPES"),
    (0x3164, 0x3164, "Lo", "HANGUL FILLER"),
    (0xFE00, 0xFE0F, "Mn", "VARIATION SELECTOR-1..VARIATION SELECTOR-16"),
    (0xFEFF, 0xFEFF, "Cf", "ZERO WIDTH NO-BREAK SPACE"),
    (0xFFA0, 0xFFA0, "Lo", "HALFWIDTH HANGUL FILLER"),
    (0xFFF0, 0xFFF8, "Cn", "<reserved-FFF0>..<reserved-FFF8>"),
    (0x1BCA0, 0x1BCA3, "Cf", "SHORTHAND FORMAT LETTER OVERLAP..SHORTHAND FORMAT UP STEP"),
    (0x1D173, 0x1D17A, "Cf", "MUSICAL SYMBOL BEGIN BEAM..MUSICAL SYMBOL END PHRASE"),
    (0xE0000, 0xE0000, "Cn", "<reserved-E0000>"),
    (0xE0001, 0xE0001, "Cf", "LANGUAGE TAG"),
    (0xE0002, 0xE001F, "Cn", "<reserved-E0002>..<reserved-E001F>"),
    (0xE0020, 0xE007F, "Cf", "TAG SPACE..CANCEL TAG"),
    (0xE0080, 0xE00FF, "Cn", "<reserved-E0080>..<reserved-E00FF>"),
    (0xE0100, 0xE01EF, "Mn", "VARIATION SELECTOR-17..VARIATION SELECTOR-256"),
    (0xE01F0, 0xE0FFF, "Cn", "<reserved-E01F0>..<reserved-E0FFF>"),
)

# Format characters (Cf) that Unicode leaves out of Default_Ignorable_Code_Point because they are meant to
# be visible (PropList-14.0.0.txt: Prepended_Concatenation_Mark; the interlinear annotation controls;
# the Egyptian hieroglyph format controls). clean() removes them anyway, as every Cf; they are listed
# only so that cross_check() can tell a documented exception from a gap in DEFAULT_IGNORABLE.
CF_NOT_DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x0600, 0x0605),  # Prepended_Concatenation_Mark: ARABIC NUMBER SIGN..ARABIC NUMBER MARK ABOVE
    (0x06DD, 0x06DD),  # Prepended_Concatenation_Mark: ARABIC END OF AYAH
    (0x070F, 0x070F),  # Prepended_Concatenation_Mark: SYRIAC ABBREVIATION MARK
    (0x0890, 0x0891),  # Prepended_Concatenation_Mark: ARABIC POUND MARK ABOVE..ARABIC PIASTRE MARK ABOVE
    (0x08E2, 0x08E2),  # Prepended_Concatenation_Mark: ARABIC DISPUTED END OF AYAH
    (0xFFF9, 0xFFFB),  # INTERLINEAR ANNOTATION ANCHOR..TERMINATOR
    (0x110BD, 0x110BD),  # Prepended_Concatenation_Mark: KAITHI NUMBER SIGN
    (0x110CD, 0x110CD),  # Prepended_Concatenation_Mark: KAITHI NUMBER SIGN ABOVE
    (0x13430, 0x1343F),  # EGYPTIAN HIEROGLYPH format controls (13430..13438 in 14.0, up to 1343F since 15.0)
)

REMOVED_CATEGORIES = ("Cc", "Cf", "Cs", "Co")


def noncharacters() -> set[int]:
    """U+FDD0..U+FDEF and U+xFFFE, U+xFFFF of all 17 planes: never assigned, by Unicode's stability policy."""
    found = set(range(0xFDD0, 0xFDF0))
    for plane in range(17):
        found.update((plane << 16 | 0xFFFE, plane << 16 | 0xFFFF))
    return found


def default_ignorable() -> set[int]:
    return {cp for first, last, _, _ in DEFAULT_IGNORABLE for cp in range(first, last + 1)}


def cross_check() -> None:
    """Fail if DEFAULT_IGNORABLE disagrees with this Python's unicodedata where unicodedata can tell."""
    problems = []
    for first, last, category, name in DEFAULT_IGNORABLE:
        seen = {unicodedata.category(chr(cp)) for cp in range(first, last + 1)}
        if seen != {category}:
            problems.append(f"U+{first:04X}..U+{last:04X} {name}: listed as {category}, unicodedata says {seen}")
    excepted = {cp for first, last in CF_NOT_DEFAULT_IGNORABLE for cp in range(first, last + 1)}
    listed = default_ignorable()
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) == "Cf" and cp not in listed and cp not in excepted:
            problems.append(f"U+{cp:04X} is Cf but neither Default_Ignorable nor a documented exception")
    if problems:
        raise SystemExit(
            f"DEFAULT_IGNORABLE (Unicode {DEFAULT_IGNORABLE_VERSION}) does not fit unicodedata "
            f"{unicodedata.unidata_version}; update it from that version's DerivedCoreProperties.txt:\n"
            + "\n".join(problems)
        )


def removed_code_points() -> set[int]:
    by_category = {cp for cp in range(0x110000) if unicodedata.category(chr(cp)) in REMOVED_CATEGORIES}
    return by_category | default_ignorable() | noncharacters()


def ranges(code_points: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in sorted(code_points):
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def _why(first: int, last: int) -> str:
    """Short comment for a range: the reasons its code points are removed, and the first one's name."""
    ignorable, nonchars = default_ignorable(), noncharacters()
    reasons: list[str] = []
    for cp in range(first, last + 1):
        category = unicodedata.category(chr(cp))
        for reason in (
            category if category in REMOVED_CATEGORIES else None,
            "ignorable" if cp in ignorable else None,
            "nonchar" if cp in nonchars else None,
        ):
            if reason and reason not in reasons:
                reasons.append(reason)
    name = unicodedata.name(chr(first), "")
    more = f" and {last - first} more" if last > first else ""
    return ", ".join(reasons) + (f": {name}{more}" if name else "")


def astral_suspect(removed: set[int]) -> set[int]:
    """All code points from the first removed one above U+FFFF to U+10FFFF, less the gap holding U+1F600.

    clean() looks for these with a two-range character class, which is cheap, and runs the exact but slower
    astral removal (a class of some twenty ranges) only on the rare text that has one: emoji, the
    mathematical alphanumeric letters of "fancy text" and most historic scripts are in the hole.
    """
    astral = sorted(cp for cp in removed if cp > 0xFFFF)
    below = max(cp for cp in astral if cp < 0x1F600)
    above = min(cp for cp in astral if cp > 0x1F600)
    return set(range(astral[0], below + 1)) | set(range(above, 0x110000))


def render_block() -> str:
    removed = removed_code_points()

    def table(name: str, doc: str, code_points: set[int], why: Callable[[int, int], str] = _why) -> list[str]:
        lines = [f"# {doc}", f"{name}: tuple[tuple[int, int], ...] = ("]
        for first, last in ranges(code_points):
            lines.append(f"    (0x{first:04X}, 0x{last:04X}),  # {why(first, last)}")
        return [*lines, ")"]

    def inside(first: int, last: int) -> str:
        return f"holds {sum(first <= cp <= last for cp in removed)} removed code points"

    lines = [
        BEGIN,
        f'UNICODE_VERSION = "{unicodedata.unidata_version}"',
        "",
        *table(
            "REMOVED",
            "Every code point clean() removes, as inclusive ranges: Cc, Cf, Cs, Co, Default_Ignorable, noncharacters.",
            removed,
        ),
        "",
        *table(
            "ASTRAL_SUSPECT",
            "Covers every removed code point above U+FFFF, with a hole where emoji and math letters are (U+1F600).",
            astral_suspect(removed),
            inside,
        ),
        END,
    ]
    return "\n".join(lines) + "\n"


def spliced(module_text: str, block: str) -> str:
    start = module_text.index(BEGIN)
    end = module_text.index(END, start) + len(END) + 1
    return module_text[:start] + block + module_text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if rc_mcp/sanitize.py differs")
    args = parser.parse_args()
    cross_check()
    current = MODULE.read_text(encoding="utf-8")
    wanted = spliced(current, render_block())
    if args.check:
        if wanted != current:
            print(f"{MODULE} tables differ from Unicode {unicodedata.unidata_version}; run {__file__}")
            return 1
        return 0
    MODULE.write_text(wanted, encoding="utf-8")
    print(f"wrote the tables of {MODULE} for Unicode {unicodedata.unidata_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
