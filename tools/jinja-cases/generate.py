#!/usr/bin/env python3
"""Writes tests/Spindle.Core.Tests/Templates/jinja_cases.json: Spindle template cases whose expected results
come from Python's jinja2, adjusted for the differences that the spec documents:

- §4.3: looking into an undefined value is allowed (it stays undefined); any other use is an error.
- §4.2: a whole-value "{{ expr }}" keeps the JSON type of its result; string templates print booleans as
  true/false, none as none, and lists/maps JSON-like with double quotes.
- §4.5: tojson is compact and keeps key order; `null`, `coalesce`, `contains`, `split`, `lines`, `bool`,
  `keys`, `values`, `startingwith` and `endingwith` are not in jinja2, so they are defined here.

Run with Debian's python (apt-get install -y python3-jinja2):  /usr/bin/python3 tools/jinja-cases/generate.py
"""
import collections.abc
import json
import pathlib

import jinja2
import markupsafe

OUTPUT = pathlib.Path(__file__).resolve().parents[2] / "tests/Spindle.Core.Tests/Templates/jinja_cases.json"

CONTEXT = {
    "INPUT": {
        "count": 5, "zero": 0, "neg": -7, "big": 10000000000, "price": 2.5, "ratio": 2.0,
        "name": "World", "text": "  Hello World  ", "csv": "a,b,c", "words": "the quick  brown fox",
        "flag": True, "none_value": None, "nums": [3, 1, 2], "tags": ["b", "a", "c"], "empty": [],
        "user": {"name": "ada", "age": 36, "email": "ADA@example.com"},
        "users": [
            {"name": "bob", "age": 25, "team": "red"},
            {"name": "Alice", "age": 31, "team": "blue"},
            {"name": "carol", "age": 25, "team": "red"},
        ],
        "nested": {"a": {"b": {"c": 42}}},
    },
    "fetch": {"status": "completed", "iteration": 1, "result": {"code": 200, "body": {"id": 7, "tags": ["x", "y"]}}},
    "ACTIVITIES": {"fetch-data": {"status": "completed", "result": 3}},
    "WORKFLOW": {"id": "wf-1", "name": "demo"},
    "SIGNAL": None,
}

CASES = [
    # Whole values keep their JSON type (§4.2).
    "{{ INPUT.count }}", "{{ INPUT.price }}", "{{ INPUT.ratio }}", "{{ INPUT.name }}", "{{ INPUT.user }}",
    "{{ INPUT.nums }}", "{{ INPUT.none_value }}", "{{ INPUT.count > 3 }}", "  {{ INPUT.count }}  ",
    "{{- INPUT.count -}}", "{{ fetch.result.body.id }}", "{{ fetch.result.body }}",
    "{{ ACTIVITIES['fetch-data'].result }}", "{{ SIGNAL }}", "{{ WORKFLOW.name }}",
    # Access.
    "{{ INPUT.nums[0] }}", "{{ INPUT.nums[-1] }}", "{{ INPUT.nums[1:] }}", "{{ INPUT.nums[::-1] }}",
    "{{ INPUT.tags[:2] }}", "{{ INPUT.tags[-2:] }}", "{{ INPUT.name[1:3] }}", "{{ INPUT.name[::-1] }}",
    "{{ INPUT['name'] }}", "{{ INPUT.nested.a.b.c }}", "{{ INPUT.nested['a']['b'] }}", "{{ INPUT.users[1].name }}",
    "{{ INPUT.users.0.age }}", "{{ INPUT.name[0] }}",
    # Literals.
    "{{ 42 }}", "{{ -3 }}", "{{ 1.5e3 }}", "{{ 1_000 }}", "{{ \"double\" }}", "{{ 'a\\nb' }}", "{{ 'con' 'cat' }}",
    "{{ true }}", "{{ False }}", "{{ none }}", "{{ None }}", "{{ null }}", "{{ [1, 'a', none, true] }}",
    "{{ {'a': 1, 'b': [2, 3]} }}", "{{ (1, 2) }}", "{{ [] }}", "{{ {} }}", "{{ [1, 2,] }}",
    # Arithmetic with Python semantics.
    "{{ 7 / 2 }}", "{{ 6 / 2 }}", "{{ 7 // 2 }}", "{{ -7 // 2 }}", "{{ 7 % 3 }}", "{{ -7 % 3 }}", "{{ 7 % -3 }}",
    "{{ 2 ** 10 }}", "{{ 2 ** -1 }}", "{{ 2 ** 0.5 }}", "{{ 1 + 2.0 }}", "{{ 0.1 + 0.2 }}", "{{ 7.5 // 2 }}",
    "{{ -7.5 % 2 }}", "{{ 'ab' * 3 }}", "{{ [1] * 3 }}", "{{ [1, 2] + [3] }}", "{{ 'a' + 'b' }}",
    "{{ 1 + 2 * 3 - 4 }}", "{{ (1 + 2) * 3 }}", "{{ -2 ** 2 }}", "{{ 2 ** 3 ** 2 }}", "{{ INPUT.big * 3 }}",
    "{{ INPUT.count ~ '!' }}", "{{ 'a' ~ 1 ~ 'b' }}", "{{ INPUT.neg + INPUT.price }}", "{{ -INPUT.count }}",
    "{{ 10 / 0 }}", "{{ 1 + 'a' }}", "{{ 5 % 0 }}",
    # Comparisons and logic.
    "{{ 1 < 2 < 3 }}", "{{ 3 > 2 > 2 }}", "{{ 1 == 1.0 }}", "{{ 'a' != 'b' }}", "{{ [1, 2] == [1, 2] }}",
    "{{ 'a' < 'b' }}", "{{ 2 in INPUT.nums }}", "{{ 'ell' in 'hello' }}", "{{ 'name' in INPUT.user }}",
    "{{ 5 not in INPUT.nums }}", "{{ 'x' in {'x': 1} }}", "{{ 1 < 'a' }}",
    "{{ true and 'x' }}", "{{ 0 or 'fallback' }}", "{{ '' or none }}", "{{ not INPUT.empty }}",
    "{{ INPUT.count > 3 and INPUT.flag }}", "{{ not (1 == 1) }}", "{{ 'yes' if INPUT.flag else 'no' }}",
    "{{ 'big' if INPUT.count > 10 else 'small' }}", "{{ INPUT.zero or INPUT.count }}", "{{ none and missing }}",
    "{{ fetch.status == 'completed' }}", "{{ fetch.iteration < INPUT.count }}", "{{ fetch.iteration }} < {{ INPUT.count }}",
    # Undefined values (§4.3).
    "{{ INPUT.missing }}", "{{ missing_var }}", "x {{ INPUT.missing }}", "{{ INPUT.missing.x }}",
    "{{ INPUT.missing | default('d') }}", "{{ INPUT.missing.deeper | default(0) }}", "{{ INPUT.missing is defined }}",
    "{{ INPUT.missing.x is undefined }}", "{{ INPUT.count is defined }}", "{{ INPUT.none_value | default('d') }}",
    "{{ INPUT.none_value | default('d', true) }}", "{{ INPUT.zero | d(5, boolean=true) }}",
    "{{ INPUT.missing | coalesce('c') }}", "{{ INPUT.none_value | coalesce('c') }}", "{{ INPUT.count | coalesce('c') }}",
    "{{ INPUT.missing + 1 }}", "{{ INPUT.missing == none }}", "{{ INPUT.missing | length }}",
    "{{ INPUT.missing | upper }}", "{% if INPUT.missing %}a{% endif %}", "{% for x in INPUT.missing %}{% endfor %}",
    "{{ INPUT.nums[10] | default('none') }}", "{{ INPUT.nums[10] }}", "{{ fetch.result.missing.deep | default('fallback') }}",
    "{{ [INPUT.missing] }}", "{{ 'a' if false }}",
    # Tests.
    "{{ INPUT.none_value is none }}", "{{ INPUT.count is not none }}", "{{ 4 is even }}", "{{ 3 is odd }}",
    "{{ 9 is divisibleby 3 }}", "{{ 10 is divisibleby(4) }}", "{{ 'a' is string }}", "{{ 1 is number }}",
    "{{ 1.5 is float }}", "{{ 1 is integer }}", "{{ true is boolean }}", "{{ true is true }}", "{{ 0 is false }}",
    "{{ INPUT.user is mapping }}", "{{ INPUT.nums is sequence }}", "{{ 'abc' is iterable }}", "{{ 5 is iterable }}",
    "{{ 3 is eq 3 }}", "{{ 3 is gt 2 }}", "{{ 3 is le 2 }}", "{{ 2 is in [1, 2] }}", "{{ 1 is ne 1 }}",
    "{{ 2 is lt 3 }}", "{{ 2 is ge 2 }}", "{{ true is number }}", "{{ 'hello' is startingwith 'he' }}",
    "{{ 'hello' is endingwith('lo') }}", "{{ not INPUT.count is even }}",
    # Collection filters.
    "{{ INPUT.nums | length }}", "{{ 'h\u00e9llo' | length }}", "{{ INPUT.user | count }}", "{{ INPUT.nums | first }}",
    "{{ INPUT.tags | last }}", "{{ 'abc' | first }}", "{{ INPUT.empty | first }}", "{{ INPUT.empty | first | default('none') }}",
    "{{ INPUT.tags | join(', ') }}", "{{ INPUT.nums | join }}", "{{ INPUT.users | join(', ', attribute='name') }}",
    "{{ [1, 'a'] | join('-') }}", "{{ INPUT.nums | sort }}", "{{ INPUT.nums | sort(reverse=true) }}",
    "{{ ['b', 'A', 'a', 'C'] | sort }}", "{{ ['b', 'A', 'a', 'C'] | sort(case_sensitive=true) }}",
    "{{ INPUT.users | sort(attribute='age') | map(attribute='name') | list }}",
    "{{ INPUT.users | sort(attribute='team,age') | map(attribute='name') | list }}",
    "{{ INPUT.users | sort(attribute='name') | map(attribute='name') | join(',') }}", "{{ [3, 1.5, 2] | sort }}",
    "{{ INPUT.nums | reverse | list }}", "{{ 'abc' | reverse }}", "{{ [1, 2, 1, 3, 2] | unique | list }}",
    "{{ ['a', 'A', 'b'] | unique | list }}", "{{ INPUT.users | unique(attribute='team') | map(attribute='name') | list }}",
    "{{ 'abc' | list }}", "{{ INPUT.user | list }}", "{{ INPUT.nums | sum }}", "{{ INPUT.users | sum(attribute='age') }}",
    "{{ [1.5, 2] | sum }}", "{{ [1, 2] | sum(start=10) }}", "{{ INPUT.nums | min }}", "{{ INPUT.nums | max }}",
    "{{ ['b', 'A', 'c'] | max }}", "{{ (INPUT.users | max(attribute='age')).name }}", "{{ INPUT.empty | max }}",
    "{{ INPUT.users | map(attribute='name') | list }}", "{{ INPUT.tags | map('upper') | list }}",
    "{{ INPUT.users | map(attribute='missing', default='?') | list }}", "{{ [1.5, 2.5] | map('round') | list }}",
    "{{ ['a', 'b'] | map('replace', 'a', 'x') | list }}", "{{ INPUT.users | map(attribute='name') | map('upper') | join(',') }}",
    "{{ [1, 2, 3, 4] | select('odd') | list }}", "{{ [1, 2, 3, 4] | reject('even') | list }}",
    "{{ [0, 1, '', 'a', none] | select | list }}", "{{ [1, 5, 10] | select('>', 3) | list }}",
    "{{ INPUT.tags | select('in', ['a', 'c']) | list }}",
    "{{ INPUT.users | selectattr('team', 'eq', 'red') | map(attribute='name') | list }}",
    "{{ INPUT.users | rejectattr('age', 'gt', 26) | map(attribute='name') | list }}",
    "{{ [{'a': 1}, {'a': 0}] | selectattr('a') | list }}", "{{ [{'a': 1}, {'b': 0}] | selectattr('a', 'defined') | list }}",
    "{{ [1, 2, 3, 4, 5] | batch(2) | list }}", "{{ [1, 2, 3] | batch(2, 0) | list }}",
    "{{ [1, 2, 3, 4, 5] | slice(3) | list }}", "{{ [1, 2, 3, 4] | slice(3, 'x') | list }}",
    "{{ INPUT.user | items | list }}", "{% for k, v in INPUT.user | items %}{{ k }}={{ v }};{% endfor %}",
    "{{ {'b': 1, 'a': 2} | dictsort }}", "{{ {'b': 1, 'a': 2} | dictsort(by='value') }}",
    "{{ {'b': 1, 'A': 2, 'c': 0} | dictsort(reverse=true) }}",
    "{% for g in INPUT.users | groupby('team') %}{{ g.grouper }}: {{ g.list | map(attribute='name') | join(',') }}; {% endfor %}",
    "{% for team, members in INPUT.users | groupby('team') %}{{ team }}={{ members | length }} {% endfor %}",
    "{{ INPUT.users | groupby('age') | map('first') | list }}", "{{ [{'k': 'a', 'v': 1}, {'k': 'A', 'v': 2}] | groupby('k') }}",
    "{{ INPUT.user | keys }}", "{{ INPUT.user | values }}", "{{ INPUT.name | contains('orl') }}",
    "{{ INPUT.tags | contains('a') }}", "{{ INPUT.user | contains(substring='age') }}", "{{ INPUT.nums | contains(9) }}",
    # String filters.
    "{{ INPUT.name | lower }}", "{{ 'abc' | upper }}", "{{ 'hello wORLD-foo(bar' | title }}", "{{ 'hELLO world' | capitalize }}",
    "{{ INPUT.text | trim }}", "{{ 'xxhixx' | trim('x') }}", "{{ 'aaa' | replace('a', 'b') }}", "{{ 'aaa' | replace('a', 'b', 2) }}",
    "{{ INPUT.csv | split(',') }}", "{{ INPUT.words | split }}", "{{ 'a,b,c' | split(',', 1) }}", "{{ 'l1\\nl2\\r\\nl3' | lines }}",
    "{{ 'a\\nb' | indent(2) }}", "{{ 'a\\n\\nb' | indent(2, blank=true) }}", "{{ 'a\\nb' | indent('> ', first=true) }}",
    "{{ 42 | string }}", "{{ 'a b&c/d' | urlencode }}", "{{ {'q': 'a b', 'n': 1} | urlencode }}",
    "{{ '<a href=\"x\">' | escape }}", "{{ \"it's\" | e }}", "{{ 'x' | upper ~ 'y' }}",
    # Number filters.
    "{{ '42' | int }}", "{{ '3.7' | int }}", "{{ 'abc' | int }}", "{{ 'abc' | int(-1) }}", "{{ 3.9 | int }}",
    "{{ 'ff' | int(base=16) }}", "{{ '0x1A' | int(0, 16) }}", "{{ '2.5' | float }}", "{{ 'x' | float }}", "{{ 3 | float }}",
    "{{ 2.5 | round }}", "{{ 3.5 | round }}", "{{ 3.14159 | round(2) }}", "{{ 2.1 | round(method='ceil') }}",
    "{{ 2.9 | round(0, 'floor') }}", "{{ 1234 | round(-2) }}", "{{ 3 | round }}", "{{ -5 | abs }}", "{{ -2.5 | abs }}",
    "{{ 0 | bool }}", "{{ 'x' | bool }}", "{{ [] | bool }}", "{{ -INPUT.price | abs }}",
    # JSON.
    "{{ INPUT.user | tojson }}", "{{ INPUT.users[0] | tojson(indent=2) }}", "{{ '<b>&\\'' | tojson }}",
    "{{ [1, 2.0, none, true] | json }}", "x={{ {'a': [1, {'b': none}]} | tojson }}",
    # Functions and methods.
    "{{ range(3) | list }}", "{{ range(1, 10, 3) | list }}", "{{ range(5, 0, -2) | list }}", "{{ dict(a=1, b='x') }}",
    "{% set ns = namespace(total=0) %}{% for i in INPUT.nums %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
    "{{ INPUT.user.keys() | list }}", "{{ INPUT.user.values() | list }}", "{{ INPUT.user.get('name') }}",
    "{{ INPUT.user.get('missing', 'dflt') }}", "{{ INPUT.user.get('missing') }}", "{{ INPUT.name.upper() }}",
    "{{ INPUT.text.strip() }}", "{{ INPUT.text.lstrip() }}", "{{ INPUT.csv.split(',') }}", "{{ 'a  b '.split() }}",
    "{{ 'a b  c '.split(none, 1) }}", "{{ INPUT.name.startswith('Wo') }}", "{{ INPUT.name.endswith(('x', 'ld')) }}",
    "{{ ', '.join(INPUT.tags) }}", "{{ INPUT.name.replace('o', '0') }}", "{{ INPUT.user.items() | list }}",
    # String templates.
    "Hello {{ INPUT.name }}!", "{{ INPUT.count }} items", "{{ INPUT.count }}{{ INPUT.name }}",
    "{% if INPUT.count > 3 %}many{% else %}few{% endif %}",
    "{% if INPUT.count > 10 %}a{% elif INPUT.count > 3 %}b{% else %}c{% endif %}", "{% if INPUT.empty %}x{% endif %}",
    "{% for i in INPUT.nums %}{{ loop.index }}:{{ i }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{% for i in INPUT.empty %}x{% else %}empty{% endfor %}",
    "{% for t in INPUT.tags %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}",
    "{% for i in INPUT.nums if i > 1 %}{{ i }}/{{ loop.length }} {% endfor %}", "{% for i in range(3) %}{{ loop.revindex }}{% endfor %}",
    "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{% endfor %}",
    "{% for x in [1, 2, 3] %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "{% for x in [1, 2, 3] %}{{ loop.previtem | default('-') }}{{ loop.nextitem | default('-') }} {% endfor %}",
    "{% for k in INPUT.user %}{{ k }},{% endfor %}", "{% for c in 'abc' %}{{ c }}.{% endfor %}",
    "{% for k, v in INPUT.user.items() %}{{ k }}:{{ v }} {% endfor %}",
    "{% set x = INPUT.count * 2 %}{{ x }}", "{% set a, b = 1, 2 %}{{ a }}-{{ b }}",
    "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }}{% endfor %}{{ x }}",
    "{% for i in [1, 2] %}{% set y = i %}{% endfor %}{{ y is defined }}", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}",
    "{% set block %}inner {{ INPUT.name }}{% endset %}[{{ block }}]", "{% raw %}{{ not rendered }}{% endraw %}",
    "a {# comment #}b{{ 1 }}", "  {%- if true -%}  x  {%- endif -%}  ", "a\n{{- INPUT.name -}}\nb", "{{ INPUT.name }}\n",
    "line1\n{% if true %}\nline2\n{% endif %}\n", "{{ {'a': {'b': 1}} }} end", "{%- raw -%}  {% x %}  {%- endraw %}",
    # Printing (§4.2 table).
    "{{ INPUT.flag }}/{{ INPUT.none_value }}", "v: {{ INPUT.nums }}", "v: {{ INPUT.user }}",
    "v: {{ [1, 'a', none, true, 2.5] }}", "v: {{ {'k': {'n': [1]}} }}", "v: {{ INPUT.ratio }}", "v: {{ 1 / 3 }}",
    "v: {{ 'a\"b' }}", "v: {{ ['a\"b'] }}", "v: {{ (1, 2) }}", "v: {{ 1e20 }}", "v: {{ 1e-5 }}", "v: {{ 1e15 }}",
    "v: {{ 1.5e16 }}", "v: {{ 0.0001 }}", "v: {{ -0.5 }}", "v: {{ 100.0 }}",
    # Mixed edge cases.
    "a  {#- c -#}  b{{ 1 }}", "{% for i in range(3) -%}\n  {{ i }}\n{%- endfor %}", "{{ 'abc'[-1] }}", "{{ 'abcdef'[1:5:2] }}",
    "{{ INPUT.nums[5:0:-1] }}", "{{ INPUT.users | selectattr('age', '==', 25) | list | length }}",
    "{{ INPUT.users | map(attribute='age') | unique | sort | list }}", "{{ INPUT.user.name | title ~ '!' }}",
    "{{ (INPUT.count * 1.5) | round(1) }}", "{{ INPUT.tags | sort | first }}", "{{ 'ab' | replace('', '-') }}",
    "{{ '  x ' | trim | length }}", "{{ INPUT.nested.a | tojson }}", "{{ INPUT.users | groupby('team') | length }}",
    "{% for u in INPUT.users | sort(attribute='name', reverse=true) %}{{ u.name }} {% endfor %}",
    "{{ 10 // 3 * 3 + 10 % 3 }}", "{{ 2 ** 62 }}", "{{ INPUT.words.split() | join('_') }}",
    "{{ INPUT.csv.split(',') | reverse | join }}", "{{ {'a': 1} | items | first }}", "{{ INPUT.user | dictsort | last }}",
    "{{ not none }}", "{{ none is none and true }}", "{{ INPUT.users[0] == {'name': 'bob', 'age': 25, 'team': 'red'} }}",
    "{{ 1 if INPUT.count is divisibleby 5 else 0 }}", "{{ INPUT.nums | map('string') | join('+') }}",
    "{{ INPUT.users | rejectattr('team', 'in', ['red']) | map(attribute='name') | first }}",
    # Syntax errors.
    "{{ 1 + }}", "{% if INPUT.flag %}x", "{{ INPUT.flag && true }}", "{{ !INPUT.flag }}", "{{ INPUT.flag || true }}",
    "{% for %}{% endfor %}", "{{ INPUT.name | nosuchfilter }}", "{{ 'unterminated }}", "{% endif %}",
    "{{ INPUT.name is nosuchtest }}", "{% include 'x' %}", "{{ INPUT.count }",
]

OVERRIDES = {
    # Templates that need their own context.
    "{{ value }} / {{ value | tojson }}": {"value": {"z": 1, "a": [True, None, 1.5]}},
}


class SpindleUndefined(jinja2.StrictUndefined):
    """§4.3: an undefined value may be looked into (the result is undefined); anything else fails."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return SpindleUndefined(name=name)

    def __getitem__(self, key):
        return SpindleUndefined(name=str(key))


def as_plain(value):
    """Generators, views, tuples and Markup become lists and str, as Spindle has no such types."""
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError("undefined result")
    if isinstance(value, markupsafe.Markup):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, collections.abc.Mapping):
        return {key: as_plain(item) for key, item in value.items()}
    return [as_plain(item) for item in value]


def spindle_repr(value):
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{spindle_repr(k)}: {spindle_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(spindle_repr(item) for item in value) + "]"
    return spindle_str(value)


def spindle_str(value):
    """How Spindle prints a value inside a string template (§4.2 table)."""
    value = as_plain(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return spindle_repr(value)
    return str(value)


def tojson(value, indent=None):
    text = json.dumps(as_plain(value), ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


def coalesce(value, *fallbacks):
    for candidate in (value, *fallbacks):
        if candidate is not None and not isinstance(candidate, jinja2.Undefined):
            return candidate
    return None


def contains(value, substring):
    return (str(substring) in value) if isinstance(value, str) else (substring in value)


def make_environment():
    env = jinja2.Environment(undefined=SpindleUndefined, finalize=spindle_str)
    env.globals["null"] = None
    env.filters.update(
        tojson=tojson, json=tojson, coalesce=coalesce, contains=contains, bool=bool,
        split=lambda s, sep=None, maxsplit=-1: str(s).split(sep, maxsplit),
        lines=lambda s: str(s).splitlines(),
        keys=lambda d: list(d.keys()), values=lambda d: list(d.values()),
    )
    env.tests.update(
        startingwith=lambda v, p: isinstance(v, str) and v.startswith(p),
        endingwith=lambda v, s: isinstance(v, str) and v.endswith(s),
    )
    return env


def whole_value_expression(template):
    """§4.2: trimmed, it starts with {{, ends with }} and holds no other {{."""
    text = template.strip()
    if len(text) < 4 or not text.startswith("{{") or not text.endswith("}}") or "{{" in text[2:]:
        return None
    inner = text[2:-2]
    inner = inner[1:] if inner.startswith("-") else inner
    return inner[:-1] if inner.endswith("-") else inner


def run(env, template, context):
    expression = whole_value_expression(template)
    try:
        if expression is not None:
            return {"mode": "whole", "expected": as_plain(env.compile_expression(expression, undefined_to_none=False)(**context))}
        return {"mode": "string", "expected": env.from_string(template).render(**context)}
    except Exception as error:  # every failure is a TemplateException in Spindle
        return {"mode": "whole" if expression is not None else "string", "error": type(error).__name__}


def main():
    env = make_environment()
    cases = [{"template": t, **run(env, t, CONTEXT)} for t in CASES]
    cases += [{"template": t, "context": c, **run(env, t, c)} for t, c in OVERRIDES.items()]
    OUTPUT.write_text(json.dumps({"context": CONTEXT, "cases": cases}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases written to {OUTPUT}")


if __name__ == "__main__":
    main()
