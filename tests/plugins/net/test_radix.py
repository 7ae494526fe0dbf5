"""The router's path tree."""

from __future__ import annotations

import pytest

from portflow.plugins.net.radix import Tree, normalize


@pytest.fixture
def tree():
    t = Tree()
    for i, (method, path) in enumerate([
        ("GET", "/"), ("GET", "/users"), ("GET", "/users/new"), ("GET", "/users/:id"), ("PUT", "/users/:id"),
        ("GET", "/users/:id/posts/:post"), ("GET", "/static/*"), ("GET", "/files/*/meta"),
        ("POST", "/v:version/items"), ("GET", r"/lit\:colon"), ("GET", "/a/:x/c"), ("GET", "/a/b/d"),
        ("GET", "/any*"),
    ]):
        t.add(method, path, i)
    return t


@pytest.mark.parametrize(("method", "path", "value", "params"), [
    ("GET", "/", 0, {}),
    ("GET", "/users", 1, {}),
    ("GET", "/users/new", 2, {}),          # static before param
    ("GET", "/users/42", 3, {"id": "42"}),
    ("PUT", "/users/42", 4, {"id": "42"}),
    ("GET", "/users/42/posts/7", 5, {"id": "42", "post": "7"}),
    ("GET", "/static/css/site.css", 6, {"*": "css/site.css"}),
    ("GET", "/static/", 6, {"*": ""}),
    ("GET", "/files/a/b", 7, {"*": "a/b"}),  # text after * is ignored
    ("POST", "/v2/items", 8, {"version": "2"}),
    ("GET", "/lit:colon", 9, {}),
    ("GET", "/a/b/c", 10, {"x": "b"}),      # backtracks from the static /a/b/ branch
    ("GET", "/a/b/d", 11, {}),
    ("GET", "/anything/here", 12, {"*": "thing/here"}),
])
def test_find(tree, method, path, value, params):
    match = tree.find(method, path)
    assert match.found and match.value == value and match.params == params


def test_not_found_and_method_not_allowed(tree):
    assert not tree.find("GET", "/nope/x/y").found
    assert tree.find("GET", "/nope/x/y").allowed is None
    match = tree.find("DELETE", "/users/42")
    assert not match.found and match.allowed == ["OPTIONS", "GET", "PUT"]


def test_method_found_on_a_lower_priority_branch():
    t = Tree()
    t.add("GET", "/users/new", 0)
    t.add("POST", "/users/:id", 1)
    assert t.find("POST", "/users/new").value == 1
    assert t.find("DELETE", "/users/new").allowed == ["OPTIONS", "GET"]


def test_root_catch_all():
    t = Tree()
    t.add("GET", "/*", 0)
    assert t.find("GET", "/").params == {"*": ""}
    assert t.find("GET", "/x/y").params == {"*": "x/y"}


def test_normalize():
    assert normalize("") == "/" and normalize("x") == "/x" and normalize("/x") == "/x"


def test_exact_finds_only_static_routes_of_the_method_as_find_does(tree):
    for method, path in [("GET", "/"), ("GET", "/users"), ("GET", "/users/new"), ("GET", "/lit:colon"),
                         ("GET", "/a/b/d")]:
        assert tree.exact(method, path) == tree.find(method, path).value
    for method, path in [("GET", "/users/42"), ("PUT", "/users"), ("GET", "/static/x"), ("GET", "/nope"),
                         ("GET", "/users/")]:
        assert tree.exact(method, path) is None
