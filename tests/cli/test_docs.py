"""``portflow docs``: the pages in docs/kinds/ are what the kinds' declarations say, now."""

from __future__ import annotations

from .conftest import ROOT


def test_docs_kinds_is_up_to_date(cli, tmp_path):
    out = tmp_path / "kinds"
    result = cli("docs", str(out))
    assert result.exit_code == 0, result.output
    generated = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.md")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "kinds").glob("*.md")}
    stale = sorted(name for name in generated.keys() | committed.keys() if generated.get(name) != committed.get(name))
    assert not stale, f"docs/kinds is stale ({', '.join(stale)}): run `portflow docs docs/kinds`"


def test_pages_come_from_the_declaration(cli, tmp_path):
    cli("docs", str(tmp_path))
    page = (tmp_path / "assert.md").read_text(encoding="utf-8")
    assert "# assert" in page and "Plugin: `testing`." in page
    assert "| `expect` | `str` | yes |  |" in page
    assert "| `timeout` | `duration \\| null` | no | `null` |" in page
    assert "```yaml\nkind: assert\n" in page
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert "| [`assert`](assert.md) | testing |" in index


def test_removes_pages_of_kinds_that_are_gone_and_check_mode(cli, tmp_path):
    cli("docs", str(tmp_path))
    (tmp_path / "vanished.md").write_text((tmp_path / "test.md").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "mine.md").write_text("# hand-written\n", encoding="utf-8")
    check = cli("docs", "--check", str(tmp_path))
    assert check.exit_code == 1 and "stale pages: vanished.md" in check.stderr
    result = cli("docs", str(tmp_path))
    assert "1 removed" in result.stdout
    assert not (tmp_path / "vanished.md").exists() and (tmp_path / "mine.md").exists()
    assert cli("docs", "--check", str(tmp_path)).exit_code == 0
