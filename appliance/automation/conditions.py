"""Rule conditions: the field catalogue, checking a condition before a rule is saved, and evaluating it.

Pure: no I/O. A condition is structured JSON, never code or a template. A group is `{"all": [...]}`,
`{"any": [...]}` or `{"not": {...}}`; a leaf is `{"field": "customer.tier", "op": "eq", "value": "vip"}`.
`problems` runs when a rule is saved, `evaluate` when its trigger fires and on the dry-run screen,
which shows which leaves held.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from appliance.bookings.schemas import Channel
from appliance.bookings.states import PaymentStatus, Status
from appliance.catalog.schemas import WEEKDAYS
from appliance.customers.logic import normalise_tag

Kind = Literal["string", "integer", "number", "boolean", "string_list", "datetime"]
Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "is_set"]

ALL_OPS: Final[tuple[Op, ...]] = get_args(Op)
OPS: Final[Mapping[Kind, tuple[Op, ...]]] = MappingProxyType({
    "string": ("eq", "ne", "in", "not_in", "contains", "is_set"),
    "integer": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_set"),
    "number": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_set"),
    "boolean": ("eq", "ne", "is_set"),
    "string_list": ("eq", "ne", "in", "not_in", "contains", "is_set"),
    "datetime": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_set"),
})
"""The ops each kind of field takes. Strings have no order worth comparing: a weekday or a tier is a name."""

ROOT: Final = "conditions"
"""The path of the whole condition in `problems`, as the rule's JSON body names it."""
MAX_DEPTH: Final = 5  # groups inside groups: deeper than this nobody can read the rule any more
MAX_LEAVES: Final = 50

_GROUPS: Final = ("all", "any", "not")
_LEAF_KEYS: Final = ("field", "op", "value")
_NOT_A_CONDITION: Final = "not a condition: give all, any, not, or field/op/value"
_BETWEEN: Final = "between needs [low, high] with low <= high"

# --- The field catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A fact a condition can test; the event's subject supplies its value when a rule runs."""

    name: str
    kind: Kind
    description: str
    values: tuple[str, ...] | None = None  # the allowed values, when the field has a fixed vocabulary
    # The one spelling the facts use (tags are normalised): a condition's values are compared in it too,
    # so "VIP" finds the tag vip.
    canonical: Callable[[str], str | None] | None = None


def _catalogue(*fields: Field) -> Mapping[str, Field]:
    return MappingProxyType({item.name: item for item in fields})


FIELDS: Final[Mapping[str, Field]] = _catalogue(
    Field(
        "booking.status", "string",
        "The booking's status: pending_approval, confirmed, checked_in, completed, cancelled, no_show or rejected.",
        tuple(status.value for status in Status),
    ),
    Field(
        "booking.channel", "string",
        "Where the booking was made: web (the online portal), wechat, admin (staff), phone, walk_in or api.",
        get_args(Channel),
    ),
    Field("booking.seats", "integer", "How many seats the booking takes: 1, or more in a group class."),
    Field(
        "booking.price_amount", "integer",
        "The booking's price in minor units of the branch's currency (fen, cents): 9900 is 99.00.",
    ),
    Field(
        "booking.payment_status", "string",
        "Whether the booking is paid: unpaid, awaiting_payment, paid or refunded.",
        tuple(status.value for status in PaymentStatus),
    ),
    Field(
        "booking.weekday", "string",
        "The weekday the booking starts on, mon … sun, in the branch's time zone.",
        WEEKDAYS,
    ),
    Field("booking.hour", "integer", "The hour the booking starts in, 0–23, in the branch's time zone."),
    Field(
        "booking.lead_minutes", "integer",
        "Minutes between the booking being made and its start: how far ahead the customer booked.",
    ),
    Field("booking.resource_ids", "string_list", "The IDs of the resources (staff, rooms, equipment) it holds."),
    Field(
        "customer.tier", "string",
        "The customer's membership tier in force (a staff override, else the one earned), such as normal, silver, "
        "gold or vip; not set for customers below the ladder's first tier.",
    ),
    Field(
        "customer.benefits", "string_list",
        "The benefits of the customer's tier in force as the loyalty programme names them, such as 优先预约 "
        "(priority) or 免审核 (no approval needed); none below the ladder's first tier.",
    ),
    Field(
        "customer.tags", "string_list", "The customer's tags, such as regular or allergy; compared normalised (VIP and vip are one tag).",
        canonical=normalise_tag,
    ),
    Field(
        "customer.segments", "string_list",
        "The keys of the saved customer segments (GET /api/v1/segments) the customer is in when the rule runs.",
    ),
    Field("customer.points", "integer", "The customer's loyalty points balance now (expired points not counted)."),
    Field(
        "customer.visit_count", "integer",
        "How many visits (completed bookings) the customer has made so far, this booking included once completed.",
    ),
    Field("customer.is_new", "boolean", "Whether the customer has no completed visit other than this booking."),
    Field("service.id", "string", "The ID of the booked service."),
    Field("service.name", "string", "The name of the booked service, as shown to customers."),
    Field("service.requires_approval", "boolean", "Whether bookings of the service wait for staff approval."),
    Field("branch.id", "string", "The ID of the branch the booking is at."),
    Field("resource.names", "string_list", "The names of the booked resources, such as a stylist's or a room's."),
    Field("event.type", "string", "The type of the event that fired the rule, such as booking.created."),
)

ANSWERS: Final = "answers."
PROFILE: Final = "customer.fields."


def with_answers(answers: Mapping[str, Kind], profile: Mapping[str, Kind] | None = None) -> Mapping[str, Field]:
    """The catalogue plus booking-form answers (`answers.allergy`) and the customer's profile fields
    (`customer.fields.skin_type`), each of the kind its question's type gives (forms.logic.CONDITION_KINDS);
    a question not answered is not set."""
    return _catalogue(*FIELDS.values(), *(
        Field(f"{ANSWERS}{key}", kind, f"The answer to the booking form's question {key}.")
        for key, kind in answers.items()
    ), *(
        Field(f"{PROFILE}{key}", kind, f"The customer's profile field {key} (the customers' profile form).")
        for key, kind in (profile or {}).items()
    ))


def answer_facts(prefix: str, answers: Mapping[str, Any]) -> dict[str, Any]:
    """`<prefix><key>` facts of form answers; answers given before forms checked them may hold anything,
    so only plain values."""
    plain = (str, int, float, bool)
    return {
        f"{prefix}{key}": value for key, value in answers.items()
        if isinstance(value, plain) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    }

# --- Checking --------------------------------------------------------------------------------------


def problems(condition: object, fields: Mapping[str, Field] = FIELDS) -> dict[str, str]:
    """Path (`conditions.all[0].value`) -> message for everything wrong with a condition, all at once,
    in document order; empty when the condition can be saved and evaluated."""
    check = _Check(fields)
    check.node(condition, ROOT, depth=0)
    limits = []
    if check.too_deep:
        limits.append(f"groups nest at most {MAX_DEPTH} deep")
    if check.leaves > MAX_LEAVES:
        limits.append(f"at most {MAX_LEAVES} conditions in a rule; this has {check.leaves}")
    if limits:
        check.add(ROOT, "; ".join(limits))
    return check.found


class _Check:
    """One walk over a condition, collecting problems and counting what the limits count."""

    def __init__(self, fields: Mapping[str, Field]) -> None:
        self.fields = fields
        self.found: dict[str, str] = {}
        self.leaves = 0
        self.too_deep = False

    def add(self, path: str, message: str) -> None:
        self.found[path] = f"{self.found[path]}; {message}" if path in self.found else message

    def node(self, node: object, path: str, depth: int) -> None:
        if not isinstance(node, Mapping):
            self.add(path, _NOT_A_CONDITION)
        elif "field" in node or "op" in node:
            self.leaf(node, path)
        elif groups := [key for key in _GROUPS if key in node]:
            self.group(node, groups, path, depth)
        elif "value" in node:
            self.leaf(node, path)
        else:
            self.add(path, _NOT_A_CONDITION)

    def group(self, node: Mapping[Any, object], groups: list[str], path: str, depth: int) -> None:
        if len(groups) > 1:
            self.add(path, "give only one of all, any, not")
            return
        key = groups[0]
        for other in node:
            if other != key:
                self.add(f"{path}.{other}", f"unknown key {other}")
        if depth >= MAX_DEPTH:
            # Reported once for the whole condition; not descending also bounds the recursion.
            self.too_deep = True
            return
        members = node[key]
        if key == "not":
            self.node(members, f"{path}.not", depth + 1)
        elif not isinstance(members, list | tuple):
            self.add(f"{path}.{key}", f"{key} needs a list of conditions")
        else:
            for index, member in enumerate(members):
                self.node(member, f"{path}.{key}[{index}]", depth + 1)

    def leaf(self, node: Mapping[Any, object], path: str) -> None:
        self.leaves += 1
        for key in node:
            if key not in _LEAF_KEYS:
                self.add(f"{path}.{key}", f"unknown key {key}")
        name, op = node.get("field"), node.get("op")
        if "field" not in node:
            self.add(f"{path}.field", "field is missing")
        elif not isinstance(name, str):
            self.add(f"{path}.field", "field must be a field name, such as customer.tier")
        elif name not in self.fields:
            self.add(f"{path}.field", f"unknown field {name}")
        known = self.fields.get(name) if isinstance(name, str) else None
        if "op" not in node:
            self.add(f"{path}.op", "op is missing")
        elif not isinstance(op, str) or op not in ALL_OPS:
            ops = OPS[known.kind] if known else ALL_OPS
            self.add(f"{path}.op", f"unknown op {op}: use one of {', '.join(ops)}")
        elif known and op not in OPS[known.kind]:
            article = "an" if known.kind == "integer" else "a"
            self.add(f"{path}.op", f"op {op} does not apply to {article} {known.kind} field")
        elif known:
            self.value(known, op, node, f"{path}.value")

    def value(self, known: Field, op: str, node: Mapping[Any, object], path: str) -> None:
        if op == "is_set":
            if "value" in node and not isinstance(node["value"], bool):
                self.add(path, "is_set takes true or false")
            return
        if "value" not in node:
            self.add(path, "value is missing")
            return
        value = node["value"]
        if op in ("in", "not_in"):
            if not isinstance(value, list | tuple):
                self.add(path, f"{op} needs a list of values")
            elif not value:
                self.add(path, f"{op} needs at least one value")
            else:
                self.each(known, value, path)
        elif op == "between":
            if not isinstance(value, list | tuple) or len(value) != 2:
                self.add(path, _BETWEEN)
            elif self.each(known, value, path) and _ordered(value[0]) > _ordered(value[1]):
                self.add(path, _BETWEEN)
        elif known.kind == "string_list" and op in ("eq", "ne"):
            if not isinstance(value, list | tuple):
                self.add(path, f"{op} on a string_list field needs a list of strings")
            else:
                self.each(known, value, path)
        else:
            self.one(known, value, path)

    def each(self, known: Field, values: Sequence[object], path: str) -> bool:
        # Not all(...) over a generator: that would stop at the first bad value and hide the rest.
        return all([self.one(known, value, f"{path}[{index}]") for index, value in enumerate(values)])

    def one(self, known: Field, value: object, path: str) -> bool:
        message = _value_problem(known, value)
        if message:
            self.add(path, message)
        return message is None


def _value_problem(known: Field, value: object) -> str | None:
    """What is wrong with one value for a field; for a string_list field, one of its strings."""
    match known.kind:
        case "integer":
            # bool is an int subclass, but `true` where a number belongs is a mistake.
            return None if isinstance(value, int) and not isinstance(value, bool) else "value must be an integer"
        case "number":
            return None if isinstance(value, int | float) and not isinstance(value, bool) else "value must be a number"
        case "boolean":
            return None if isinstance(value, bool) else "value must be true or false"
        case "datetime":
            if _parse_datetime(value) is None:
                return "value must be an ISO 8601 date-time with an offset, such as 2026-06-01T10:00:00+08:00"
            return None
    if not isinstance(value, str):
        return "value must be a string"
    if known.values is not None and value not in known.values:
        return f"value must be one of: {', '.join(known.values)}"
    if known.canonical is not None and known.canonical(value) is None:
        return f"{known.name} never holds such a value"
    return None


def _parse_datetime(value: object) -> datetime | None:
    """An aware datetime from ISO 8601 text; None for anything else, a naive time included."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _ordered(value: Any) -> Any:
    """A checked `between` bound in comparable form: ints as they are, date-times parsed."""
    return _parse_datetime(value) if isinstance(value, str) else value


# --- Evaluating ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeafResult:
    """How one leaf fared, for the dry-run screen."""

    path: str  # as in `problems`: conditions.any[1]
    field: str
    op: str
    expected: object  # the leaf's value; true for an is_set without one
    actual: object  # the fact; None when it is not set
    held: bool


@dataclass(frozen=True)
class Verdict:
    held: bool
    leaves: tuple[LeafResult, ...]  # every leaf in document order, including those that did not decide


def evaluate(
    condition: Mapping[str, Any], facts: Mapping[str, Any], fields: Mapping[str, Field] = FIELDS
) -> Verdict:
    """Whether a condition holds for the facts (field name -> value), and how each leaf fared.

    Only for conditions `problems(condition, fields)` finds nothing wrong with: anything else may raise.
    A fact that is missing or None is not set: only ne, not_in and an is_set of false hold for it.
    is_set also counts "" and [] as not set, so a customer without tags has no tags set.
    Datetime facts are aware datetimes or ISO 8601 text with an offset; string_list facts any sequence.
    `between` includes both bounds; eq and ne on a string_list compare the strings, not their order.
    """
    leaves: list[LeafResult] = []
    held = _evaluate(condition, ROOT, facts, fields, leaves)
    return Verdict(held, tuple(leaves))


def _evaluate(
    node: Mapping[str, Any], path: str, facts: Mapping[str, Any], fields: Mapping[str, Field],
    leaves: list[LeafResult],
) -> bool:
    if "field" in node:
        return _leaf(node, path, facts, fields, leaves)
    if "not" in node:
        return not _evaluate(node["not"], f"{path}.not", facts, fields, leaves)
    key = "all" if "all" in node else "any"
    # A list, not a generator: every member is evaluated so the explanation is complete.
    results = [
        _evaluate(member, f"{path}.{key}[{index}]", facts, fields, leaves) for index, member in enumerate(node[key])
    ]
    return all(results) if key == "all" else any(results)


def _leaf(
    node: Mapping[str, Any], path: str, facts: Mapping[str, Any], fields: Mapping[str, Field],
    leaves: list[LeafResult],
) -> bool:
    name: str = node["field"]
    op: str = node["op"]
    expected = node.get("value", True) if op == "is_set" else node["value"]
    actual = facts.get(name)
    known = fields.get(name)
    compared = expected
    if known is not None and known.canonical is not None and op != "is_set":
        spell = known.canonical
        compared = [spell(v) for v in expected] if isinstance(expected, list | tuple) else spell(expected)
    held = _holds(op, compared, actual, known.kind if known else None)
    leaves.append(LeafResult(path, name, op, expected, actual, held))
    return held


def _holds(op: str, expected: Any, actual: Any, kind: Kind | None) -> bool:
    if op == "is_set":
        return _is_set(actual) is expected
    if actual is None:
        # A value that is not there equals, exceeds and contains nothing, and so differs from everything.
        return op in ("ne", "not_in")
    if kind == "datetime":
        actual = _moment(actual)
        expected = [_moment(item) for item in expected] if isinstance(expected, list | tuple) else _moment(expected)
    match op:
        case "eq":
            return _equal(actual, expected)
        case "ne":
            return not _equal(actual, expected)
        case "in":
            return _among(actual, expected)
        case "not_in":
            return not _among(actual, expected)
        case "gt":
            return bool(actual > expected)
        case "gte":
            return bool(actual >= expected)
        case "lt":
            return bool(actual < expected)
        case "lte":
            return bool(actual <= expected)
        case "between":
            return bool(expected[0] <= actual <= expected[1])
        case "contains":
            return bool(expected in actual)  # membership in a string_list, a substring of a string
    raise ValueError(f"unknown op {op}")


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple | set | frozenset)


def _is_set(actual: object) -> bool:
    if isinstance(actual, str | list | tuple | set | frozenset):
        return len(actual) > 0
    return actual is not None


def _equal(actual: Any, expected: Any) -> bool:
    return set(actual) == set(expected) if _is_list(actual) else bool(actual == expected)


def _among(actual: Any, expected: Any) -> bool:
    """in: the value is one of the expected ones; for a string_list, any of its strings is."""
    return not set(actual).isdisjoint(expected) if _is_list(actual) else actual in expected


def _moment(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
