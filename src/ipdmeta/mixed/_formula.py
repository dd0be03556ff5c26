"""Split an lme4-style formula into its fixed part and its random-effects terms.

The text is tokenised and checked against a small grammar; nothing a user writes is
evaluated. The fixed part is handed to formulaic only after that check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ipdmeta.errors import ModelSpecError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<string>"[^"\\]*"|'[^'\\]*')
      | (?P<op>\|\||\*\*|[~+\-*:/|(),^])
    )""",
    re.VERBOSE,
)

# Names formulaic gives a meaning of its own inside the fixed part.
_TRANSFORMS = {"C"}
_CONTRASTS = {"Treatment", "contr.treatment", "T"}
# Functions of numeric variables allowed in the fixed part, as in R's formulas. scale(),
# center() and poly() are stateful: their mean, SD and orthogonal basis are those of the
# rows fitted, and are reused for marginal means and predictions (formulaic matches R's
# scale() and poly() to machine precision).
_FUNCTIONS = {"log", "log2", "log10", "exp", "sqrt", "abs", "I", "poly", "scale", "center"}
_CALL_OPS = {"+", "-", "*", "/", "^", "**", "(", ")", ","}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(effects | group)`` after expanding ``||`` and ``/``.

    ``effects`` lists the columns of the term's model matrix: ``"(Intercept)"`` and/or
    variable names. ``group`` lists the variables whose interaction is the grouping factor.
    """

    effects: tuple[str, ...]
    group: tuple[str, ...]

    @property
    def group_name(self) -> str:
        return ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """The three parts of a mixed-model formula."""

    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    fixed_variables: tuple[str, ...]
    transformed: tuple[str, ...] = ()  # variables read inside log(), I(), poly(), ...
    # The expressions inside offset(...) terms, Python's ** for R's ^, and what they read.
    offsets: tuple[str, ...] = ()
    offset_variables: tuple[str, ...] = ()

    @property
    def variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {self.response: None}
        for v in (*self.fixed_variables, *self.offset_variables):
            seen[v] = None
        for term in self.random:
            for e in term.effects:
                for v in effect_variables(e):
                    seen[v] = None
            for g in term.group:
                seen[g] = None
        return tuple(seen)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ModelSpecError(
                f"cannot read the formula {text!r} at position {pos}: unexpected "
                f"{text[pos : pos + 10]!r}; use variable names, +, :, *, ( | ) and "
                "C(x, Treatment('level'))"
            )
        kind = m.lastgroup or "op"
        tokens.append(Token(kind, m.group(kind)))
        pos = m.end()
    return tokens


def _split_top(tokens: list[Token], sep: str) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if depth == 0 and tok.kind == "op" and tok.text == sep:
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _text(tokens: list[Token], python_power: bool = False) -> str:
    """The tokens as formula text. ``python_power``: R's ``^`` inside a call becomes
    Python's ``**`` (what formulaic evaluates)."""
    out = ""
    for tok in tokens:
        if tok.kind == "op" and tok.text in {"+", "-", "*", "~", "|", "||", "/"}:
            out += f" {tok.text} "
        elif tok.text in {"^", "**"}:
            out += " ** " if python_power else "^"
        elif tok.text == ",":
            out += ", "
        else:
            out += tok.text
    return " ".join(out.split())


def _check_fixed(tokens: list[Token], formula: str, transformed: list[str] | None = None
                 ) -> list[str]:  # fmt: skip
    """Check the fixed part against the grammar and return its variable names (those
    read inside a function call are also added to ``transformed``)."""
    variables: list[str] = []
    depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "ident":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and nxt.text == "(":
                if tok.text in _FUNCTIONS:
                    j, found = _check_function_call(tokens, i, formula)
                    variables.extend(found)
                    if transformed is not None:
                        transformed.extend(found)
                    i = j
                    continue
                if tok.text == "offset":
                    raise ModelSpecError(
                        f"offset(...) in the formula {formula!r} is a term of its own, added "
                        "with +: y ~ x + offset(log(t)) + (1 | g)"
                    )
                if tok.text not in _TRANSFORMS:
                    raise ModelSpecError(
                        f"the formula {formula!r} calls {tok.text}(...); the fixed part "
                        f"allows C(x), C(x, Treatment('level')) and "
                        f"{', '.join(f'{f}()' for f in sorted(_FUNCTIONS))}"
                    )
                j, var = _check_c_call(tokens, i, formula)
                variables.append(var)
                i = j
                continue
            variables.append(tok.text)
        elif tok.kind == "string":
            raise ModelSpecError(f"unexpected text {tok.text} in the formula {formula!r}")
        elif tok.kind == "number":
            if tok.text not in {"0", "1"}:
                raise ModelSpecError(
                    f"unexpected number {tok.text} in the formula {formula!r}; only 0 and 1 "
                    "(no intercept / intercept) are allowed"
                )
        elif tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
            if depth < 0:
                raise ModelSpecError(f"unbalanced parentheses in the formula {formula!r}")
        elif tok.text in {"|", "||", "~", ",", "^", "**"}:
            raise ModelSpecError(
                f"unexpected {tok.text!r} in the fixed part of {formula!r}"
                + ("; a power of a variable is written I(x^2)" if tok.text in {"^", "**"}
                   else "")
            )  # fmt: skip
        i += 1
    if depth != 0:
        raise ModelSpecError(f"unbalanced parentheses in the formula {formula!r}")
    return variables


def _check_function_call(tokens: list[Token], i: int, formula: str) -> tuple[int, list[str]]:
    """``f( arithmetic )``: variables, numbers, + - * / ^, parentheses and the allowed
    functions, nested; ``poly(x, degree)`` takes a whole number of at least 1. Returns the
    index after the call and the variables it reads."""
    name = tokens[i].text
    depth, k, variables = 0, i + 1, []
    commas = 0
    while k < len(tokens):
        tok = tokens[k]
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
            if depth == 0:
                break
        elif tok.kind == "ident":
            following = tokens[k + 1].text if k + 1 < len(tokens) else ""
            if following == "(":
                if tok.text not in _FUNCTIONS:
                    raise ModelSpecError(
                        f"the formula {formula!r} calls {tok.text}(...) inside {name}(...); "
                        f"allowed: {', '.join(f'{f}()' for f in sorted(_FUNCTIONS))}"
                    )
            else:
                variables.append(tok.text)
        elif tok.text == ",":
            commas += 1
            if name != "poly" or depth != 1 or commas > 1:
                raise ModelSpecError(
                    f"{name}(...) in the formula {formula!r} takes one argument"
                    + (" (poly takes the variable and the degree: poly(x, 2))" if name ==
                       "poly" else "")
                )  # fmt: skip
            degree = tokens[k + 1] if k + 1 < len(tokens) else None
            after = tokens[k + 2] if k + 2 < len(tokens) else None
            if (degree is None or degree.kind != "number" or "." in degree.text
                    or int(degree.text) < 1 or after is None or after.text != ")"):  # fmt: skip
                raise ModelSpecError(
                    f"poly(...) in the formula {formula!r}: the degree is a whole number of "
                    "at least 1, as in poly(x, 2)"
                )
        elif tok.kind == "string" or (tok.text not in _CALL_OPS and tok.kind == "op"):
            raise ModelSpecError(f"unexpected {tok.text} inside {name}(...) in {formula!r}")
        k += 1
    if k >= len(tokens) or depth != 0:
        raise ModelSpecError(f"unbalanced parentheses in the formula {formula!r}")
    if not variables:
        raise ModelSpecError(f"{name}(...) in the formula {formula!r} names no variable")
    return k + 1, variables


def _check_c_call(tokens: list[Token], i: int, formula: str) -> tuple[int, str]:
    # C ( ident [, Contrast ( "level" ) | , Contrast ] )
    def expect(k: int, what: str) -> Token:
        if k >= len(tokens):
            raise ModelSpecError(f"incomplete C(...) call in the formula {formula!r}")
        tok = tokens[k]
        if what in {"ident", "string"}:
            if tok.kind != what:
                raise ModelSpecError(
                    f"C(...) in the formula {formula!r} must be C(variable) or "
                    "C(variable, Treatment('reference level'))"
                )
        elif tok.text != what:
            raise ModelSpecError(
                f"C(...) in the formula {formula!r} must be C(variable) or "
                "C(variable, Treatment('reference level'))"
            )
        return tok

    expect(i + 1, "(")
    var = expect(i + 2, "ident").text
    k = i + 3
    if tokens[k].text == ",":
        contrast = expect(k + 1, "ident").text
        if contrast not in _CONTRASTS:
            raise ModelSpecError(
                f"contrast {contrast!r} in the formula {formula!r} is not supported; "
                "use Treatment('reference level')"
            )
        k += 2
        if k < len(tokens) and tokens[k].text == "(":
            expect(k + 1, "string")
            expect(k + 2, ")")
            k += 3
    expect(k, ")")
    return k + 1, var


def _parse_random(tokens: list[Token], formula: str) -> list[RandomTerm]:
    bars = [k for k, t in enumerate(tokens) if t.text in {"|", "||"}]
    if len(bars) != 1:
        raise ModelSpecError(f"a random term in {formula!r} must have exactly one | or ||")
    k = bars[0]
    double = tokens[k].text == "||"
    lhs, rhs = tokens[:k], tokens[k + 1 :]
    if not lhs or not rhs:
        raise ModelSpecError(f"a random term in {formula!r} needs effects | group")
    # Left side: 1, 0, -1, variable names and the fixed part's functions of them
    # (log(x), I(x^2), poly(x, 2), ...) joined by +.
    intercept = True
    effects: list[str] = []
    sign = "+"
    i = 0
    while i < len(lhs):
        tok = lhs[i]
        if tok.text in {"+", "-"}:
            sign = tok.text
        elif tok.kind == "number" and tok.text in {"0", "1"}:
            if tok.text == "0" or sign == "-":
                intercept = False
            sign = "+"
        elif tok.kind == "ident":
            end = i + 1
            if end < len(lhs) and lhs[end].text == "(":
                if tok.text not in _FUNCTIONS:
                    raise ModelSpecError(
                        f"a random term in {formula!r} calls {tok.text}(...); allowed: "
                        f"{', '.join(f'{f}()' for f in sorted(_FUNCTIONS))}"
                    )
                end, _found = _check_function_call(lhs, i, formula)
            name = _text(lhs[i:end])
            if sign == "-":
                raise ModelSpecError(f"cannot remove {name!r} in a random term of {formula!r}")
            if name not in effects:
                effects.append(name)
            i = end
            continue
        else:
            raise ModelSpecError(
                f"the left side of a random term in {formula!r} may hold only 1, 0, "
                f"variable names and functions of them joined by +, not {tok.text!r}"
            )
        i += 1
    cols = (["(Intercept)"] if intercept else []) + effects
    if not cols:
        raise ModelSpecError(f"a random term in {formula!r} has no effects")
    # Right side: g, g1:g2 or g1/g2 (nesting: g1 and g2 within g1).
    names = [t for t in rhs if t.kind == "ident"]
    ops = [t.text for t in rhs if t.kind != "ident"]
    if not names or len(names) != len(ops) + 1 or any(o not in {":", "/"} for o in ops):
        raise ModelSpecError(
            f"the grouping side of a random term in {formula!r} must be g, g1:g2 or g1/g2"
        )
    if "/" in ops and ":" in ops:
        raise ModelSpecError(f"mixing / and : in a grouping factor of {formula!r} is not supported")
    groups: list[tuple[str, ...]]
    if "/" in ops:
        # lme4 expands g1/g2 into the grouping factors g2:g1 and g1 (inner first).
        groups = [tuple(reversed([n.text for n in names[: j + 1]])) for j in range(len(names))]
        groups = list(reversed(groups))
    else:
        groups = [tuple(n.text for n in names)]
    terms: list[RandomTerm] = []
    for g in groups:
        if double:
            terms.extend(RandomTerm((c,), g) for c in cols)
        else:
            terms.append(RandomTerm(tuple(cols), g))
    return terms


def is_expression(effect: str) -> bool:
    """Whether a random term's effect is a function call (``log(x)``), not a variable."""
    return "(" in effect and effect != "(Intercept)"


def effect_variables(effect: str) -> list[str]:
    """The variables a random term's effect reads: none for the intercept."""
    if effect == "(Intercept)":
        return []
    if not is_expression(effect):
        return [effect]
    tokens = tokenize(effect)
    return [
        t.text
        for k, t in enumerate(tokens)
        if t.kind == "ident" and not (k + 1 < len(tokens) and tokens[k + 1].text == "(")
    ]


def parse_formula(formula: str) -> ParsedFormula:
    """Parse ``"y ~ fixed + (effects | group)"`` into its parts.

    Raises
    ------
    ModelSpecError
        If the text breaks the grammar or has no random term.
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ModelSpecError(
            f"a formula must be text of the form 'y ~ x + (1 | g)', got {formula!r}"
        )
    tokens = tokenize(formula)
    tildes = [k for k, t in enumerate(tokens) if t.text == "~"]
    if len(tildes) != 1:
        raise ModelSpecError(f"the formula {formula!r} must contain exactly one ~")
    lhs, rhs = tokens[: tildes[0]], tokens[tildes[0] + 1 :]
    if len(lhs) != 1 or lhs[0].kind != "ident":
        raise ModelSpecError(
            f"the left side of {formula!r} must be one variable name (the outcome)"
        )
    if not rhs:
        raise ModelSpecError(f"the formula {formula!r} has nothing right of ~")
    fixed_parts: list[list[Token]] = []
    random: list[RandomTerm] = []
    offsets: list[str] = []
    offset_variables: list[str] = []
    for part in _split_top(rhs, "+"):
        if not part:
            raise ModelSpecError(f"empty term (two + in a row?) in the formula {formula!r}")
        if _is_offset(part):
            offsets.append(_offset_expression(part, formula, offset_variables))
            continue
        is_random = (
            part[0].text == "("
            and part[-1].text == ")"
            and any(t.text in {"|", "||"} for t in part)
        )
        if is_random:
            random.extend(_parse_random(part[1:-1], formula))
        elif any(t.text in {"|", "||"} for t in part):
            raise ModelSpecError(
                f"a random term in {formula!r} must stand alone in parentheses: (1 | g)"
            )
        else:
            fixed_parts.append(part)
    if not random:
        raise ModelSpecError(
            f"the formula {formula!r} has no random-effects term such as (1 | study_id)"
        )
    flat: list[Token] = []
    for part in fixed_parts:
        if flat:
            flat.append(Token("op", "+"))
        flat.extend(part)
    transformed: list[str] = []
    variables = _check_fixed(flat, formula, transformed)
    fixed = _text(flat, python_power=True) if flat else "1"
    seen: dict[str, None] = {}
    for v in variables:
        seen[v] = None
    return ParsedFormula(lhs[0].text, fixed, tuple(random), tuple(seen),
                         tuple(dict.fromkeys(transformed)), tuple(offsets),
                         tuple(dict.fromkeys(offset_variables)))  # fmt: skip


# Functions whose value depends on all the rows fitted, or that make several columns: an
# offset is one known number per row.
_NOT_IN_OFFSETS = {"poly", "scale", "center"}


def _is_offset(part: list[Token]) -> bool:
    """Whether a top-level term is ``offset( ... )`` as a whole."""
    if len(part) < 3 or part[0].text != "offset" or part[1].text != "(":
        return False
    depth = 0
    for k, tok in enumerate(part[1:], start=1):
        depth += tok.text == "("
        depth -= tok.text == ")"
        if depth == 0:
            return k == len(part) - 1
    return False


def _offset_expression(part: list[Token], formula: str, variables: list[str]) -> str:
    """The arithmetic inside ``offset(...)``, checked as a function's argument is; the
    variables it reads are added to ``variables``."""
    inner = part[2:-1]
    stateful = sorted({t.text for t in inner if t.text in _NOT_IN_OFFSETS})
    if stateful:
        raise ModelSpecError(
            f"offset(...) in {formula!r} uses {', '.join(stateful)}(); an offset is a known "
            "number for each row, such as offset(log(months)) or offset(baseline)"
        )
    _end, found = _check_function_call(part, 0, formula)
    variables.extend(found)
    return _text(inner, python_power=True)
