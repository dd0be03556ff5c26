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
      | (?P<op>\|\||[~+\-*:/|(),^])
    )""",
    re.VERBOSE,
)

# Names formulaic gives a meaning of its own inside the fixed part.
_TRANSFORMS = {"C"}
_CONTRASTS = {"Treatment", "contr.treatment", "T"}


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

    @property
    def variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {self.response: None}
        for v in self.fixed_variables:
            seen[v] = None
        for term in self.random:
            for e in term.effects:
                if e != "(Intercept)":
                    seen[e] = None
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


def _text(tokens: list[Token]) -> str:
    out = ""
    for tok in tokens:
        if tok.kind == "op" and tok.text in {"+", "-", "*", "~", "|", "||", "/"}:
            out += f" {tok.text} "
        elif tok.text == ",":
            out += ", "
        else:
            out += tok.text
    return " ".join(out.split())


def _check_fixed(tokens: list[Token], formula: str) -> list[str]:
    """Check the fixed part against the grammar and return its variable names."""
    variables: list[str] = []
    depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "ident":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and nxt.text == "(":
                if tok.text not in _TRANSFORMS:
                    raise ModelSpecError(
                        f"the formula {formula!r} calls {tok.text}(...); only C(x) and "
                        "C(x, Treatment('level')) are allowed in the fixed part"
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
        elif tok.text in {"|", "||", "~", ",", "^"}:
            raise ModelSpecError(f"unexpected {tok.text!r} in the fixed part of {formula!r}")
        i += 1
    if depth != 0:
        raise ModelSpecError(f"unbalanced parentheses in the formula {formula!r}")
    return variables


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
    # Left side: 1, 0, -1 and variable names joined by +.
    intercept = True
    effects: list[str] = []
    sign = "+"
    for tok in lhs:
        if tok.text in {"+", "-"}:
            sign = tok.text
        elif tok.kind == "number" and tok.text in {"0", "1"}:
            if tok.text == "0" or sign == "-":
                intercept = False
            sign = "+"
        elif tok.kind == "ident":
            if sign == "-":
                raise ModelSpecError(f"cannot remove {tok.text!r} in a random term of {formula!r}")
            if tok.text not in effects:
                effects.append(tok.text)
        else:
            raise ModelSpecError(
                f"the left side of a random term in {formula!r} may hold only 1, 0 and "
                f"variable names joined by +, not {tok.text!r}"
            )
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
    for part in _split_top(rhs, "+"):
        if not part:
            raise ModelSpecError(f"empty term (two + in a row?) in the formula {formula!r}")
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
    variables = _check_fixed(flat, formula)
    fixed = _text(flat) if flat else "1"
    seen: dict[str, None] = {}
    for v in variables:
        seen[v] = None
    return ParsedFormula(lhs[0].text, fixed, tuple(random), tuple(seen))
