import asyncio
import datetime as dt
import threading
import time

import pytest

from portflow.errors import CompileError, FlowError, FlowTimeout
from support.loop import round_trips_while


async def js(languages, code, payload=None, timeout=None):
    return await languages.compile("javascript", code, timeout=timeout)(payload)


async def test_esm_default_export(languages):
    assert await js(languages, "export default function (args) { return args.x + 1 }", {"x": 1}) == 2


async def test_esm_default_export_with_no_blank_after_default(languages):
    """``export default(a) => …`` is a default export too (it once left the export unbound: None)."""
    for code, payload, answer in (("export default(args) => args.x + 1", {"x": 1}, 2),
                                  ("const k = 3;\nexport default(function (args) { return args.x * k })", {"x": 2}, 6)):
        assert await js(languages, code, payload) == answer
        assert languages.compile("javascript", code).run_quickjs(payload) == answer  # QuickJS itself, not the fast path


async def test_what_cannot_cross_is_a_flow_error(languages):
    with pytest.raises(FlowError, match="^javascript snippet returned a string with a lone surrogate"):
        await js(languages, r'export default function (a) { return "\ud83d\ude00"[1] }', {})
    with pytest.raises(FlowError, match="^javascript: cannot pass the payload: .*object"):
        await js(languages, "export default function (a) { return a.x }", {"x": object()})


async def test_commonjs(languages):
    assert await js(languages, "module.exports = (a) => ({body: a.x * 2})", {"x": 2**40}) == {"body": 2**41}


async def test_thrown_error_message(languages):
    with pytest.raises(FlowError) as e:
        await js(languages, 'export default function () { throw new Error("boom") }')
    assert str(e.value) == "boom"
    with pytest.raises(FlowError, match="^TypeError: cannot read property 'c' of undefined$"):
        await js(languages, "module.exports = (a) => a.b.c", {})


def test_syntax_error_has_position(languages):
    with pytest.raises(CompileError, match=r"^javascript: SyntaxError: .* at 1:43$"):
        languages.compile("javascript", "export default function (a) { return a +  }")
    with pytest.raises(CompileError, match=r" at 2:"):
        languages.compile("javascript", "const x = 1;\nmodule.exports = function (a) { return a + }")


async def test_unsupported_return(languages):
    with pytest.raises(FlowError, match="returned a function, which cannot travel as a payload"):
        await js(languages, "module.exports = () => () => 1")


async def test_unicode_and_values(languages):
    assert await js(languages, "module.exports = (a) => a + 'é✓'", "Zoë") == "Zoëé✓"
    t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert await js(languages, "module.exports = (a) => a", {"b": b"hi", "t": t}) == {"b": "aGk=", "t": "2024-01-01T00:00:00Z"}
    assert await js(languages, "module.exports = () => undefined") is None


async def test_async_function(languages):
    assert await js(languages, "export default async function (a) { return a + 1 }", 1) == 2


async def test_memory_limit(languages):
    code = "module.exports = () => { const s = []; while (true) s.push('x'.repeat(1000) + s.length) }"
    with pytest.raises(FlowError, match="out of memory"):
        await js(languages, code, timeout=5)


async def test_timeout_keeps_the_loop_running(languages):
    program = languages.compile("javascript", "module.exports = () => { while (true) {} }", timeout=2)
    task = asyncio.ensure_future(program(None))
    assert await round_trips_while(task) == 3  # the loop served a socket while the snippet spun
    with pytest.raises(FlowTimeout, match=r"^timeout after 2s$"):
        await task


async def test_programs_do_not_share_globals(languages):
    a = languages.compile("javascript", "globalThis.leak = 1; module.exports = () => 1")
    b = languages.compile("javascript", "module.exports = () => typeof leak")
    assert await a(None) == 1
    assert await b(None) == "undefined"


def test_one_context_per_thread(languages):
    program = languages.compile("javascript", "let n = 0; module.exports = (a) => a + (n++ * 0)")

    async def many():
        return [await program(i) for i in range(200)]

    results = []
    threads = [threading.Thread(target=lambda: results.append(asyncio.run(many())), daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [list(range(200))] * 4


async def test_typescript_without_types_runs(languages):
    assert await languages.compile("typescript", "module.exports = (a) => a + 1")(1) == 2


async def test_an_error_payload_reads_as_its_message(languages):
    from portflow.errors import FlowError

    program = languages.compile("javascript", "export default function (e) { return 'handled: ' + e }")
    assert await program(FlowError("boom")) == "handled: boom"


async def test_an_endless_async_loop_times_out_and_frees_its_thread(languages):
    spin = languages.compile("javascript", "export default async function () { for (;;) { await null } }", timeout=2)
    quick = languages.compile("javascript", "module.exports = (a) => a + 1")
    task = asyncio.ensure_future(spin(None))
    assert await round_trips_while(task) == 3  # the loop served a socket meanwhile
    assert not task.done()
    assert await quick(1) == 2  # the engine answers meanwhile
    with pytest.raises(FlowTimeout, match=r"^timeout after 2s$"):
        await task
    cpu = time.process_time()
    await asyncio.sleep(0.5)
    assert time.process_time() - cpu < 0.25  # no thread keeps running the loop
    with pytest.raises(FlowTimeout):
        await spin(None)  # and it times out again, from a clean context


async def test_an_async_snippet_that_spins_inside_a_job_times_out(languages):
    program = languages.compile("javascript", "export default async function () { await null; for (;;) {} }", timeout=0.5)
    with pytest.raises(FlowTimeout, match=r"^timeout after 0.5s$"):
        await program(None)


async def test_an_error_payload_is_an_error_with_error_as_uniflow_hands_it(languages):
    from portflow.errors import FlowError

    program = languages.compile("javascript", "export default function (args) {\n"
                                "  return { body: { error: args.error(), message: args.message,\n"
                                "                   isError: args instanceof Error }, status: 400 } }")
    assert await program(FlowError("boom")) == {"body": {"error": "boom", "message": "boom", "isError": True},
                                                 "status": 400}
    same = languages.compile("javascript", "export default async function (args) { return args }")
    failure = FlowError("kept")
    assert await same(failure) is failure  # handed back as is: the same error payload


async def test_long_results_and_messages_travel(languages):
    # QuickJS builds a long string made with '+' as a rope, which the binding could not hand to Python
    long = await js(languages, "module.exports = (a) => ({ s: 'x'.repeat(a) })", 5000)
    assert long == {"s": "x" * 5000}
    assert await js(languages, "module.exports = (a) => 'a'.repeat(a) + 'b'.repeat(a)", 300) == "a" * 300 + "b" * 300
    assert await js(languages, "export default async function (a) { return ['y'.repeat(a)] }", 1000) == ["y" * 1000]
    with pytest.raises(FlowError) as e:
        await js(languages, "module.exports = (a) => { throw new Error('m'.repeat(a) + '!') }", 1000)
    assert str(e.value) == "m" * 1000 + "!"
