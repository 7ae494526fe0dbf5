"""Placeholder translation: ? and :name become each driver's form; literals, identifiers, comments and
casts stay as they are."""

import pytest

from portflow.plugins.sql.params import BATCH, NAMED, NONE, POSITIONAL, PlaceholderError, plan, translate


def test_postgres_positional_and_percent():
    t = translate("select ?, 100 % 7, '50%' where a = ?", "postgres")
    assert t.query == "select %s, 100 %% 7, '50%%' where a = %s"
    assert (t.style, t.count) == ("positional", 2)


def test_postgres_named_keeps_casts_and_repeats():
    t = translate("select :id::int, :name, :id", "postgres")
    assert t.query == "select %(id)s::int, %(name)s, %(id)s"
    assert t.names == ("id", "name")


@pytest.mark.parametrize("text", [
    "'a ? :b'", '"col?:x"', "-- ? :x\n", "/* ? :x */", "/* nested /* ? */ :x */", "$$ ? :x $$",
    "$fn$ :x ? $$ $fn$", "E'it\\'s ? :x'", "x::text", "arr[1:2]",
])
def test_postgres_leaves_non_code_alone(text):
    t = translate(f"select {text}", "postgres")
    assert t.style is None, t
    assert t.query == f"select {text}".replace("%", "%%")


def test_mysql_named_becomes_positional_with_order():
    t = translate("select :a, :b, :a, `x?`, 'it\\'s :z', \"d?\" # :c\n -- ?\n", "mysql")
    assert t.query == "select %s, %s, %s, `x?`, 'it\\'s :z', \"d?\" # :c\n -- ?\n"
    assert t.order == ("a", "b", "a") and t.names == ("a", "b")


def test_mysql_assignment_is_not_a_placeholder():
    assert translate("set @x := 1", "mysql").style is None


def test_sqlite_text_is_unchanged():
    q = "select :a, '?', [x?] -- ?"
    t = translate(q, "sqlite")
    assert t.query == q and t.style == "named" and t.names == ("a",)


def test_mixed_styles_are_refused():
    with pytest.raises(PlaceholderError, match="mixes"):
        translate("select ?, :a", "postgres")


def test_plan_modes():
    assert plan("select 1", "postgres", None)[1] == NONE
    assert plan("select ?", "postgres", [1])[1] == POSITIONAL
    assert plan("select :a", "postgres", {"a": 1})[1] == NAMED
    assert plan("insert into t values (:a)", "postgres", [{"a": 1}, {"a": 2}])[1] == BATCH
    assert plan("insert into t values (:a)", "postgres", [])[1] == BATCH
    # A positional query given maps binds them as values (a JSON argument), not as a batch.
    assert plan("select ?", "postgres", [{"a": 1}])[1] == POSITIONAL


@pytest.mark.parametrize("query,args,message", [
    ("select ?", {"a": 1}, "args is a map"),
    ("select :a", [1], ":name placeholders"),
    ("select ?", 5, "args must be"),
])
def test_plan_mismatch(query, args, message):
    with pytest.raises(PlaceholderError, match=message):
        plan(query, "sqlite", args)


@pytest.mark.parametrize("query,reads", [
    ("SELECT 1", True), ("  -- note\n select ?", True), ("/* c */ VALUES (1)", True), ("EXPLAIN SELECT 1", True),
    ("WITH a AS (SELECT 1) SELECT * FROM a", True), ("select 'insert into t'", True),
    ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", False), ("INSERT INTO t VALUES ('select')", False),
    ("UPDATE t SET x = 1", False), ("PRAGMA journal_mode", False), ("", False),
])
@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_reads_only(query, reads, dialect):
    assert translate(query, dialect).reads_only is reads
