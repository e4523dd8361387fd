"""Run the `thidua` command line inside the test process, as a shell would see it.

`invoke(app, args, input=…, env=…)` runs `bot.cli.app` with stdin fed from `input`, the
environment changed for the call (None unsets a variable), and stdout and stderr caught
together in `output`, in the order they were written; an exception that escapes the
command is a traceback in the output and exit code 1, as in a real process.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str
    exception: BaseException | None = None


@contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class CliRunner:
    def invoke(
        self,
        app: Callable[[Sequence[str]], int],
        args: Sequence[str],
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        output = io.StringIO()
        streams = sys.stdin, sys.stdout, sys.stderr
        sys.stdin = io.StringIO(input or "")
        sys.stdout = sys.stderr = output
        exception: BaseException | None = None
        try:
            with _environment(env or {}):
                code = app(list(args))
        except Exception as exc:
            traceback.print_exc(file=output)
            code, exception = 1, exc
        finally:
            sys.stdin, sys.stdout, sys.stderr = streams
        return Result(code, output.getvalue(), exception)
