"""Email addresses as login names: one canonical form, checked again once it is canonical,
and no look-alikes.

`аlice@example.com` with a Cyrillic `а` is another address than `alice@example.com`
but reads the same to a person choosing whom to pay. Sign-up (and create-admin)
refuse two kinds of look-alike:

- a local part or a domain label whose letters come from more than one script,
  except the combinations a language really writes (Unicode UTS #39, "highly
  restrictive": Han with Japanese kana, with Hangul, or with Bopomofo). Unlike
  UTS #39 we do not allow Latin with Han: ideographs such as `丨` and `〇` pass
  for `l` and `o` inside a Latin word, and an address gains nothing from mixing
  the two within one label. Every non-ASCII letter or number (Nd, Nl, No too)
  counts as its script; only ASCII digits, punctuation and combining marks
  belong to none.
- an address written in one script whose skeleton (each character replaced by the
  Latin letter or digit it passes for, `email_skeleton`) is that of an existing
  account: `асе@example.com` (all Cyrillic) next to `ace@example.com`.

NFKC, the canonical form's first step, can lengthen an address (U+FDFA becomes 18
characters, spaces included), so the address is validated again after it.
"""

from __future__ import annotations

import contextlib
import unicodedata

from email_validator import EmailNotValidError, validate_email

from gopherpayd.identity.errors import InvalidEmail, MixedScriptEmail

MAX_EMAIL_LENGTH = 254
"""RFC 5321's limit on a forward path, and the width of users.email."""

# UTS #39 "highly restrictive" without Latin+Han (see the module docstring).
_ALLOWED_MIXES = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "BOPOMOFO"}),
    frozenset({"HAN", "HANGUL"}),
)
# Character names that start with something other than their script's name.
_NAME_PREFIX_SCRIPT = {"CJK": "HAN", "KANGXI": "HAN", "IDEOGRAPHIC": "HAN", "HANGZHOU": "HAN"}

# The skeleton: what a character passes for, for the confusables that matter most in
# an address (after NFKC and lower-casing). A curated few from Unicode's confusables
# data, not all of it: Cyrillic and Greek letters drawn like Latin ones, digits and
# symbols like letters, and ideographs like Latin letters. Changing this table changes
# stored skeletons: recompute users.email_skeleton in a migration (as 20261202_0005 does).
# fmt: off
_SKELETON = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y",
        "\u0445": "x", "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u04bb": "h", "\u0501": "d",
        "\u051b": "q", "\u051d": "w", "\u04cf": "l",
        # Greek
        "\u03b1": "a", "\u03bf": "o", "\u03c1": "p", "\u03bd": "v", "\u03c5": "u", "\u03b9": "i",
        "\u03ba": "k", "\u03c7": "x", "\u03b3": "y", "\u03f2": "c", "\u03f3": "j",
        # Latin letters and symbols that pass for other letters
        "\u0131": "i", "\u0269": "i", "\u01c0": "l", "|": "l", "\u0251": "a", "\u0261": "g",
        # digits
        "0": "o", "1": "l",
        # Han and other CJK
        "\u4e28": "l", "\u3007": "o", "\u3127": "l", "\u30ed": "o", "\u53e3": "o",
    }
)
# fmt: on


def normalize_email(email: str) -> str:
    """The form an address is stored and looked up in: NFKC, trimmed, lower case.

    NFKC folds compatibility look-alikes (full-width `ａ`, mathematical `𝐚`) into the
    letter they show; it never turns one script's letter into another's.
    """
    return unicodedata.normalize("NFKC", email).strip().lower()


def check_email(email: str) -> str:
    """The canonical form of an address the API accepts; InvalidEmail (400) otherwise.

    The request schemas check what was sent (EmailStr, at most 254 characters); this
    checks it again after NFKC, which can lengthen it or put spaces in it.
    """
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"it must be at most {MAX_EMAIL_LENGTH} characters (it has {len(email)})")
    _validate(email)
    canonical = normalize_email(email)
    try:
        if len(canonical) > MAX_EMAIL_LENGTH:
            raise InvalidEmail(f"it must be at most {MAX_EMAIL_LENGTH} characters (it has {len(canonical)})")
        if any(char.isspace() for char in canonical):
            raise InvalidEmail("it contains spaces")
        _validate(canonical)
    except InvalidEmail as error:
        raise InvalidEmail(f"this address is not valid once normalised (NFKC): {error.detail}") from None
    return canonical


def _validate(email: str) -> None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None


def email_skeleton(email: str) -> str:
    """The address with every look-alike replaced by what it passes for: equal skeletons, look-alikes."""
    return normalize_email(email).translate(_SKELETON)


def script_of(char: str) -> str | None:
    """The script of a letter or a non-ASCII number, from its Unicode name; None for Common/Inherited."""
    category = unicodedata.category(char)
    if not (category.startswith("L") or (category.startswith("N") and not char.isascii())):
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
