#!/usr/bin/env python3
"""Checks the shape of the workspace's modules, so that a newcomer can walk the house.

1. No import circle between sibling modules. For every crate (each lib and bin target of the
   workspace, read from `cargo metadata`) the module tree is read from the files (`mod foo;` in
   `lib.rs` is `foo.rs` or `foo/mod.rs`, `mod bar;` in `foo.rs` is `foo/bar.rs`) and every
   `crate::...`, `super::...` and `self::...` path in non-test code (outside `#[cfg(test)]`
   items, and outside files named `tests.rs` and `test_utils.rs`) becomes an edge from the module
   that writes it to the module it names (re-exports such as `crate::Error` are followed to the
   module that defines them). At each level of the tree, the children of one module are
   compared: an edge from `a::x` to `b::y` is an edge `a -> b` among the crate root's children.
   Edges between a module and its own ancestors or descendants are the normal shape of a module
   (a parent re-exports its children, a child uses its parent's types) and are not counted.
   Every circle is printed with the lines that make it.
2. No non-test source file over MAX_LINES lines, counting the lines before the first
   `#[cfg(test)]` at column 0 (files under `tests/`, `benches/benches/` and `fuzz/`, and files
   named `tests.rs`, are test code and not counted).

`python3 .ci/check-modules.py` checks the workspace; `--self-test` checks the checker on small
synthetic crates, one with circles and one without.

This reads Rust with a small lexer, not a compiler: macros are not expanded and a `use` of a
name imported by another `use` is not followed. It sees what a reader of the source sees.
"""
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

MAX_LINES = 600
# Files that are test code wherever they are declared.
TEST_FILES = {"tests.rs", "test_utils.rs"}
# Directories (relative to the repository root) whose files are tests, benches or fuzz targets.
SKIP_DIRS = {"target", "tests", "fuzz", ".git"}
SKIP_PATHS = {os.path.join("benches", "benches")}

# ---------------------------------------------------------------------------------------------
# Lexing


def strip_comments_and_literals(text):
    """The text with comments, string and char literals blanked (newlines kept, so that line
    numbers stay true), so that a path in a doc comment or a string is not read as code."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif c in "bcr" and (m := RAW_STRING.match(text, i)) and not _ident_before(text, i):
            # A raw string: ends at a quote followed by as many hashes as it opened with.
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(blank(text[i:j]))
            i = j
        elif c == '"' or (c in "bc" and text.startswith('"', i + 1) and not _ident_before(text, i)):
            j = i + (1 if c == '"' else 2)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i:j + 1]))
            i = j + 1
        elif c == "'" or (c == "b" and text.startswith("'", i + 1) and not _ident_before(text, i)):
            q = i if c == "'" else i + 1
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a, 'static): a lifetime
            # has no closing quote right after its first character.
            if text.startswith("\\", q + 1):
                j = q + 3  # past the backslash and the escaped character
                while j < n and text[j] != "'":
                    j += 1
                out.append(blank(text[i:j + 1]))
                i = j + 1
            elif q + 2 < n and text[q + 2] == "'":
                out.append(blank(text[i:q + 3]))
                i = q + 3
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


RAW_STRING = re.compile(r'(?:b|c)?r(#*)"')


def _ident_before(text, i):
    """Whether the character before `i` continues an identifier (so `br"` in `abr"` is not a
    literal prefix)."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


TOKEN = re.compile(r"r#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*|::|\S")


def tokenize(text):
    """(token, line) pairs of the cleaned text."""
    clean = strip_comments_and_literals(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", clean)]
    tokens = []
    line = 0
    for m in TOKEN.finditer(clean):
        while line + 1 < len(line_starts) and line_starts[line + 1] <= m.start():
            line += 1
        tok = m.group(0)
        if tok.startswith("r#"):
            tok = tok[2:]
        tokens.append((tok, line + 1))
    return tokens


def is_ident(tok):
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok))


# ---------------------------------------------------------------------------------------------
# Reading one crate


class Ref:
    """One path in code or in a `use` that may name another module."""

    def __init__(self, module, segs, file, line, in_use, alias=None, glob=False, public=False):
        self.module = module  # tuple: the module whose code holds the path
        self.segs = segs  # list of segments as written
        self.file = file
        self.line = line
        self.in_use = in_use
        self.alias = alias
        self.glob = glob
        self.public = public  # a `pub use`: a re-export

    def text(self):
        path = "::".join(self.segs) + ("::*" if self.glob else "")
        if self.in_use:
            return f"use {path}" + (f" as {self.alias}" if self.alias else "")
        return path


ITEM_KEYWORDS = {"fn", "mod", "impl", "struct", "enum", "union", "trait", "use", "const",
                 "static", "type", "pub", "unsafe", "async", "extern", "macro_rules"}
BLOCK_ITEMS = {"fn", "mod", "impl", "struct", "enum", "union", "trait", "macro_rules"}


def matching(tokens, i, open_tok, close_tok):
    """Index just past the token closing the bracket opened at `i`."""
    depth = 0
    while i < len(tokens):
        t = tokens[i][0]
        if t == open_tok:
            depth += 1
        elif t == close_tok:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def is_test_cfg(attr_tokens):
    """Whether an attribute's tokens (inside `#[...]`) are `cfg(test)` or `cfg(all(.., test, ..))`."""
    s = "".join(attr_tokens)
    if s == "cfg(test)":
        return True
    return s.startswith("cfg(all(") and re.search(r"[(,]test[,)]", s) is not None \
        and "not(test)" not in s


def skip_item(tokens, i):
    """Index just past the item or statement starting at `i` (after its attributes)."""
    while i + 1 < len(tokens) and tokens[i][0] == "#" and tokens[i + 1][0] == "[":
        i = matching(tokens, i + 1, "[", "]")
    kind = None
    for t, _ in tokens[i:i + 6]:
        if t in BLOCK_ITEMS or t in ("use", "const", "static", "type"):
            kind = t
            break
        if t not in ITEM_KEYWORDS and t not in ("(", ")", "crate", "super", "in", "self"):
            break
    item = kind is not None
    depth = 0
    while i < len(tokens):
        t = tokens[i][0]
        if t in ("(", "["):
            depth += 1
        elif t in (")", "]"):
            depth -= 1
        elif t == "}" and depth == 0:
            return i  # the end of the enclosing block: the statement ended without a `;`
        elif t == ";" and depth == 0:
            return i + 1
        elif t == "," and depth == 0 and not item:
            return i + 1
        elif t == "{" and depth == 0 and kind != "use":
            i = matching(tokens, i, "{", "}")
            if kind in BLOCK_ITEMS:
                return i
            continue
        i += 1
    return i


def parse_use_tree(tokens, i, prefix, out):
    """Parses the use tree at `i` under the written `prefix`; appends (segs, line, alias, glob)
    to `out`; returns the index after the tree."""
    segs = list(prefix)
    while i < len(tokens):
        t, line = tokens[i]
        if t == "::":
            i += 1
        elif t == "{":
            i += 1
            while i < len(tokens) and tokens[i][0] != "}":
                i = parse_use_tree(tokens, i, segs, out)
                if i < len(tokens) and tokens[i][0] == ",":
                    i += 1
            return i + 1
        elif t == "*":
            out.append((segs, line, None, True))
            return i + 1
        elif is_ident(t):
            i += 1
            if t != "self" or not segs:
                segs = segs + [t]
            if i < len(tokens) and tokens[i][0] == "::":
                continue
            alias = None
            if i + 1 < len(tokens) and tokens[i][0] == "as":
                alias = tokens[i + 1][0]
                i += 2
            out.append((segs, line, alias, False))
            return i
        else:
            return i
    return i


def is_public(tokens, i):
    """Whether the `use` at `i` is preceded by a `pub` visibility."""
    j = i - 1
    if j >= 0 and tokens[j][0] == ")":
        while j >= 0 and tokens[j][0] != "(":
            j -= 1
        j -= 1
    return j >= 0 and tokens[j][0] == "pub"


class Crate:
    """The module tree of one crate and the paths its non-test code writes."""

    def __init__(self, name, root, base=None):
        self.name = name
        self.base = Path(base) if base else Path(root).parent
        self.modules = {(): Path(root)}
        self.refs = []
        self.missing = []
        self._lines = {}
        self._read_file(Path(root), (), Path(root).parent)

    def source_line(self, path, line):
        """Line `line` (from 1) of a file, stripped."""
        if path not in self._lines:
            self._lines[path] = Path(path).read_text(encoding="utf-8").splitlines()
        return self._lines[path][line - 1].strip()

    def rel(self, path):
        try:
            return str(Path(path).relative_to(self.base))
        except ValueError:
            return str(path)

    def _read_file(self, path, module, child_dir):
        tokens = tokenize(path.read_text(encoding="utf-8"))
        self._scan(tokens, path, module, child_dir)

    def _declare(self, module, name, child_dir, path):
        for candidate in (child_dir / f"{name}.rs", child_dir / name / "mod.rs"):
            if candidate.is_file():
                if candidate.name in TEST_FILES:
                    return
                child = module + (name,)
                self.modules[child] = candidate
                own_dir = candidate.parent if candidate.name == "mod.rs" \
                    else candidate.parent / candidate.stem
                self._read_file(candidate, child, own_dir)
                return
        self.missing.append(f"{self.rel(path)}: no file for `mod {name};`")

    def _scan(self, tokens, path, file_module, file_child_dir):
        # Each open brace pushes the module (and its directory) that its contents belong to.
        stack = []
        module, child_dir = file_module, file_child_dir
        i = 0
        while i < len(tokens):
            t, line = tokens[i]
            nxt = tokens[i + 1][0] if i + 1 < len(tokens) else ""
            prev = tokens[i - 1][0] if i > 0 else ""
            if t == "#" and nxt == "!" and i + 2 < len(tokens) and tokens[i + 2][0] == "[":
                end = matching(tokens, i + 2, "[", "]")
                if is_test_cfg([x for x, _ in tokens[i + 3:end - 1]]):
                    # `#![cfg(test)]`: the rest of this module is test code.
                    if not stack:
                        return
                    depth = 1
                    while end < len(tokens) and depth:
                        depth += {"{": 1, "}": -1}.get(tokens[end][0], 0)
                        end += 1
                    module, child_dir = stack.pop()
                i = end
            elif t == "#" and nxt == "[":
                end = matching(tokens, i + 1, "[", "]")
                if is_test_cfg([x for x, _ in tokens[i + 2:end - 1]]):
                    i = skip_item(tokens, end)
                else:
                    i = end
            elif t == "mod" and is_ident(nxt) and i + 2 < len(tokens):
                after = tokens[i + 2][0]
                if after == ";":
                    self._declare(module, nxt, child_dir, path)
                    i += 3
                elif after == "{":
                    stack.append((module, child_dir))
                    module, child_dir = module + (nxt,), child_dir / nxt
                    self.modules[module] = path
                    i += 3
                else:
                    i += 1
            elif t == "{":
                stack.append((module, child_dir))
                i += 1
            elif t == "}":
                if stack:
                    module, child_dir = stack.pop()
                i += 1
            elif t == "use":
                public = is_public(tokens, i)
                found = []
                i = parse_use_tree(tokens, i + 1, [], found)
                for segs, ln, alias, glob in found:
                    self.refs.append(Ref(module, segs, path, ln, True, alias, glob, public))
            elif t in ("crate", "super", "self") and nxt == "::" and prev not in ("$", "::") \
                    and not (prev == "in" and i >= 2 and tokens[i - 2][0] == "("):
                segs, j = [t], i + 2
                while j < len(tokens) and is_ident(tokens[j][0]):
                    segs.append(tokens[j][0])
                    if j + 1 < len(tokens) and tokens[j + 1][0] == "::":
                        j += 2
                    else:
                        j += 1
                        break
                self.refs.append(Ref(module, segs, path, line, False))
                i = j
            else:
                i += 1

    def absolute(self, ref):
        """The path a reference names, from the crate root, or None (another crate, or a name
        brought in by another `use`)."""
        segs = ref.segs
        if not segs:
            return None
        if segs[0] == "crate":
            return list(segs[1:])
        if segs[0] in ("super", "self"):
            base = list(ref.module)
            k = 0
            while k < len(segs) and segs[k] in ("super", "self"):
                if segs[k] == "super":
                    if not base:
                        return None
                    base.pop()
                k += 1
            return base + list(segs[k:])
        if ref.in_use and ref.module + (segs[0],) in self.modules:
            return list(ref.module) + list(segs)
        return None

    def reexports(self):
        """For each module, the names its `pub use`s bring in, and the absolute path of each."""
        table = {}
        for ref in self.refs:
            if ref.public and not ref.glob:
                target = self.absolute(ref)
                if target:
                    name = ref.alias or target[-1]
                    table.setdefault(ref.module, {})[name] = target
        return table

    def resolve(self, segs, table, depth=0):
        """The module that defines what an absolute path names."""
        cur = ()
        for k, s in enumerate(segs):
            if cur + (s,) in self.modules:
                cur = cur + (s,)
                continue
            target = table.get(cur, {}).get(s)
            if target is not None and depth < 16 and target != list(cur) + [s]:
                return self.resolve(target + list(segs[k + 1:]), table, depth + 1)
            return cur
        return cur

    def edges(self):
        """{parent module: {(child a, child b): [refs]}}: sibling edges at every level."""
        table = self.reexports()
        out = {}
        for ref in self.refs:
            target = self.absolute(ref)
            if target is None:
                continue
            dest = self.resolve(target, table)
            src = ref.module
            c = 0
            while c < len(src) and c < len(dest) and src[c] == dest[c]:
                c += 1
            if c < len(src) and c < len(dest):
                parent = src[:c]
                out.setdefault(parent, {}).setdefault((src[c], dest[c]), []).append(ref)
        return out


# ---------------------------------------------------------------------------------------------
# Circles


def components(nodes, succ):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


MAX_CYCLES = 50


def simple_cycles(comp, succ):
    """The elementary cycles within one component, each starting at its smallest node (at most
    MAX_CYCLES; the second value says whether there were more)."""
    members = set(comp)
    cycles = []
    for start in sorted(comp):
        path = [start]

        def walk(v):
            for w in sorted(succ.get(v, ())):
                if w not in members or w < start:
                    continue
                if w == start:
                    cycles.append(path + [start])
                    if len(cycles) > MAX_CYCLES:
                        return True
                elif w not in path:
                    path.append(w)
                    if walk(w):
                        return True
                    path.pop()
            return False

        if walk(start):
            return cycles[:MAX_CYCLES], True
    return cycles, False


def circles(crate):
    """[(parent module, component, cycles, more, {edge: refs})] for every circle in the crate."""
    found = []
    for parent, edges in sorted(crate.edges().items()):
        succ = {}
        for a, b in edges:
            succ.setdefault(a, set()).add(b)
        nodes = {x for e in edges for x in e}
        for comp in components(nodes, succ):
            cycles, more = simple_cycles(comp, succ)
            inner = {e: refs for e, refs in edges.items() if e[0] in comp and e[1] in comp}
            found.append((parent, comp, cycles, more, inner))
    return found


def describe_circles(crate, found):
    lines = []
    for parent, comp, cycles, more, inner in found:
        where = "the crate root" if not parent else "::".join(parent)
        prefix = "" if not parent else "::".join(parent) + "::"
        lines.append(f"error: import circle in {crate.name} among the children of {where}: "
                     f"{', '.join(prefix + m for m in comp)}")
        for cycle in cycles:
            lines.append("  circle: " + " -> ".join(prefix + m for m in cycle))
        if more:
            lines.append(f"  (and more circles through these modules; the first {MAX_CYCLES} shown)")
        lines.append("  made by:")
        for (a, b), refs in sorted(inner.items()):
            lines.append(f"    {prefix}{a} -> {prefix}{b}")
            # One entry per source line, as written; a line that does not show the whole path
            # (a `use` group spread over lines) gets the path spelt out.
            by_line = {}
            for ref in refs:
                by_line.setdefault((crate.rel(ref.file), ref.line, str(ref.file)), []).append(ref)
            for (rel, line, path), on_line in sorted(by_line.items()):
                source = crate.source_line(path, line)
                entry = f"{rel}:{line}: {source}"
                if not all(r.segs[0] in source for r in on_line):
                    entry += " (" + ", ".join(sorted({r.text() for r in on_line})) + ")"
                lines.append(f"      {entry}")
    return lines


# ---------------------------------------------------------------------------------------------
# Long files


def non_test_lines(path):
    """Lines before the first `#[cfg(test)]` at column 0 (all lines if there is none)."""
    count = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#[cfg(test)]"):
                break
            count += 1
    return count


def long_files(root, limit=MAX_LINES):
    """[(relative path, lines)] of the non-test Rust files under `root` over `limit` lines."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.startswith(".")
            and os.path.normpath(os.path.join(rel_dir, d)) not in SKIP_PATHS)
        for name in sorted(filenames):
            if name.endswith(".rs") and name != "tests.rs":
                path = os.path.join(dirpath, name)
                n = non_test_lines(path)
                if n > limit:
                    out.append((os.path.relpath(path, root), n))
    return out


# ---------------------------------------------------------------------------------------------
# The workspace


def workspace_crates(root):
    """[(display name, root file)] of every lib and bin target of the workspace's members."""
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"], cwd=root))
    out = []
    for pkg in sorted(meta["packages"], key=lambda p: p["name"]):
        for target in pkg["targets"]:
            kinds = set(target["kind"])
            if kinds & {"lib", "rlib", "proc-macro"}:
                out.append((f'{pkg["name"]} (lib)', target["src_path"]))
            elif "bin" in kinds:
                out.append((f'{pkg["name"]} (bin {target["name"]})', target["src_path"]))
    return out


def known_debts(root):
    """The problems `.ci/module-debts.txt` names (one per line, `#` comments): each is an open
    refactor tracked in an issue, reported as `known:` instead of failing. A listed debt that is
    gone fails the check until its line is removed, so the list only shrinks."""
    path = Path(root) / ".ci" / "module-debts.txt"
    if not path.exists():
        return set()
    lines = (l.split("#", 1)[0].strip() for l in path.read_text().splitlines())
    return {l for l in lines if l}


def check(root, crates, debts=frozenset()):
    """Prints every circle and long file; returns the number of problems not in `debts`."""
    problems = 0
    seen = set()

    def report(key, line):
        nonlocal problems
        if key in debts:
            seen.add(key)
            print("known" + line[len("error"):], file=sys.stderr)
        else:
            print(line, file=sys.stderr)
            problems += 1

    for name, src in crates:
        crate = Crate(name, src, base=root)
        for m in crate.missing:
            print(f"warning: {m}", file=sys.stderr)
        known = False
        for line in describe_circles(crate, circles(crate)):
            if line.startswith("error:"):
                key = line[len("error: "):]
                known = key in debts
                report(key, line)
            elif not known:
                print(line, file=sys.stderr)
    for path, n in long_files(root):
        report(str(path), f"error: {path} has {n} non-test lines (lines before its first "
               f"`#[cfg(test)]`); the limit is {MAX_LINES}: split it by concern")
    for key in sorted(debts - seen):
        print(f"error: '{key}' is listed in .ci/module-debts.txt but fixed: remove the line",
              file=sys.stderr)
        problems += 1
    return problems


def main():
    if sys.argv[1:] == ["--self-test"]:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(SelfTest)
        result = unittest.TextTestRunner(verbosity=1).run(suite)
        sys.exit(0 if result.wasSuccessful() else 1)
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [--self-test]")
    root = Path(__file__).resolve().parent.parent
    crates = workspace_crates(root)
    debts = known_debts(root)
    problems = check(root, crates, debts)
    if problems:
        sys.exit(f"{problems} module problem(s): break each circle (move the shared type down "
                 f"to the module both sides may depend on) and split each long file")
    print(f"ok: no import circles in {len(crates)} crates, no non-test file over {MAX_LINES} lines"
          f", apart from {len(debts)} known debts (.ci/module-debts.txt)")


# ---------------------------------------------------------------------------------------------
# Self-test: the checker on synthetic crates.


def write_tree(root, files):
    for rel, text in files.items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# A crate without circles. It has every shape that must not count as one: a parent using its
# children and children using their parent, paths in comments, strings and test code, a test
# module file, and a one-way chain between siblings.
ACYCLIC = {
    "src/lib.rs": """//! Uses [`crate::c::C`] only in docs.
pub mod a;
pub mod b;
mod c;
pub use a::A;
pub use c::C;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;
""",
    "src/a.rs": """use crate::b::B;
pub struct A(pub B);
pub fn f() -> &'static str { "crate::c::C" }
pub fn g() -> char { '"' }
pub mod inner {
    pub fn h() -> super::A { super::A(crate::b::B) }
}
#[cfg(test)]
mod tests {
    use crate::c::C;
}
""",
    "src/b.rs": """pub struct B;
/* crate::a::A in a block comment /* nested crate::c */ */
#[cfg(test)]
fn only_in_tests() -> crate::a::A { todo!() }
#[cfg(test)]
mod tests;
""",
    "src/b/tests.rs": "use crate::c::C;\n",
    "src/c.rs": """pub struct C(pub crate::A);
mod x;
mod y;
pub(in crate::c) fn v() {}
""",
    "src/c/x.rs": "pub struct X(pub super::y::Y, pub super::C);\n",
    "src/c/y.rs": "pub struct Y;\n",
    "src/test_utils.rs": "use crate::c::C;\n",
}

# The same crate with circles: a -> b -> c -> a among the root's children (one edge through a
# re-export at the root, one written in code rather than a `use`, one in a `use` group), and
# c::x <-> c::y inside `c`.
CYCLIC = dict(ACYCLIC)
CYCLIC.update({
    "src/b.rs": """use crate::{
    c::C,
};
pub struct B;
""",
    "src/c.rs": """pub struct C;
mod x;
mod y;
fn back() -> crate::A { todo!() }
""",
    "src/c/y.rs": "use super::x::X;\npub struct Y;\n",
})


class SelfTest(unittest.TestCase):
    def crate(self, files):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        write_tree(tmp.name, files)
        return Crate("demo", Path(tmp.name) / "src" / "lib.rs", base=tmp.name), tmp.name

    def test_no_circle_in_a_crate_without_one(self):
        crate, _ = self.crate(ACYCLIC)
        self.assertEqual(crate.missing, [])
        self.assertEqual(sorted(crate.modules),
                         [(), ("a",), ("a", "inner"), ("b",), ("c",), ("c", "x"), ("c", "y")])
        self.assertEqual(circles(crate), [])
        # The one-way chain a -> b, c -> a (through the re-export) and c::x -> c::y are seen.
        edges = crate.edges()
        self.assertEqual(sorted(edges[()]), [("a", "b"), ("c", "a")])
        self.assertEqual(sorted(edges[("c",)]), [("x", "y")])

    def test_circles_are_found_with_their_lines(self):
        crate, _ = self.crate(CYCLIC)
        found = circles(crate)
        self.assertEqual([(p, comp, cycles) for p, comp, cycles, _, _ in found], [
            ((), ["a", "b", "c"], [["a", "b", "c", "a"]]),
            (("c",), ["x", "y"], [["x", "y", "x"]]),
        ])
        text = "\n".join(describe_circles(crate, found))
        self.assertIn("circle: a -> b -> c -> a", text)
        self.assertIn("      src/a.rs:1: use crate::b::B;\n", text)
        self.assertIn("      src/b.rs:2: c::C, (use crate::c::C)\n", text)
        self.assertIn("      src/c.rs:4: fn back() -> crate::A { todo!() }\n", text)
        self.assertIn("circle: c::x -> c::y -> c::x", text)
        self.assertIn("      src/c/y.rs:1: use super::x::X;", text)

    def test_check_fails_on_a_circle_only(self):
        for files, want in ((ACYCLIC, 0), (CYCLIC, 2)):
            _, root = self.crate(files)
            with contextlib.redirect_stderr(io.StringIO()) as err:
                problems = check(root, [("demo", os.path.join(root, "src", "lib.rs"))])
            self.assertEqual(problems, want, err.getvalue())

    def test_every_circle_of_a_component_is_listed(self):
        succ = {"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a"}}
        comps = components({"a", "b", "c"}, succ)
        self.assertEqual(comps, [["a", "b", "c"]])
        cycles, more = simple_cycles(comps[0], succ)
        self.assertFalse(more)
        self.assertEqual(sorted(cycles),
                         [["a", "b", "a"], ["a", "b", "c", "a"], ["a", "c", "a"]])

    def test_long_files_count_lines_before_the_tests(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        body = "fn f() {}\n" * 601
        write_tree(tmp.name, {
            "core/src/long.rs": body,
            "core/src/short.rs": "fn f() {}\n" * 600 + "#[cfg(test)]\nmod tests {\n" + body + "}\n",
            "core/src/tests.rs": body,
            "tests/e2e.rs": body,
            "benches/benches/b.rs": body,
            "benches/lib.rs": body,
            "fuzz/fuzz_targets/f.rs": body,
            "target/debug/build/out.rs": body,
        })
        self.assertEqual(long_files(tmp.name),
                         [(os.path.join("benches", "lib.rs"), 601),
                          (os.path.join("core", "src", "long.rs"), 601)])

    def test_lexer_keeps_lines_and_drops_literals(self):
        src = 'let s = "a\\"crate::x"; // crate::y\nlet c = \'\\\'\'; let l: &\'a str = r#"crate::z"#;\ncrate::w'
        tokens = tokenize(src)
        self.assertNotIn("x", [t for t, _ in tokens])
        self.assertNotIn("z", [t for t, _ in tokens])
        self.assertIn(("w", 3), tokens)


if __name__ == "__main__":
    main()
