"""The flow the broker kinds' tests consume into: ``kind`` node -> ``target`` (``wrap`` POSTs each message
to SINK/WHO; ``boom`` throws), its ``error`` -> ``dead`` (POSTs ``dead_body`` to SINK/dead)."""

from __future__ import annotations

TEXT_DEAD = "  language: text\n  code: dead-lettered"


def consumer_flow(kind: str, name: str, fields: str, target: str, extra: str = "", dead: str = TEXT_DEAD) -> str:
    """The YAML of that flow; ``fields`` are the broker node's own lines, ``extra`` more specs after it."""
    return f"""
- kind: {kind}
  name: {name}
{fields}
  ports:
    out:
      - name: {target}
        port: in
    error:
      - name: dead
        port: in
- kind: snippet
  name: wrap
  language: cel
  code: '{{"body": self}}'
  ports:
    out:
      - name: post
        port: in
- kind: throw
  name: boom
- kind: snippet
  name: dead
{dead}
  ports:
    out:
      - name: post-dead
        port: in
- kind: http
  name: post
  url: '{{{{ .SINK }}}}/{{{{ .WHO }}}}'
  env:
    SINK:
      data: '{{{{ .SINK }}}}'
    WHO:
      data: '{{{{ .WHO }}}}'
- kind: http
  name: post-dead
  url: '{{{{ .SINK }}}}/dead'
  env:
    SINK:
      data: '{{{{ .SINK }}}}'
{extra}"""
