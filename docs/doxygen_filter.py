#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Doxygen's INPUT_FILTER for weakref's headers: shows the public names as the classes.

Every public class is written once, as `weakref::detail::basic_<name><..., Policy>`, and named by
an alias per flavour:

    namespace weakref {
    template <class T> using weak_set = detail::basic_weak_set<T, detail::atomic_policy>;
    namespace local {
    template <class T> using weak_set = detail::basic_weak_set<T, detail::local_policy>;
    }}

A reader looks for `weakref::weak_set`, so for Doxygen only (the headers are not changed) this
filter rewrites each header it is given on its standard output:

- a `basic_<name>` template that has a `weakref::` alias leaves `weakref::detail` for
  `weakref`, is renamed `<name>`, and loses its `Policy` parameter; where the alias gives the
  other parameters defaults, the class shows them;
- every `basic_<name><..., Policy>` (or `<..., detail::atomic_policy>`) in the text becomes
  `<name><...>`, and `template <..., class Policy>` loses `Policy`;
- a function template of `weakref::detail` that `weakref` takes with `using detail::<fn>;` moves to
  `weakref` too;
- `friend class ...;` declarations (access between the library's classes) go;
- the `weakref::` aliases and `using detail::...;` declarations go (the class or function is now
  there); each `weakref::local::` alias becomes a documented typedef of the `weakref::` class, and
  an undocumented `weakref::local::` function gets a brief that points at its `weakref::` twin.

What stays in `weakref::detail` is hidden by the Doxyfile (EXCLUDE_SYMBOLS). Line numbers are
kept, so Doxygen's warnings point at the real lines.

    doxygen_filter.py include/weakref/weak_set.hpp     # prints what Doxygen reads
"""

import re
import sys
from pathlib import Path

DETAIL = "weakref::detail"
POLICY_ARGS = {"Policy", "atomic_policy", "local_policy", "detail::atomic_policy",
               "detail::local_policy", "weakref::detail::atomic_policy",
               "weakref::detail::local_policy"}


# --- Reading C++ just enough ---------------------------------------------------------------------

def code_mask(text):
    """mask[i] is True where text[i] is code: not in a comment, a literal or a directive."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#":
            j = i
            while j < n and not (text[j] == "\n" and text[j - 1] != "\\"):
                j += 1
            for k in range(i, j):
                mask[k] = False
            i = j
            continue
        if c == "\n":
            line_start = True
            i += 1
            continue
        if not c.isspace():
            line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            i += 1
            continue
        for k in range(i, min(j, n)):
            mask[k] = False
        i = j
    return mask


def code_only(text, mask, start, end):
    """text[start:end] with everything that is not code blanked (lengths kept)."""
    return "".join(text[k] if mask[k] else (" " if text[k] != "\n" else "\n")
                   for k in range(start, end))


def matching(text, mask, i, open_c, close_c):
    """Index just past the bracket that closes the one at i (code only)."""
    depth = 0
    n = len(text)
    while i < n:
        if mask[i]:
            if text[i] == open_c:
                depth += 1
            elif text[i] == close_c:
                depth -= 1
                if depth == 0:
                    return i + 1
        i += 1
    return n


def angle_end(s, i):
    """Index just past the '>' that closes the '<' at s[i] (no comments in s)."""
    depth = 0
    paren = 0
    while i < len(s):
        c = s[i]
        if c in "([":
            paren += 1
        elif c in ")]":
            paren -= 1
        elif paren == 0 and c == "<":
            depth += 1
        elif paren == 0 and c == ">":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(s)


def split_top(s):
    """s split at its top-level commas."""
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


NAMESPACE = re.compile(r"\s*(?:inline\s+)?namespace\s*([\w:]*)\s*\{")


def entities(text, mask, start, end, blocks, out):
    """Appends (seg_start, code_start, seg_end, scope, blocks) for each declaration between start
    and end, where blocks names the namespace blocks around it (["weakref", "detail"] or
    ["weakref::detail"]) and scope joins them; recurses into namespaces. A segment runs from the
    end of the previous declaration, so it holds the comments before its declaration."""
    scope = "::".join(b for b in blocks if b)
    i = start
    seg = start
    code_start = None
    paren = 0
    while i < end:
        if not mask[i] or text[i].isspace():
            i += 1
            continue
        if code_start is None:
            code_start = i
            m = NAMESPACE.match(code_only(text, mask, i, min(end, i + 200)))
            if m:
                body = i + m.end()
                close = matching(text, mask, body - 1, "{", "}")
                entities(text, mask, body, close - 1, blocks + [m.group(1)], out)
                i = seg = close
                code_start = None
                continue
        c = text[i]
        if c == "(":
            paren += 1
        elif c == ")":
            paren -= 1
        elif c == "{":
            i = matching(text, mask, i, "{", "}")
            j = i
            while j < end and (not mask[j] or text[j].isspace()):
                j += 1
            if paren == 0 and not (j < end and text[j] in ";,=)"):
                out.append((seg, code_start, i, scope, blocks))
                seg, code_start = i, None
            continue
        elif c == ";" and paren == 0:
            out.append((seg, code_start, i + 1, scope, blocks))
            seg, code_start = i + 1, None
        i += 1


# --- What the public names are -------------------------------------------------------------------

ALIAS = re.compile(
    r"(?:template\s*<(?P<params>(?:[^<>]|<(?:[^<>]|<[^<>]*>)*>)*)>\s*)?"
    r"using\s+(?P<name>\w+)\s*=\s*(?:weakref::)?detail::basic_(?P=name)\s*"
    r"(?:<(?P<args>(?:[^<>]|<(?:[^<>]|<[^<>]*>)*>)*)>)?\s*;")
USING_DETAIL = re.compile(r"using\s+(?:weakref::)?detail::(\w+)\s*;")


def scan_public(files):
    """({name: template parameters of its weakref:: alias or None}, {functions taken by using})."""
    classes, functions = {}, set()
    for path in files:
        text = path.read_text()
        mask = code_mask(text)
        code = code_only(text, mask, 0, len(text))
        found = []
        entities(text, mask, 0, len(text), [], found)
        for _, cs, se, scope, _ in found:
            decl = code[cs:se]
            if scope == "weakref":
                m = ALIAS.fullmatch(decl.strip())
                if m:
                    classes[m.group("name")] = m.group("params")
            if scope in ("weakref", "weakref::local"):
                m = USING_DETAIL.fullmatch(decl.strip())
                if m:
                    functions.add(m.group(1))
    return classes, functions


# --- Rewriting -----------------------------------------------------------------------------------

def keep_lines(new, old):
    """`new` with as many newlines as `old`, so that line numbers do not move."""
    extra = old.count("\n") - new.count("\n")
    if extra < 0:
        new = new.replace("\n", " ")
        extra = old.count("\n")
    return new + "\n" * extra


def strip_policy_param(params):
    """A template parameter list without its `class Policy` (None if nothing is left)."""
    kept = [p for p in split_top(params)
            if not re.fullmatch(r"\s*(?:class|typename)\s+Policy\s*", p)]
    return ",".join(kept).strip() if kept and any(p.strip() for p in kept) else None


def rename_public(text, public):
    """basic_X<..., Policy> -> X<...> for every public X; drops `class Policy` from templates."""
    if public:
        names = "|".join(sorted(public, key=len, reverse=True))
        pattern = re.compile(r"\b((?:::)?weakref::)?(?:detail::)?basic_(" + names + r")\b")
        out, pos = [], 0
        for m in pattern.finditer(text):
            if m.start() < pos:
                continue
            out.append(text[pos:m.start()])
            name = (m.group(1) or "") + m.group(2)
            j = m.end()
            k = j
            while k < len(text) and text[k] == " ":
                k += 1
            if k < len(text) and text[k] == "<":
                close = angle_end(text, k)
                args = split_top(text[k + 1:close - 1])
                if args and args[-1].strip() in POLICY_ARGS:
                    args = args[:-1]
                inner = ",".join(args).strip()
                name += f"<{inner}>" if inner else ""
                j = close
            out.append(name)
            pos = j
        out.append(text[pos:])
        text = "".join(out)

    def params(m):
        stripped = strip_policy_param(m.group(1))
        if stripped is None:
            return keep_lines("", m.group(0))
        return keep_lines(f"template <{stripped}>", m.group(0))

    nested = r"(?:[^<>]|<(?:[^<>]|<[^<>]*>)*>)*"
    return re.sub(r"template\s*<(" + nested + r"\bPolicy\b" + nested + r")>", params, text)


def declared(code):
    """('class', name) or ('function', name) or (None, None) for one declaration's code."""
    s = code.strip()
    while s.startswith("template"):
        lt = s.find("<")
        if lt < 0:
            break
        s = s[angle_end(s, lt):].strip()
    m = re.match(r"(?:class|struct|union)\s+(?:\[\[[^\]]*\]\]\s*)?(\w+)", s)
    if m:
        return "class", m.group(1)
    head = s.split("{", 1)[0]
    depth = 0
    for k, ch in enumerate(head):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            m = re.search(r"(\w+)\s*$", head[:k])
            return ("function", m.group(1)) if m else (None, None)
    return None, None


def has_doc(segment_comments):
    return re.search(r"///|/\*\*|//!|/\*!", segment_comments) is not None


def filter_text(text, classes, functions):
    mask = code_mask(text)
    code = code_only(text, mask, 0, len(text))
    found = []
    entities(text, mask, 0, len(text), [], found)
    edits = []  # (start, end, replacement)

    for seg, cs, end, scope, blocks in found:
        decl = code[cs:end]
        if scope == DETAIL:
            kind, name = declared(decl)
            moved = (kind == "class" and name.startswith("basic_") and name[6:] in classes) or (
                kind == "function" and name in functions)
            if not moved:
                continue
            if kind == "class" and classes[name[6:]]:
                # The class shows the alias's parameters, defaults included.
                m = re.match(r"\s*template\s*<", decl)
                if m:
                    close = angle_end(decl, m.end() - 1)
                    own = strip_policy_param(decl[m.end():close - 1]) or ""
                    alias = classes[name[6:]]
                    bare = lambda ps: [re.sub(r"\s*=.*", "", p).split()[-1]  # noqa: E731
                                       for p in split_top(ps) if p.strip()]
                    if bare(own) == bare(alias):
                        edits.append((cs + m.start(), cs + close,
                                      keep_lines(f"template <{alias.strip()}>",
                                                 decl[m.start():close])))
            close = "}" * len(blocks)
            reopen = " ".join(f"namespace {b} {{" for b in blocks)
            edits.append((seg, seg, f"{close} namespace weakref {{ "))
            edits.append((end, end, f" }} {reopen}"))
        elif scope == "weakref":
            s = decl.strip()
            m = ALIAS.fullmatch(s)
            if (m and m.group("name") in classes) or USING_DETAIL.fullmatch(s):
                edits.append((cs, end, keep_lines("", text[cs:end])))
        elif scope == "weakref::local":
            s = decl.strip()
            m = ALIAS.fullmatch(s)
            if m and m.group("name") in classes:
                name = m.group("name")
                args = split_top(m.group("args") or "")
                args = [a for a in args if a.strip() not in POLICY_ARGS]
                inner = ",".join(args).strip()
                target = f"::weakref::{name}" + (f"<{inner}>" if inner else "")
                tmpl = f"template <{m.group('params').strip()}> " if m.group("params") else ""
                doc = (f"/** @brief weakref::{name} in the single-threaded flavour: the same "
                       f"members, plain counts, no atomics, no locks. A distinct type: it does "
                       f"not mix with weakref::{name}. */ ")
                edits.append((cs, end, keep_lines(f"{doc}{tmpl}using {name} = {target};",
                                                  text[cs:end])))
            elif USING_DETAIL.fullmatch(s):
                edits.append((cs, end, keep_lines("", text[cs:end])))
            else:
                kind, name = declared(decl)
                if kind == "function" and not has_doc(text[seg:cs]):
                    edits.append((cs, cs, f"/** @brief weakref::{name}() in the single-threaded "
                                          f"flavour: the same contract, without atomics or "
                                          f"locks. */ "))

    out, pos = [], 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return FRIEND_CLASS.sub(lambda m: keep_lines("", m.group(0)),
                            rename_public("".join(out), classes))


# `friend class basic_weak_ref;` and the like grant access between the library's own classes:
# not API, so not on the pages (HIDE_FRIEND_COMPOUNDS is NO, so that hidden friend functions,
# the operators and swap, are shown).
FRIEND_CLASS = re.compile(r"(?:template\s*<[^<>;{}]*>\s*)?friend\s+(?:class|struct)\s+[\w:<>, ]+;")


def headers_root(path):
    """The include/ directory above `path` (its public headers are scanned for aliases)."""
    for parent in path.resolve().parents:
        if (parent / "weakref").is_dir() and parent.name == "include":
            return parent
    return None


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    text = path.read_text()
    root = headers_root(path)
    if path.suffix not in (".hpp", ".h") or root is None:
        sys.stdout.write(text)
        return 0
    classes, functions = scan_public(sorted(root.glob("weakref/**/*.hpp")))
    sys.stdout.write(filter_text(text, classes, functions))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
