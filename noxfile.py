"""The test suite on every Python the project claims (requires-python >= 3.11).

`nox` runs it on 3.11, 3.12 and 3.13, each in a fresh virtual environment with the
README's install; .ci/run does this on every CI run. Interpreters come from PATH
(with pyenv: PYENV_VERSION=3.11.7:3.12.1:3.13.0, as .ci/run sets).
"""

from __future__ import annotations

import nox

nox.options.error_on_missing_interpreters = True  # a Python that is missing is a failure
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=["3.11", "3.12", "3.13"])
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    # tests/mta (real Postfix, Exim and OpenSMTPD) runs once, in .ci/run's own pytest:
    # not again per Python. `nox -- tests/mta` (or any arguments) runs what they name.
    session.run("pytest", *(session.posargs or ["--ignore=tests/mta"]))
