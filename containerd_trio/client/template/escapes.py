"""Go's text/template escapers, ``html``, ``js`` and ``urlquery``, on a string.

Byte for byte what Go's HTMLEscapeString, JSEscapeString and net/url's QueryEscape write; the
functions themselves (:mod:`.values`) make one string of their arguments first.
"""

from __future__ import annotations

from typing import Final

_HTML: Final = {
    "\0": "\ufffd",
    '"': "&#34;",  # shorter than &quot;, as Go's
    "'": "&#39;",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}
_JS: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}
#: What QueryEscape leaves as it is; a space is a +, any other byte %XX.
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
)


def html(text: str) -> str:
    return "".join(_HTML.get(char, char) for char in text)


def js(text: str) -> str:
    """ASCII's quotes, backslash, ``<>&=`` escaped, its controls ``\\u00XX``; beyond ASCII, a
    printable character as it is, any other ``\\uXXXX`` (Go's unicode.IsPrint, Python's
    isprintable: both letters, marks, numbers, punctuation, symbols and no other space than
    U+0020)."""
    out = []
    for char in text:
        if char in _JS:
            out.append(_JS[char])
        elif char < " " or (char >= "\x80" and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def urlquery(text: str) -> str:
    out = []
    for byte in text.encode():
        if byte in _UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)
