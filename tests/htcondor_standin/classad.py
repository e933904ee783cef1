"""A small ClassAd model for the HTCondor test stand-in (not HTCondor's ClassAd library).

Values are plain Python objects: ``int``, ``float``, ``bool``, ``str``, :data:`UNDEFINED`,
:data:`ERROR`, :class:`Expr` (an unevaluated expression kept as text), ``dict`` (a nested ad)
and ``list``.  The module parses and evaluates the ClassAd expressions that condor_q,
condor_history, condor_rm and friends accept (``-constraint``, ``-af`` expressions), and renders
values the way the HTCondor tools print them (``-long``, ``-json``, ``-xml``, ``%V``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any


class _Undefined:
    """The ClassAd ``undefined`` value."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


class _Error:
    """The ClassAd ``error`` value."""

    _instance: _Error | None = None

    def __new__(cls) -> _Error:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "error"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()
ERROR = _Error()


class Expr:
    """An attribute value that is an expression (kept as text, evaluated on use)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class ParseError(ValueError):
    """Raised for an expression that is not valid ClassAd syntax."""


# --------------------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<real>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
    |(?P<int>0[xX][0-9a-fA-F]+|\d+)
    |(?P<str>"(?:[^"\\]|\\.)*")
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>=\?=|=!=|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:(),\[\]{}.;=|&^~])
    """,
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    """Split an expression into ``(kind, text)`` tokens."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        tokens.append((kind, m.group()))
    tokens.append(("end", ""))
    return tokens


def unescape_string(body: str) -> str:
    """Decode the escapes of a ClassAd string literal body (without the quotes)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- parser

Node = tuple[Any, ...]


class _Parser:
    """Recursive-descent parser producing tuple nodes."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        """The next token (not consumed)."""
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        """Consume and return the next token."""
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, op: str) -> None:
        """Consume operator ``op`` or fail."""
        kind, val = self.take()
        if val != op or kind not in ("op",):
            raise ParseError(f"expected {op!r}, got {val!r}")

    def parse(self) -> Node:
        """Parse the whole text as one expression."""
        if self.peek()[0] == "end":
            raise ParseError("empty expression")
        node = self.ternary()
        if self.peek()[0] != "end":
            raise ParseError(f"unexpected {self.peek()[1]!r}")
        return node

    def ternary(self) -> Node:
        """``cond ? a : b`` (lowest precedence)."""
        cond = self.binary(0)
        if self.peek() == ("op", "?"):
            self.take()
            a = self.ternary()
            self.expect(":")
            b = self.ternary()
            return ("?", cond, a, b)
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("|",),
        ("^",),
        ("&",),
        ("==", "!=", "=?=", "=!=", "is", "isnt"),
        ("<", "<=", ">", ">="),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def _op_at(self, level: int) -> str | None:
        kind, val = self.peek()
        ops = self._LEVELS[level]
        if kind == "op" and val in ops:
            return val
        if kind == "name" and val.lower() in ops:
            return val.lower()
        return None

    def binary(self, level: int) -> Node:
        """Left-associative binary operators of precedence ``level`` and above."""
        if level >= len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            op = self._op_at(level)
            if op is None:
                return left
            self.take()
            right = self.binary(level + 1)
            left = ("bin", op, left, right)

    def unary(self) -> Node:
        """Prefix ``-``, ``+``, ``!``, ``~``."""
        kind, val = self.peek()
        if kind == "op" and val in ("-", "+", "!", "~"):
            self.take()
            return ("un", val, self.unary())
        return self.postfix()

    def postfix(self) -> Node:
        """Subscripts ``x[i]`` and attribute selection ``ad.attr``."""
        node = self.primary()
        while True:
            kind, val = self.peek()
            if kind == "op" and val == "[":
                self.take()
                idx = self.ternary()
                self.expect("]")
                node = ("index", node, idx)
            elif kind == "op" and val == "." and node[0] in ("attr", "select"):
                self.take()
                k2, name = self.take()
                if k2 != "name":
                    raise ParseError("expected attribute name after '.'")
                node = ("select", node, name)
            else:
                return node

    def primary(self) -> Node:
        """Literals, attribute references, calls, parentheses, lists and nested ads."""
        kind, val = self.take()
        if kind == "int":
            return ("lit", int(val, 0))
        if kind == "real":
            return ("lit", float(val))
        if kind == "str":
            return ("lit", unescape_string(val[1:-1]))
        if kind == "name":
            low = val.lower()
            if low == "true":
                return ("lit", True)
            if low == "false":
                return ("lit", False)
            if low == "undefined":
                return ("lit", UNDEFINED)
            if low == "error":
                return ("lit", ERROR)
            if self.peek() == ("op", "("):
                self.take()
                args: list[Node] = []
                if self.peek() != ("op", ")"):
                    while True:
                        args.append(self.ternary())
                        if self.peek() == ("op", ","):
                            self.take()
                            continue
                        break
                self.expect(")")
                return ("call", low, args)
            if low in ("my", "target") and self.peek() == ("op", "."):
                self.take()
                k2, name = self.take()
                if k2 != "name":
                    raise ParseError("expected attribute name")
                return ("attr", name, low)
            return ("attr", val, "")
        if kind == "op" and val == "(":
            node = self.ternary()
            self.expect(")")
            return node
        if kind == "op" and val == "{":
            items: list[Node] = []
            if self.peek() != ("op", "}"):
                while True:
                    items.append(self.ternary())
                    if self.peek() == ("op", ","):
                        self.take()
                        continue
                    break
            self.expect("}")
            return ("list", items)
        if kind == "op" and val == "[":
            pairs: list[tuple[str, Node]] = []
            while self.peek() != ("op", "]"):
                k2, name = self.take()
                if k2 != "name":
                    raise ParseError("expected attribute name in nested ad")
                self.expect("=")
                pairs.append((name, self.ternary()))
                if self.peek() == ("op", ";"):
                    self.take()
            self.expect("]")
            return ("ad", pairs)
        raise ParseError(f"unexpected token {val!r}")


_PARSE_CACHE: dict[str, Node] = {}


def parse(text: str) -> Node:
    """Parse ClassAd expression text into a node tree (raises :class:`ParseError`)."""
    node = _PARSE_CACHE.get(text)
    if node is None:
        node = _Parser(text).parse()
        _PARSE_CACHE[text] = node
    return node


def parse_value(text: str) -> Any:
    """Turn the right-hand side of an attribute assignment into a stored value.

    Literals become Python values; anything else is kept as an :class:`Expr`.
    """
    node = parse(text)
    if node[0] == "lit":
        return node[1]
    if node[0] == "un" and node[1] == "-" and node[2][0] == "lit":
        value = node[2][1]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    return Expr(text.strip())


# --------------------------------------------------------------------------- evaluation


def lookup(ad: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive attribute lookup; :data:`UNDEFINED` if absent."""
    if name in ad:
        return ad[name]
    low = name.lower()
    for key, value in ad.items():
        if key.lower() == low:
            return value
    return UNDEFINED


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float)


def _num(v: Any) -> int | float:
    return int(v) if isinstance(v, bool) else v


def _truth(v: Any) -> Any:
    """Interpret a value as a boolean: True/False, UNDEFINED or ERROR."""
    if v is UNDEFINED or v is ERROR:
        return v
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    return ERROR


class Evaluator:
    """Evaluates parsed expressions against one ad."""

    def __init__(self, ad: Mapping[str, Any]) -> None:
        self.ad = ad
        self.depth = 0

    def attr(self, name: str) -> Any:
        """The evaluated value of attribute ``name``."""
        value = lookup(self.ad, name)
        if isinstance(value, Expr):
            if self.depth > 40:
                return ERROR
            self.depth += 1
            try:
                return self.eval(parse(value.text))
            except ParseError:
                return ERROR
            finally:
                self.depth -= 1
        return value

    def eval(self, node: Node) -> Any:
        """Evaluate a parsed node."""
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "attr":
            if node[2] == "target":
                return UNDEFINED
            return self.attr(node[1])
        if kind == "select":
            base = self.eval(node[1])
            if isinstance(base, dict):
                return Evaluator(base).attr(node[2])
            return UNDEFINED if base is UNDEFINED else ERROR
        if kind == "un":
            return self._unary(node[1], self.eval(node[2]))
        if kind == "bin":
            return self._binary(node[1], node[2], node[3])
        if kind == "?":
            cond = _truth(self.eval(node[1]))
            if cond is UNDEFINED or cond is ERROR:
                return cond
            return self.eval(node[2] if cond else node[3])
        if kind == "list":
            return [self.eval(n) for n in node[1]]
        if kind == "ad":
            return {k: self.eval(v) for k, v in node[1]}
        if kind == "index":
            base = self.eval(node[1])
            idx = self.eval(node[2])
            if base is UNDEFINED or idx is UNDEFINED:
                return UNDEFINED
            if isinstance(base, list) and isinstance(idx, int) and not isinstance(idx, bool):
                return base[idx] if -len(base) <= idx < len(base) else ERROR
            if isinstance(base, dict) and isinstance(idx, str):
                return Evaluator(base).attr(idx)
            return ERROR
        if kind == "call":
            return self._call(node[1], node[2])
        return ERROR

    @staticmethod
    def _unary(op: str, v: Any) -> Any:
        if v is UNDEFINED or v is ERROR:
            return v
        if op == "!":
            t = _truth(v)
            return t if not isinstance(t, bool) else not t
        if not _is_num(v):
            return ERROR
        if op == "-":
            return -_num(v)
        if op == "~":
            return ~int(v)
        return _num(v)

    def _binary(self, op: str, ln: Node, rn: Node) -> Any:
        if op == "&&":
            a = _truth(self.eval(ln))
            if a is False:
                return False
            b = _truth(self.eval(rn))
            if a is ERROR or b is ERROR:
                return ERROR
            if b is False:
                return False
            if a is UNDEFINED or b is UNDEFINED:
                return UNDEFINED
            return True
        if op == "||":
            a = _truth(self.eval(ln))
            if a is True:
                return True
            b = _truth(self.eval(rn))
            if a is ERROR or b is ERROR:
                return ERROR
            if b is True:
                return True
            if a is UNDEFINED or b is UNDEFINED:
                return UNDEFINED
            return False
        a = self.eval(ln)
        b = self.eval(rn)
        if op in ("=?=", "is"):
            return _identical(a, b)
        if op in ("=!=", "isnt"):
            return not _identical(a, b)
        if a is ERROR or b is ERROR:
            return ERROR
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        x: Any
        y: Any
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if isinstance(a, str) and isinstance(b, str):
                x, y = a.lower(), b.lower()
            elif _is_num(a) and _is_num(b):
                x, y = _num(a), _num(b)
            else:
                return ERROR
            result = {
                "==": x == y,
                "!=": x != y,
                "<": x < y,
                "<=": x <= y,
                ">": x > y,
                ">=": x >= y,
            }[op]
            return result
        if not (_is_num(a) and _is_num(b)):
            return ERROR
        x, y = _num(a), _num(b)
        try:
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if op == "/":
                if isinstance(x, int) and isinstance(y, int):
                    q = abs(x) // abs(y)
                    return q if (x >= 0) == (y >= 0) else -q
                return x / y
            if op == "%":
                if isinstance(x, int) and isinstance(y, int):
                    r = abs(x) % abs(y)
                    return r if x >= 0 else -r
                return ERROR
            if op == "&":
                return int(x) & int(y)
            if op == "|":
                return int(x) | int(y)
            if op == "^":
                return int(x) ^ int(y)
        except ZeroDivisionError:
            return ERROR
        return ERROR

    def _call(self, name: str, arg_nodes: list[Node]) -> Any:
        if name == "ifthenelse" and len(arg_nodes) == 3:
            cond = _truth(self.eval(arg_nodes[0]))
            if not isinstance(cond, bool):
                return cond
            return self.eval(arg_nodes[1] if cond else arg_nodes[2])
        args = [self.eval(n) for n in arg_nodes]
        func = _FUNCTIONS.get(name)
        if func is None:
            return ERROR
        if not name.startswith("is") and any(a is UNDEFINED for a in args):
            return UNDEFINED
        try:
            return func(*args)
        except (TypeError, ValueError, IndexError, re.error):
            return ERROR


def _identical(a: Any, b: Any) -> bool:
    if a is UNDEFINED or b is UNDEFINED or a is ERROR or b is ERROR:
        return a is b
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def _to_string(v: Any) -> Any:
    if v is UNDEFINED or v is ERROR:
        return v
    if isinstance(v, str):
        return v
    return unparse(v)


def _strcat(*args: Any) -> Any:
    parts = []
    for a in args:
        s = _to_string(a)
        if s is UNDEFINED or s is ERROR:
            return s
        parts.append(s)
    return "".join(parts)


def _to_int(v: Any) -> Any:
    if v is UNDEFINED or v is ERROR:
        return v
    if isinstance(v, str):
        try:
            return int(float(v))
        except ValueError:
            return ERROR
    return int(v)


def _to_real(v: Any) -> Any:
    if v is UNDEFINED or v is ERROR:
        return v
    return float(v)


def _substr(s: Any, offset: Any, length: Any = None) -> Any:
    if not isinstance(s, str):
        return ERROR
    if offset < 0:
        offset = max(0, len(s) + offset)
    end = len(s) if length is None else (offset + length if length >= 0 else len(s) + length)
    return s[offset:end]


def _size(v: Any) -> Any:
    if isinstance(v, str | list | dict):
        return len(v)
    return UNDEFINED if v is UNDEFINED else ERROR


def _split(s: Any, seps: Any = None) -> Any:
    if not isinstance(s, str):
        return ERROR
    chars = ", \t" if seps is None else seps
    return [p for p in re.split("[" + re.escape(chars) + "]+", s) if p]


def _member(v: Any, lst: Any) -> Any:
    if not isinstance(lst, list):
        return ERROR
    if isinstance(v, str):
        return any(isinstance(x, str) and x.lower() == v.lower() for x in lst)
    return v in lst


def _string_list_member(v: Any, lst: Any, seps: Any = ", ") -> Any:
    if not isinstance(v, str) or not isinstance(lst, str):
        return ERROR
    return v in [p for p in re.split("[" + re.escape(seps) + "]+", lst) if p]


def _regexp(pattern: Any, target: Any, options: Any = "") -> Any:
    if not isinstance(pattern, str) or not isinstance(target, str):
        return ERROR
    flags = re.IGNORECASE if "i" in str(options).lower() else 0
    return re.search(pattern, target, flags) is not None


def _version_cmp(a: Any, b: Any) -> int:
    def key(s: str) -> list[int]:
        return [int(x) for x in re.findall(r"\d+", s)]

    ka, kb = key(str(a)), key(str(b))
    return (ka > kb) - (ka < kb)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "strcat": _strcat,
    "string": _to_string,
    "int": _to_int,
    "real": _to_real,
    "substr": _substr,
    "size": _size,
    "strlen": _size,
    "length": _size,
    "tolower": lambda s: s.lower() if isinstance(s, str) else ERROR,
    "toupper": lambda s: s.upper() if isinstance(s, str) else ERROR,
    "isundefined": lambda v: v is UNDEFINED,
    "iserror": lambda v: v is ERROR,
    "isstring": lambda v: isinstance(v, str),
    "isinteger": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "isreal": lambda v: isinstance(v, float),
    "isboolean": lambda v: isinstance(v, bool),
    "islist": lambda v: isinstance(v, list),
    "isclassad": lambda v: isinstance(v, dict),
    "time": lambda: int(time.time()),
    "split": _split,
    "member": _member,
    "stringlistmember": _string_list_member,
    "regexp": _regexp,
    "floor": lambda v: int(v // 1),
    "ceiling": lambda v: int(-(-v // 1)),
    "round": lambda v: int(round(v)),
    "min": lambda *a: min(a[0] if len(a) == 1 and isinstance(a[0], list) else a),
    "max": lambda *a: max(a[0] if len(a) == 1 and isinstance(a[0], list) else a),
    "versionge": lambda a, b: _version_cmp(a, b) >= 0,
    "versionle": lambda a, b: _version_cmp(a, b) <= 0,
    "versiongt": lambda a, b: _version_cmp(a, b) > 0,
    "versionlt": lambda a, b: _version_cmp(a, b) < 0,
    "versioneq": lambda a, b: _version_cmp(a, b) == 0,
}


def evaluate(text: str, ad: Mapping[str, Any]) -> Any:
    """Parse and evaluate ``text`` in the context of ``ad``."""
    return Evaluator(ad).eval(parse(text))


def evaluate_safe(text: str, ad: Mapping[str, Any]) -> Any:
    """Like :func:`evaluate` but a parse error gives :data:`ERROR`."""
    try:
        return evaluate(text, ad)
    except ParseError:
        return ERROR


def eval_attr(ad: Mapping[str, Any], name: str) -> Any:
    """The evaluated value of attribute ``name`` of ``ad``."""
    return Evaluator(ad).attr(name)


def matches(text: str, ad: Mapping[str, Any]) -> bool:
    """Whether constraint ``text`` evaluates to true for ``ad``."""
    return _truth(evaluate(text, ad)) is True


def _id_terms(node: Node) -> dict[str, set[int | float]] | None:
    """``{attribute: numbers}`` when ``node`` is ``A == n || B == m || ...``; else None."""
    terms: dict[str, set[int | float]] = {}
    pending = [node]
    while pending:
        item = pending.pop()
        if item[0] == "bin" and item[1] == "||":
            pending += [item[2], item[3]]
            continue
        if not (item[0] == "bin" and item[1] == "=="):
            return None
        left, right = item[2], item[3]
        if left[0] != "attr" or left[2] not in ("", "my") or right[0] != "lit":
            return None
        value = right[1]
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        terms.setdefault(left[1], set()).add(value)
    return terms


_ID_TERMS: dict[str, dict[str, set[int | float]] | None] = {}


def _terms_of(text: str) -> dict[str, set[int | float]] | None:
    if text not in _ID_TERMS:
        try:
            _ID_TERMS[text] = _id_terms(parse(text))
        except ParseError:
            _ID_TERMS[text] = None
    return _ID_TERMS[text]


def id_attributes(text: str) -> list[str]:
    """The attributes of a constraint :func:`quick_match` decides (else none)."""
    return list(_terms_of(text) or {})


def quick_match(text: str, ad: Mapping[str, Any]) -> bool | None:
    """Constraint ``text`` for ``ad`` when it is decided by numbers alone; else None.

    A constraint that only ORs ``Attr == number`` terms (``ClusterId == 7 ||
    ClusterId == 9 || DAGManJobId == 7``, what a refresh asks) is decided
    with a set lookup per attribute instead of evaluating every term: the
    same answer whenever those attributes hold numbers or are undefined (a
    true term makes the disjunction true; undefined and false ones do not).
    Any other value (or constraint) gives None: evaluate it (:func:`matches`),
    which also decides how an ERROR term combines with the others.  Numbers
    are stored as they are, so this works on stored ads too.
    """
    terms = _terms_of(text)
    if not terms:
        return None
    hit = False
    for name, numbers in terms.items():
        value = lookup(ad, name)
        if value is UNDEFINED:
            continue
        if not isinstance(value, int | float):
            return None
        hit = hit or value in numbers
    return hit


def matcher(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """A function telling whether constraint ``text`` is true for an ad (:func:`matches`).

    Fast for the constraints :func:`quick_match` decides.
    """

    def match(ad: Mapping[str, Any]) -> bool:
        quick = quick_match(text, ad)
        return matches(text, ad) if quick is None else quick

    return match


# --------------------------------------------------------------------------- rendering


def quote_string(s: str) -> str:
    """A ClassAd string literal for ``s``."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_real(v: float) -> str:
    """Render a real the way ClassAds print it (``0.0``, ``1.25``, ``1e+30``)."""
    if v != v:
        return 'real("NaN")'
    if v in (float("inf"), float("-inf")):
        return 'real("INF")' if v > 0 else 'real("-INF")'
    text = repr(float(v))
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mant}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def unparse(v: Any) -> str:
    """The ClassAd source text of a stored value (as ``condor_q -long`` prints it)."""
    if v is UNDEFINED or v is None:
        return "undefined"
    if v is ERROR:
        return "error"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_real(v)
    if isinstance(v, str):
        return quote_string(v)
    if isinstance(v, Expr):
        return v.text
    if isinstance(v, dict):
        if not v:
            return "[  ]"
        return "[ " + "; ".join(f"{k} = {unparse(x)}" for k, x in v.items()) + " ]"
    if isinstance(v, list):
        return "{ " + ",".join(unparse(x) for x in v) + " }"
    return str(v)


def format_af(v: Any, quote_strings: bool = False) -> str:
    """Render an evaluated value for ``-af`` output (``-af:V`` quotes strings)."""
    if isinstance(v, str) and not quote_strings:
        return v
    return unparse(v)


def _json_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def to_json_value(v: Any, indent: int) -> str:
    """One attribute value in HTCondor's JSON rendering."""
    if v is UNDEFINED or v is None:
        return "null"
    if v is ERROR:
        return '"\\/Expr(error)\\/"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_real(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, Expr):
        return '"\\/Expr(' + _json_string(v.text)[1:-1] + ')\\/"'
    if isinstance(v, dict):
        pad = "  " * (indent + 1)
        lines = [f"{pad}{_json_string(k)}: {to_json_value(x, indent + 1)}" for k, x in v.items()]
        inner = ",\n".join(lines)
        return "{\n" + (inner + "\n" if inner else "") + "  " * indent + "}"
    if isinstance(v, list):
        return "[" + ", ".join(to_json_value(x, indent) for x in v) + "]"
    return _json_string(str(v))


def sorted_items(ad: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Attributes in the order HTCondor prints a full ad (plain byte order of the names)."""
    return sorted(ad.items(), key=lambda kv: kv[0])


def format_long(ad: Mapping[str, Any]) -> str:
    """``-long`` rendering: one ``Name = value`` line per attribute, sorted, no blank line."""
    return "".join(f"{k} = {unparse(v)}\n" for k, v in sorted_items(ad))


def format_json_ad(ad: Mapping[str, Any]) -> str:
    """One ad as HTCondor prints it inside ``-json`` output (no trailing newline)."""
    lines = [f"  {_json_string(k)}: {to_json_value(v, 1)}" for k, v in sorted_items(ad)]
    return "{\n" + ",\n".join(lines) + "\n}"


def format_jsonl_ad(ad: Mapping[str, Any]) -> str:
    """One ad on one line (``-jsonl``)."""
    parts = [f"{_json_string(k)}: {to_json_value(v, 0)}" for k, v in sorted_items(ad)]
    return "{" + ",".join(parts) + "}"


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_xml_value(v: Any) -> str:
    """One value in the old ClassAd XML format."""
    if isinstance(v, bool):
        return f'<b v="{"t" if v else "f"}"/>'
    if isinstance(v, int):
        return f"<i>{v}</i>"
    if isinstance(v, float):
        return f"<r>{format_real(v)}</r>"
    if isinstance(v, str):
        return f"<s>{_xml_escape(v)}</s>"
    if v is UNDEFINED or v is None:
        return "<un/>"
    if isinstance(v, Expr):
        return f"<e>{_xml_escape(v.text)}</e>"
    return f"<e>{_xml_escape(unparse(v))}</e>"


def format_xml_ad(ad: Mapping[str, Any]) -> str:
    """One ad as a ``<c>`` element."""
    lines = ["<c>"]
    for k, v in sorted_items(ad):
        lines.append(f'    <a n="{k}">{to_xml_value(v)}</a>')
    lines.append("</c>")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- storage


def to_storable(v: Any) -> Any:
    """Encode a value for the JSON state files."""
    if v is UNDEFINED or v is None:
        return {"$u": 1}
    if v is ERROR:
        return {"$err": 1}
    if isinstance(v, Expr):
        return {"$e": v.text}
    if isinstance(v, dict):
        return {"$a": {k: to_storable(x) for k, x in v.items()}}
    if isinstance(v, list):
        return [to_storable(x) for x in v]
    return v


def from_storable(v: Any) -> Any:
    """Decode a value written by :func:`to_storable`."""
    if isinstance(v, dict):
        if "$u" in v:
            return UNDEFINED
        if "$err" in v:
            return ERROR
        if "$e" in v:
            return Expr(v["$e"])
        if "$a" in v:
            return {k: from_storable(x) for k, x in v["$a"].items()}
    if isinstance(v, list):
        return [from_storable(x) for x in v]
    return v


def ad_to_storable(ad: Mapping[str, Any]) -> dict[str, Any]:
    """Encode a whole ad."""
    return {k: to_storable(v) for k, v in ad.items()}


def ad_from_storable(data: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a whole ad (numbers, strings and booleans are stored as they are)."""
    return {k: from_storable(v) if isinstance(v, dict | list) else v for k, v in data.items()}
