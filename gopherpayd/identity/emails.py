"""Email addresses as login names: one canonical form, and no look-alikes that mix scripts.

`аlice@example.com` with a Cyrillic `а` is another address than `alice@example.com`
but reads the same to a person choosing whom to pay. Sign-up (and create-admin)
refuse a local part or a domain label whose letters come from more than one
script, except the combinations a language really writes (Unicode UTS #39,
"highly restrictive": Latin with Han and Japanese kana, with Han and Hangul, or
with Han and Bopomofo). Digits, punctuation and combining marks (Common and
Inherited) belong to no script.
"""

from __future__ import annotations

import contextlib
import unicodedata

from gopherpayd.identity.errors import MixedScriptEmail

# UTS #39 "highly restrictive": one script, or one of these sets.
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# Character names that start with something other than their script's name.
_NAME_PREFIX_SCRIPT = {"CJK": "HAN", "KANGXI": "HAN", "IDEOGRAPHIC": "HAN"}


def normalize_email(email: str) -> str:
    """The form an address is stored and looked up in: NFKC, trimmed, lower case.

    NFKC folds compatibility look-alikes (full-width `ａ`, mathematical `𝐚`) into the
    letter they show; it never turns one script's letter into another's.
    """
    return unicodedata.normalize("NFKC", email).strip().lower()


def script_of(char: str) -> str | None:
    """The script of a letter or a non-ASCII digit, from its Unicode name; None for Common/Inherited."""
    category = unicodedata.category(char)
    if not (category.startswith("L") or (category == "Nd" and not char.isascii())):
        return None
    name = unicodedata.name(char, "")
    if not name:
        return "UNKNOWN"
    first = name.split(" ", 1)[0].split("-", 1)[0]
    return _NAME_PREFIX_SCRIPT.get(first, first)


def mixed_scripts(text: str) -> list[str]:
    """The scripts `text` mixes, sorted; empty when it is written in one (allowed) script."""
    scripts = {script for script in map(script_of, text) if script is not None}
    if len(scripts) <= 1 or any(scripts <= allowed for allowed in _ALLOWED_MIXES):
        return []
    return sorted(scripts)


def _labels(domain: str) -> list[str]:
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            # Invalid punycode is checked as written: ASCII, one script.
            with contextlib.suppress(UnicodeError, ValueError):
                label = label.encode("ascii").decode("idna")
        labels.append(label)
    return labels


def refuse_look_alikes(email: str) -> None:
    """Raise MixedScriptEmail when the local part or a domain label mixes scripts."""
    local, _, domain = email.rpartition("@")
    parts = [("the part before @", local)] + [("the domain", label) for label in _labels(domain)]
    for where, part in parts:
        scripts = mixed_scripts(part)
        if scripts:
            raise MixedScriptEmail(
                f"{where} mixes letters of several scripts ({', '.join(s.title() for s in scripts)}), "
                "so the address could pass for another one; write each part in one script"
            )
