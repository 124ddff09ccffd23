"""A strict reader for the subset of YAML that the project's manifests and
README snippets use, so that Python standard-library tests can act on those
files rather than on copies of them: block mappings and sequences, flow
sequences of scalars (`[a, b]`), plain, single- and double-quoted scalars,
comments. Anything else (block scalars, anchors, tags, flow mappings, several
documents) raises ValueError naming the line: a test reading a file it cannot
read fails, never guesses. Scalars stay strings except true/false/null and
integers."""
import json
import re

_REJECT = re.compile(r"^(---|\.\.\.)|^[&*!|>{%@`]")


def load(text):
    lines = []  # (line number, indent, content)
    for number, raw in enumerate(text.splitlines(), 1):
        content = _strip_comment(raw).rstrip()
        if not content.strip():
            continue
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: tab in indentation")
        lines.append((number, len(content) - len(content.lstrip()), content.strip()))
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0][1])
    if end != len(lines):
        raise ValueError(f"line {lines[end][0]}: unexpected indentation")
    return value


def _strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or line[i - 1] in " [:,-"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i]
    return line


def _block(lines, i, indent):
    if lines[i][2] == "-" or lines[i][2].startswith("- "):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _sequence(lines, i, indent):
    items = []
    while i < len(lines) and lines[i][1] == indent and \
            (lines[i][2] == "-" or lines[i][2].startswith("- ")):
        number, _, content = lines[i]
        rest = content[1:].lstrip()
        if not rest:  # "-" alone: the item is the block below
            value, i = _block(lines, i + 1, lines[i + 1][1]) if i + 1 < len(lines) and \
                lines[i + 1][1] > indent else (None, i + 1)
        elif _key(rest, number) is not None:  # "- key: ...": a mapping at the key's column
            column = indent + (len(content) - len(rest))
            value, i = _mapping(lines[:i] + [(number, column, rest)] + lines[i + 1:], i, column)
        else:
            value, i = _scalar(rest, number), i + 1
        items.append(value)
    return items, i


def _key(content, number):
    m = re.match(r"""^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s'"#\[\]{},:][^#:]*?)\s*:(\s|$)""", content)
    if m is None:
        return None
    return _scalar(m.group(1), number)


def _mapping(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i][1] == indent and not lines[i][2].startswith("- "):
        number, _, content = lines[i]
        key = _key(content, number)
        if key is None:
            raise ValueError(f"line {number}: expected `key: value`, got {content!r}")
        if key in out:
            raise ValueError(f"line {number}: duplicate key {key!r}")
        rest = content.split(":", 1)[1].strip() if not content.startswith(('"', "'")) else \
            content[content.index(":", len(str(key))) + 1:].strip()
        i += 1
        if rest:
            out[key] = _scalar(rest, number)
        elif i < len(lines) and (lines[i][1] > indent or (
                lines[i][1] == indent and lines[i][2].startswith("- "))):
            out[key], i = _block(lines, i, lines[i][1])
        else:
            out[key] = None
    return out, i


def _scalar(text, number):
    if _REJECT.match(text):
        raise ValueError(f"line {number}: YAML outside the supported subset: {text!r}")
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError(f"line {number}: a flow sequence must end on its line")
        inner = text[1:-1].strip()
        return [_scalar(part.strip(), number) for part in _split_flow(inner, number)] \
            if inner else []
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise ValueError(f"line {number}: unterminated string")
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise ValueError(f"line {number}: unterminated string")
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if ": " in text or text.endswith(":"):
        raise ValueError(f"line {number}: a mapping where a scalar was expected: {text!r}")
    return text


def _split_flow(inner, number):
    parts, start, quote = [], 0, None
    for i, c in enumerate(inner):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "[]{}":
            raise ValueError(f"line {number}: nested flow collections are not supported")
        elif c == ",":
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return parts
