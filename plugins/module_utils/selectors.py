# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Kubernetes label selectors: one parser, one matcher, one renderer.

Every option of this collection that selects objects by label goes through
``parse()`` *before* any API request, so a malformed selector fails with the
option's name instead of the API server's raw 400, and a selector that would
select every object is seen before anything is listed or written.

Accepted forms (the same everywhere):

* a string in kubectl / ``labelSelector`` syntax, as
  ``k8s.io/apimachinery/pkg/labels.Parse`` reads it:
  ``tier=db,env in (prod,stage),!legacy,app!=web,owner``
  (``=``/``==``, ``!=``, ``in (...)``, ``notin (...)``, ``key``, ``!key``;
  the ``>``/``<`` operators are refused: a ``metav1.LabelSelector`` cannot hold
  them);
* a dict of labels (``{tier: db}``, shorthand for ``match_labels``);
* a ``metav1.LabelSelector``: ``{match_labels: {...}, match_expressions:
  [{key, operator, values}]}`` (``matchLabels``/``matchExpressions`` too).

Semantics are ``metav1.LabelSelector``'s: the empty selector matches every
object; ``None`` (no selector) matches nothing; a requirement with an unknown
operator (only possible in objects read from the API) matches nothing, the way
``LabelSelectorAsSelector`` turns an invalid selector into "nothing".
"""


import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union, overload

IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "In", "NotIn", "Exists", "DoesNotExist"
OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SYNTAX_HINT = "write key=value, key!=value, key in (a,b), key notin (a,b), key or !key, separated by commas"


class SelectorError(ValueError):
    """A selector that cannot be used; ``field`` names the option (e.g. ``vm_selector``)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super(SelectorError, self).__init__("%s: %s" % (field, problem))


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: Tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == IN:
            return self.key in labels and labels[self.key] in self.values
        if self.operator == NOT_IN:
            return not (self.key in labels and labels[self.key] in self.values)
        if self.operator == EXISTS:
            return self.key in labels
        if self.operator == DOES_NOT_EXIST:
            return self.key not in labels
        return False  # an invalid selector selects nothing

    def text(self) -> str:
        if self.operator == IN:
            if len(self.values) == 1:
                return "%s=%s" % (self.key, self.values[0])
            return "%s in (%s)" % (self.key, ",".join(self.values))
        if self.operator == NOT_IN:
            if len(self.values) == 1:
                return "%s!=%s" % (self.key, self.values[0])
            return "%s notin (%s)" % (self.key, ",".join(self.values))
        if self.operator == EXISTS:
            return self.key
        return "!" + self.key


@dataclass(frozen=True)
class LabelSelector:
    """A parsed, validated selector; requirements are sorted and de-duplicated,
    so two spellings of the same selector compare equal."""

    requirements: Tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def selects_unlabelled(self) -> bool:
        """True when an object without any label matches: the empty selector and
        selectors made only of ``!=``, ``notin`` and ``!key`` terms.  Such a
        selector does not narrow the set to labelled objects: it takes every
        object that simply lacks the labels named."""
        return self.matches({})

    def matches(self, labels: Optional[Mapping[str, Any]]) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def to_query(self) -> str:
        """The ``labelSelector`` query parameter ('' for the empty selector)."""
        return ",".join(req.text() for req in self.requirements)

    def to_api(self) -> Dict[str, Any]:
        """The canonical ``metav1.LabelSelector`` (single-value ``In`` as matchLabels)."""
        labels = {}
        expressions = []
        for req in self.requirements:
            if req.operator == IN and len(req.values) == 1 and req.key not in labels:
                labels[req.key] = req.values[0]
            else:
                entry = {"key": req.key, "operator": req.operator}  # type: Dict[str, Any]
                if req.values:
                    entry["values"] = list(req.values)
                expressions.append(entry)
        out = {}  # type: Dict[str, Any]
        if labels:
            out["matchLabels"] = labels
        if expressions:
            out["matchExpressions"] = expressions
        return out


def key_problem(key: Any) -> Optional[str]:
    if not isinstance(key, str) or not key:
        return "label keys must be non-empty strings"
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return "%r has an invalid prefix: it must be a DNS-1123 subdomain (e.g. 'example.com/app')" % key
    if len(name) > 63 or not _NAME.match(name):
        return ("%r is not a valid label key: at most 63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit, optionally after a DNS prefix and '/'" % key)
    return None


def value_problem(value: Any) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, str):
        hint = str(value).lower() if isinstance(value, bool) else value
        return "%r is not a string: quote label values (e.g. '%s')" % (value, hint)
    if value and (len(value) > 63 or not _NAME.match(value)):
        return ("%r is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit" % value)
    return None


def _requirement(field: str, key: str, operator: str, values: Optional[List[str]]) -> Requirement:
    """A requirement of the string form (whose grammar already fixes the operator)."""
    problem = key_problem(key)
    if problem:
        raise SelectorError(field, problem)
    for value in values or []:
        problem = value_problem(value)
        if problem:
            raise SelectorError(field, problem)
    return Requirement(key, operator, tuple(sorted(set(values or []))))


def _build(requirements: List[Requirement]) -> LabelSelector:
    unique = sorted(set(requirements), key=lambda r: (r.key, r.operator, r.values))
    return LabelSelector(tuple(unique))


# ------------------------------------------------------------- string form
_SPECIAL = "!=,()<>"
_KEYWORDS = {"in": "in", "notin": "notin"}


def _tokens(field: str, text: str) -> List[Tuple[str, str]]:
    """(kind, text) tokens as the Kubernetes lexer cuts them."""
    out = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        if char in "!=":
            if text[pos:pos + 2] in ("!=", "=="):
                out.append((text[pos:pos + 2], text[pos:pos + 2]))
                pos += 2
            else:
                out.append((char, char))
                pos += 1
            continue
        if char in ",()<>":
            out.append((char, char))
            pos += 1
            continue
        end = pos
        while end < len(text) and not text[end].isspace() and text[end] not in _SPECIAL:
            end += 1
        word = text[pos:end]
        out.append((_KEYWORDS.get(word, "ident"), word))
        pos = end
    out.append(("end", ""))
    return out


def parse_string(field: str, text: str) -> LabelSelector:
    tokens = _tokens(field, text)
    index = 0
    requirements = []

    def take() -> Tuple[str, str]:
        nonlocal index
        token = tokens[index]
        index += 1
        return token

    def peek() -> str:
        return tokens[index][0]

    def fail(what: str) -> SelectorError:
        return SelectorError(field, "%r is not a label selector: %s (%s)" % (text, what, _SYNTAX_HINT))

    if peek() == "end":
        return LabelSelector()
    while True:
        kind, word = take()
        if kind == "!":
            kind, word = take()
            if kind != "ident":
                raise fail("'!' must be followed by a label key")
            requirements.append(_requirement(field, word, DOES_NOT_EXIST, None))
        elif kind == "ident":
            key = word
            kind, word = tokens[index]
            if kind in ("end", ","):
                requirements.append(_requirement(field, key, EXISTS, None))
            elif kind in ("=", "==", "!="):
                take()
                value = take()[1] if peek() == "ident" else ""
                requirements.append(_requirement(field, key, NOT_IN if kind == "!=" else IN, [value]))
            elif kind in ("in", "notin"):
                take()
                if take()[0] != "(":
                    raise fail("'%s' must be followed by '(' and a list of values" % kind)
                values = []
                while True:
                    nxt, value = take()
                    if nxt == "ident":
                        values.append(value)
                        nxt, value = take()
                    if nxt == ")":
                        break
                    if nxt != ",":
                        raise fail("the values after %r %s must be separated by ',' and closed by ')'" % (key, kind))
                if not values:
                    raise fail("'%s ()' on %r has no value" % (kind, key))
                requirements.append(_requirement(field, key, IN if kind == "in" else NOT_IN, values))
            elif kind in ("<", ">"):
                raise fail("'%s' is not supported here: a LabelSelector has no numeric comparison, list the values "
                           "with 'in (...)'" % kind)
            else:
                raise fail("unexpected %r after the key %r" % (word, key))
        elif kind == "end":
            raise fail("it ends with ','")
        else:
            raise fail("expected a label key, found %r" % word)
        kind, word = take()
        if kind == "end":
            return _build(requirements)
        if kind != ",":
            raise fail("expected ',' between requirements, found %r" % word)


# --------------------------------------------------------------- dict form
_FULL_KEYS = frozenset(["match_labels", "match_expressions", "matchLabels", "matchExpressions"])


def split_dict(value: Mapping[str, Any]) -> Tuple[Any, Any]:
    """(labels, expressions) of a dict selector: the full form (snake or camel
    case keys) or a plain dict of labels (shorthand for ``match_labels``)."""
    if value and set(value) <= _FULL_KEYS:
        return (value.get("match_labels", value.get("matchLabels")) or {},
                value.get("match_expressions", value.get("matchExpressions")) or [])
    return value, []


def _expression_problems(where: str, expr: Any) -> List[SelectorError]:
    if not isinstance(expr, Mapping):
        return [SelectorError(where, "must be a dict with key, operator and values")]
    out = []
    unknown = sorted(set(expr) - set(["key", "operator", "values"]))
    if unknown:
        out.append(SelectorError(where, "unknown field(s) %s: use key, operator, values" % ", ".join(unknown)))
    problem = key_problem(expr.get("key"))
    if problem:
        out.append(SelectorError(where + ".key", problem))
    operator, values = expr.get("operator"), expr.get("values")
    if operator not in OPERATORS:
        out.append(SelectorError(where + ".operator", "operator %r is not supported: use one of %s"
                                 % (operator, ", ".join(OPERATORS))))
    elif values is not None and not isinstance(values, (list, tuple)):
        out.append(SelectorError(where + ".values", "values of %r must be a list of strings" % (expr.get("key"),)))
    elif operator in (IN, NOT_IN) and not values:
        out.append(SelectorError(where + ".values", "%s on %r needs at least one value" % (operator, expr.get("key"))))
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        out.append(SelectorError(where + ".values", "%s on %r takes no values" % (operator, expr.get("key"))))
    else:
        for pos, item in enumerate(values or []):
            problem = value_problem(item)
            if problem:
                out.append(SelectorError("%s.values[%d]" % (where, pos), problem))
    return out


def dict_problems(field: str, value: Mapping[str, Any]) -> List[SelectorError]:
    """Every problem of a dict selector, each naming its exact field
    (``<field>.match_labels[<key>]``, ``<field>.match_expressions[<i>].operator`` ...)."""
    labels, expressions = split_dict(value)
    if not isinstance(labels, Mapping):
        return [SelectorError(field + ".match_labels", "must be a dict of label key: value")]
    if not isinstance(expressions, (list, tuple)):
        return [SelectorError(field + ".match_expressions", "must be a list of {key, operator, values}")]
    out = []
    for key in sorted(labels, key=str):
        problem = key_problem(key) or value_problem(labels[key])
        if problem:
            out.append(SelectorError("%s.match_labels[%s]" % (field, key), problem))
    for index, expr in enumerate(expressions):
        out.extend(_expression_problems("%s.match_expressions[%d]" % (field, index), expr))
    return out


def parse_dict(field: str, value: Mapping[str, Any]) -> LabelSelector:
    problems = dict_problems(field, value)
    if problems:
        raise problems[0]
    labels, expressions = split_dict(value)
    requirements = [Requirement(key, IN, (labels[key],)) for key in labels]
    requirements += [Requirement(expr["key"], expr["operator"], tuple(sorted(set(expr.get("values") or ()))))
                     for expr in expressions]
    return _build(requirements)


@overload
def parse(field: str, value: None) -> None: ...


@overload
def parse(field: str, value: Union[str, Mapping[str, Any]]) -> LabelSelector: ...


def parse(field: str, value: Any) -> Optional[LabelSelector]:
    """A ``LabelSelector`` from an option value (string or dict); None when not
    given.  Raises ``SelectorError`` naming ``field`` on anything malformed."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_string(field, value)
    if isinstance(value, Mapping):
        return parse_dict(field, value)
    raise SelectorError(field, "%r is not a label selector: give a string such as 'tier=db' or a dict of labels"
                        % (value,))


@overload
def from_api(selector: None) -> None: ...


@overload
def from_api(selector: Mapping[str, Any]) -> LabelSelector: ...


def from_api(selector: Optional[Mapping[str, Any]]) -> Optional[LabelSelector]:
    """A selector read from an API object, without validation: unknown
    operators are kept (they match nothing); ``None`` stays ``None``."""
    if selector is None:
        return None
    requirements = [Requirement(k, IN, (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        requirements.append(Requirement(expr.get("key"), expr.get("operator"), tuple(expr.get("values") or ())))
    return LabelSelector(tuple(requirements))


def matches(selector: Optional[Mapping[str, Any]], labels: Optional[Mapping[str, Any]]) -> bool:
    """``metav1.LabelSelector`` matching for a selector dict: ``{}`` matches
    everything, ``None`` nothing, an unknown operator nothing."""
    parsed = from_api(selector)
    return parsed is not None and parsed.matches(labels)


def query(selector: Mapping[str, Any]) -> str:
    """The ``labelSelector`` query / kubectl text of a ``metav1.LabelSelector``
    dict: matchLabels (sorted), then matchExpressions in their order; '' for {}.
    A requirement with an unknown operator has no text form and is left out."""
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), ",".join(expr.get("values") or [])
        if operator == IN:
            parts.append("%s in (%s)" % (key, values))
        elif operator == NOT_IN:
            parts.append("%s notin (%s)" % (key, values))
        elif operator == EXISTS:
            parts.append(key)
        elif operator == DOES_NOT_EXIST:
            parts.append("!" + key)
    return ",".join(parts)


def text(selector: Optional[Mapping[str, Any]]) -> str:
    """kubectl's rendering: '<none>' for no selector, '<all>' for {}."""
    if selector is None:
        return "<none>"
    return query(selector) or "<all>"


def describe(selector: Optional[Mapping[str, Any]]) -> str:
    """``{<query>}``, or ``{} (everything)`` for the empty selector."""
    words = query(selector or {})
    return "{%s}" % words if words else "{} (everything)"


def everything_problem(selector: LabelSelector, what: str, fix: str) -> Optional[str]:
    """Why ``selector`` would select every ``what`` (empty) or every unlabelled
    one (negative terms only), with ``fix``; None for a narrowing selector."""
    if selector.empty:
        return "is empty and would select every %s; %s" % (what, fix)
    if selector.selects_unlabelled:
        return ("%s has only negative terms (!=, notin, !key; NotIn, DoesNotExist), so it selects every %s "
                "without those labels, unlabelled ones included; add a positive term (key=value, key in (...), key; "
                "match_labels, In, Exists) or %s"
                % (selector.to_query(), what, fix))
    return None


def refuse_unlabelled(field: str, selector: LabelSelector, what: str, fix: str) -> None:
    """Raise ``SelectorError`` naming ``field`` when ``everything_problem`` finds one."""
    problem = everything_problem(selector, what, fix)
    if problem:
        raise SelectorError(field, problem)
