"""Pebble template → jinja2 template translation.

Pebble's operator precedence differs from jinja's (`??`, `~`, `|` bind differently), so expressions are
parsed with our own Pratt parser and re-emitted with explicit parentheses. Every operator is emitted as a
call to an internal `_kf_*` filter (filters compile to direct calls, cheaper than sandboxed global calls),
so Pebble/Java semantics live in plain Python. Line structure is preserved so jinja's line numbers map
back to the Pebble source for error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Names", "PebbleSyntaxError", "Translation", "translate"]


class PebbleSyntaxError(Exception):
    def __init__(self, message: str, expression: str = "", line: int = 0):
        self.expression = expression
        self.line = line
        super().__init__(message)


@dataclass(frozen=True)
class Names:
    """Registered filter/function/test names (the translator validates against them)."""

    filters: frozenset[str]
    functions: frozenset[str]
    tests: frozenset[str]


@dataclass
class Translation:
    source: str  # jinja2 template source
    exprs: dict[int, list[str]] = field(default_factory=dict)  # line → Pebble tag texts on that line
    single: str | None = None  # jinja expression when the template is exactly one `{{ expr }}`
    single_text: str = ""


_PUNCT = ("???", "??", "..", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "~", "|", "?", ":",
          ".", ",", "(", ")", "[", "]", "{", "}", "=")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUM_RE = re.compile(r"\d+(\.\d+)?")
_WS_RE = re.compile(r"\s+")
_OPEN_RE = re.compile(r"\{\{|\{%|\{#")
_ENDRAW_RE = {
    "raw": re.compile(r"\{%-?\s*endraw\s*-?%\}"),
    "verbatim": re.compile(r"\{%-?\s*endverbatim\s*-?%\}"),
}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_JINJA_RESERVED = frozenset({
    "and", "or", "not", "in", "is", "if", "else", "elif", "for", "true", "false", "none", "True", "False",
    "None", "recursive", "with", "without", "context", "ignore", "missing", "block", "import", "include",
})
_FORBIDDEN_NAME = re.compile(r"^_kf|^__")
MAX_DEPTH = 100

Tok = tuple[str, object, int, int]  # kind, value, start, end


def _lex(src: str, pos: int, close: str, text_start: int) -> tuple[list[Tok], int, bool]:
    """Tokenize from `pos` until `close` at bracket depth 0. Returns tokens, index after the closer and
    whether the closer carried a whitespace-control `-`."""
    toks: list[Tok] = []
    depth = 0
    n = len(src)
    while True:
        m = _WS_RE.match(src, pos)
        if m:
            pos = m.end()
        if pos >= n:
            raise PebbleSyntaxError(f"Unclosed tag, expected `{close}`", src[text_start:pos])
        if depth == 0:
            if src.startswith(close, pos):
                return toks, pos + len(close), False
            if src.startswith("-" + close, pos):
                return toks, pos + 1 + len(close), True
        c = src[pos]
        if c in "'\"":
            buf = []
            i = pos + 1
            while True:
                if i >= n:
                    raise PebbleSyntaxError("Unclosed string literal", src[text_start:n])
                ch = src[i]
                if ch == "\\" and i + 1 < n:
                    nxt = src[i + 1]
                    buf.append(_ESCAPES.get(nxt, "\\" + nxt))
                    i += 2
                    continue
                if ch == c:
                    break
                buf.append(ch)
                i += 1
            toks.append(("str", "".join(buf), pos, i + 1))
            pos = i + 1
            continue
        if c.isdigit():
            m = _NUM_RE.match(src, pos)
            assert m
            txt = m.group(0)
            toks.append(("num", float(txt) if m.group(1) else int(txt), pos, m.end()))
            pos = m.end()
            continue
        m = _NAME_RE.match(src, pos)
        if m:
            toks.append(("name", m.group(0), pos, m.end()))
            pos = m.end()
            continue
        for p in _PUNCT:
            if src.startswith(p, pos):
                if p in "([{":
                    depth += 1
                elif p in ")]}" and depth > 0:
                    depth -= 1
                toks.append(("op", p, pos, pos + len(p)))
                pos += len(p)
                break
        else:
            raise PebbleSyntaxError(f"Unexpected character '{c}'", src[text_start:pos + 1])


# Binary operators: precedence (higher binds tighter), emitted via the internal filter named.
_BINARY: dict[str, tuple[int, str]] = {
    "??": (120, ""), "???": (120, ""), "..": (120, "_kf_range"), "~": (110, "_kf_cat"), "|": (100, ""),
    "*": (60, "_kf_mul"), "/": (60, "_kf_div"), "%": (60, "_kf_mod"), "+": (40, "_kf_add"),
    "-": (40, "_kf_sub"), "==": (30, "_kf_eq"), "equals": (30, "_kf_eq"), "!=": (30, "_kf_ne"),
    "<": (30, "_kf_lt"), ">": (30, "_kf_gt"), "<=": (30, "_kf_le"), ">=": (30, "_kf_ge"), "is": (20, ""),
    "contains": (20, "_kf_contains"), "and": (15, ""), "or": (10, ""),
}
_UNARY_PREC = 500


class _Parser:
    def __init__(self, toks: list[Tok], src: str, names: Names, text: str, calls: set[str]):
        self.toks = toks
        self.i = 0
        self.src = src
        self.names = names
        self.text = text
        self.calls = calls
        self.depth = 0
        self.local_names: list[str] = []

    # -- token helpers
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, value: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t[0] in ("op", "name") and t[1] == value

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            self.fail("Unexpected end of expression")
        self.i += 1
        return t  # type: ignore[return-value]

    def expect(self, value: str) -> Tok:
        t = self.peek()
        if t is None or t[1] != value or t[0] not in ("op", "name"):
            got = "end of expression" if t is None else f"'{t[1]}'"
            self.fail(f"Expected '{value}' but found {got}")
        self.i += 1
        return t  # type: ignore[return-value]

    def name(self) -> str:
        t = self.next()
        if t[0] != "name":
            self.fail(f"Expected a name but found '{t[1]}'")
        return str(t[1])

    def fail(self, message: str):
        raise PebbleSyntaxError(message, self.text)

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def check_name(self, name: str) -> str:
        if _FORBIDDEN_NAME.match(name):
            self.fail(f"Illegal name '{name}'")
        return name

    # -- grammar
    def expression(self) -> str:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("Expression nested too deeply")
        cond = self.binary(0)
        if self.at("?"):
            self.next()
            a = self.expression()
            self.expect(":")
            b = self.expression()
            cond = f"(({a}) if ({cond})|_kf_bool else ({b}))"
        self.depth -= 1
        return cond

    def binary(self, min_prec: int) -> str:
        left = self.unary()
        while True:
            t = self.peek()
            if t is None or t[0] not in ("op", "name") or t[1] not in _BINARY:
                return left
            op = str(t[1])
            prec, flt = _BINARY[op]
            if prec < min_prec:
                return left
            self.next()
            if op == "|":
                left = self.filter_call(f"({left})")
            elif op == "is":
                negate = False
                if self.at("not"):
                    self.next()
                    negate = True
                test = self.name()
                if test not in self.names.tests:
                    self.fail(f"Test [{test}] does not exist.")
                args = self.call_args() if self.at("(") else ""
                left = f"({left})|_kf_t_{test}({args})"
                if negate:
                    left = f"(not {left})"
            else:
                right = self.binary(prec + 1)
                if op == "??":
                    left = f"((0)|_kf_slot if ({left})|_kf_nn else ({right}))"
                elif op == "???":
                    left = f"((0)|_kf_slot if ({left})|_kf_nu else ({right}))"
                elif op == "and":
                    left = f"(({left})|_kf_bool and ({right})|_kf_bool)"
                elif op == "or":
                    left = f"(({left})|_kf_bool or ({right})|_kf_bool)"
                else:
                    left = f"({left})|{flt}({right})"

    def filter_call(self, subject: str) -> str:
        fname = self.name()
        if fname not in self.names.filters:
            self.fail(f"Filter [{fname}] does not exist.")
        args = self.call_args() if self.at("(") else ""
        return f"{subject}|{fname}({args})"

    def unary(self) -> str:
        if self.at("not"):
            self.next()
            return f"(not ({self.binary(_UNARY_PREC)})|_kf_bool)"
        if self.at("-"):
            self.next()
            return f"({self.binary(_UNARY_PREC)})|_kf_neg"
        if self.at("+"):
            self.next()
            return f"({self.binary(_UNARY_PREC)})|_kf_pos"
        return self.postfix()

    def call_args(self) -> str:
        self.expect("(")
        parts: list[str] = []
        seen_kw = False
        while not self.at(")"):
            t = self.peek()
            if t is not None and t[0] == "name" and self.at("=", 1) and not self.at("==", 1):
                kw = self.check_name(self.name())
                self.next()
                parts.append(f"{kw}={self.expression()}")
                seen_kw = True
            else:
                if seen_kw:
                    self.fail("Positional argument after named argument")
                parts.append(self.expression())
            if not self.at(")"):
                self.expect(",")
        self.next()
        return ", ".join(parts)

    def postfix(self) -> str:
        start_tok = self.peek()
        base, bare_name = self.primary()
        segs: list[str] = []
        last_end = start_tok[3] if start_tok else 0
        while True:
            if self.at("."):
                self.next()
                t = self.next()
                if t[0] == "name" or (t[0] == "num" and isinstance(t[1], int)):
                    segs.append(repr(t[1]))
                else:
                    self.fail(f"Unexpected '{t[1]}' after '.'")
                last_end = t[3]
            elif self.at("["):
                self.next()
                segs.append(self.expression())
                last_end = self.expect("]")[3]
            elif self.at("("):
                if bare_name is None or segs:
                    self.fail("Method calls are not supported")
                self.calls.add(bare_name)
                args = self.call_args()
                if bare_name in ("render", "renderOnce") and self.local_names:
                    # jinja hides loop/macro locals from context functions; hand them over explicitly
                    local = ", ".join(f"{n!r}: {n}" for n in sorted(set(self.local_names)))
                    args = f"{args}, _kf_locals={{ {local} }}" if args else f"_kf_locals={{ {local} }}"
                base = f"{bare_name}({args})"
                bare_name = None
                last_end = self.toks[self.i - 1][3]
            else:
                break
        if not segs:
            return base
        path = self.src[start_tok[2]:last_end] if start_tok else ""
        return f"({base})|_kf_get(({', '.join(segs)},), {path!r})"

    def primary(self) -> tuple[str, str | None]:
        t = self.next()
        kind, val = t[0], t[1]
        if kind == "str":
            return repr(val), None
        if kind == "num":
            return repr(val), None
        if kind == "name":
            assert isinstance(val, str)
            if val in ("true", "false"):
                return val, None
            if val in ("null", "none"):
                return "none", None
            if val in _BINARY or val in ("not",):
                self.fail(f"Unexpected '{val}'")
            if val in _JINJA_RESERVED:
                self.fail(f"Illegal name '{val}'")
            return self.check_name(val), val
        if val == "(":
            inner = self.expression()
            self.expect(")")
            return f"({inner})", None
        if val == "[":
            items: list[str] = []
            while not self.at("]"):
                items.append(self.expression())
                if not self.at("]"):
                    self.expect(",")
            self.next()
            return f"[{', '.join(items)}]", None
        if val == "{":
            pairs: list[str] = []
            while not self.at("}"):
                k = self.expression()
                self.expect(":")
                pairs.append(f"{k}: {self.expression()}")
                if not self.at("}"):
                    self.expect(",")
            self.next()
            return "{ " + ", ".join(pairs) + " }", None
        self.fail(f"Unexpected '{val}'")
        raise AssertionError  # unreachable


_PASS_TAGS = {"else": "else", "endif": "endif", "endfor": "endfor", "endmacro": "endmacro",
              "endfilter": "endfilter", "endblock": "endblock"}


def translate(src: str, names: Names) -> Translation:
    out: list[str] = []
    exprs: dict[int, list[str]] = {}
    calls: set[str] = set()
    macros: set[str] = set()
    scopes: list[list[str]] = []  # names local to enclosing for loops / macros
    pos = 0
    line = 1
    n_tags = 0
    single: str | None = None
    single_text = ""
    text_only = True

    while True:
        m = _OPEN_RE.search(src, pos)
        if not m:
            tail = src[pos:]
            out.append(tail)
            if tail.strip():
                text_only = False
            break
        text = src[pos:m.start()]
        if text.strip():
            text_only = False
        out.append(text)
        line += text.count("\n")
        opener = m.group(0)
        start = m.start()
        if opener == "{#":
            end = src.find("#}", m.end())
            if end < 0:
                raise PebbleSyntaxError("Unclosed comment", src[start:start + 40], line)
            body = src[start:end + 2]
            out.append("{#" + "\n" * body.count("\n") + "#}")
            line += body.count("\n")
            pos = end + 2
            continue
        p = m.end()
        trim_l = src.startswith("-", p)
        if trim_l:
            p += 1
        close = "}}" if opener == "{{" else "%}"
        try:
            toks, end, trim_r = _lex(src, p, close, start)
        except PebbleSyntaxError as e:
            e.line = line
            raise
        tag_text = src[start:end]
        nl = "\n" * tag_text.count("\n")
        exprs.setdefault(line, []).append(tag_text)
        lt, rt = ("-" if trim_l else ""), ("-" if trim_r else "")
        parser = _Parser(toks, src, names, tag_text, calls)
        parser.local_names = [n for scope in scopes for n in scope]
        try:
            if opener == "{{":
                n_tags += 1
                if not toks:
                    parser.fail("Empty expression")
                jexpr = parser.expression()
                if not parser.done():
                    parser.fail(f"Unexpected '{parser.peek()[1]}'")  # type: ignore[index]
                single, single_text = jexpr, tag_text
                out.append(f"{{{{{lt} {jexpr} {nl}{rt}}}}}")
                pos = end
            else:
                n_tags += 2  # a tag never makes the template a single typed expression
                tag = parser.name() if toks else parser.fail("Empty tag")
                if tag in ("raw", "verbatim"):
                    em = _ENDRAW_RE[tag].search(src, end)
                    if not em:
                        parser.fail(f"Unclosed {tag} tag")
                    content = src[end:em.start()]
                    if "{" in content:
                        content_nl = "\n" * content.count("\n")
                        out.append(f"{{{{{lt} {content!r} {nl}{content_nl}}}}}")
                    else:
                        out.append(nl + content)
                    line += content.count("\n") + em.group(0).count("\n")
                    pos = em.end()
                    line += tag_text.count("\n")
                    continue
                out.append(_tag(tag, parser, lt, rt, nl, macros, scopes))
                pos = end
        except PebbleSyntaxError as e:
            e.expression = e.expression or tag_text
            e.line = line
            raise
        line += tag_text.count("\n")

    unknown = calls - names.functions - macros
    if unknown:
        raise PebbleSyntaxError(f"Function or Macro [{sorted(unknown)[0]}] does not exist.", src, 1)
    tr = Translation("".join(out), exprs)
    if n_tags == 1 and text_only and single is not None:
        tr.single, tr.single_text = single, single_text
    return tr


def _tag(tag: str, p: _Parser, lt: str, rt: str, nl: str, macros: set[str], scopes: list[list[str]]) -> str:
    def wrap(body: str) -> str:
        if not p.done():
            p.fail(f"Unexpected '{p.peek()[1]}'")  # type: ignore[index]
        return f"{{%{lt} {body} {nl}{rt}%}}"

    if tag == "if":
        return wrap(f"if ({p.expression()})|_kf_bool")
    if tag in ("elseif", "elif"):
        return wrap(f"elif ({p.expression()})|_kf_bool")
    if tag in _PASS_TAGS:
        if tag in ("endfor", "endmacro") and scopes:
            scopes.pop()
        return wrap(_PASS_TAGS[tag])
    if tag == "for":
        var = p.check_name(p.name())
        p.expect("in")
        result = wrap(f"for {var} in ({p.expression()})|_kf_iter")
        scopes.append([var, "loop"])
        return result
    if tag == "set":
        var = p.check_name(p.name())
        p.expect("=")
        return wrap(f"set {var} = {p.expression()}")
    if tag == "macro":
        name = p.check_name(p.name())
        macros.add(name)
        p.expect("(")
        params: list[str] = []
        while not p.at(")"):
            pname = p.check_name(p.name())
            if p.at("="):
                p.next()
                pname += f"={p.expression()}"
            params.append(pname)
            if not p.at(")"):
                p.expect(",")
        p.next()
        scopes.append([x.split("=")[0] for x in params])
        return wrap(f"macro {name}({', '.join(params)})")
    if tag == "filter":
        chain = p.filter_call("")
        while p.at("|"):
            p.next()
            chain += p.filter_call("")
        return wrap(f"filter {chain[1:]}")
    if tag == "block":
        return wrap(f"block {p.check_name(p.name())}")
    p.fail(f"Unsupported tag [{tag}]")
    raise AssertionError  # unreachable
