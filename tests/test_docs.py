"""The documentation runs: every Python block of the Markdown pages, and the Sphinx build.

Code blocks. Every fenced block whose info string is exactly ``python`` in
``docs/**/*.md`` is executed; the blocks of one page run in order, in one namespace, in a
fresh ``python`` process (``MPLBACKEND=Agg``) whose working directory is a temporary
folder with an empty ``docs/figures/``: a block that saves a figure where the repository
keeps it writes a throwaway copy, and the checkout is never written to. The script
keeps each block on the line numbers it has in the page (the other lines blank), so a
traceback names the page's own line. A block that must not run (it needs a GPU, or
it sketches an interface with ``...``) is marked by the line directly above its fence::

    <!-- docs-test: skip -->

an HTML comment, invisible on GitHub and in the Sphinx pages. Blocks with another info
string (``text``, ``bash``, none) are output or shell, never run.

Sphinx. ``python -m sphinx -W --keep-going -b html docs <tmp>`` builds the site with
the gallery executed (stale or not) and must exit 0: ``-W`` turns any warning (a page in
no toctree, a broken link, a docstring that is not valid reStructuredText, an example
that raises) into an error and a non-zero exit. Marked ``docs`` (deselect with
``-m "not docs"``).

Each check has a negative control below: a page whose block raises fails the block
runner at the page's line, and a page with a broken link fails the Sphinx build under
this configuration.
"""
import os
import pathlib
import re
import subprocess
import sys

import numba
import pytest

import fastebm

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_MARK = "<!-- docs-test: skip -->"
FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")

needs_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="the documented runs need the compiled kernels")


def python_blocks(text):
    """(first line number, source) of each runnable ``python`` block, in page order."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).strip()
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(fence))
        skipped = i > 0 and lines[i - 1].strip() == SKIP_MARK
        if info == "python" and not skipped:
            blocks.append((i + 2, "\n".join(lines[i + 1:end])))
        i = end + 1
    return blocks


def page_script(text):
    """The page's runnable blocks as one script, each on its own lines of the page."""
    out = [""] * len(text.splitlines())
    for first, source in python_blocks(text):
        for k, line in enumerate(source.splitlines()):
            out[first - 1 + k] = line
    return "\n".join(out) + "\n"


def run_page(page, workdir):
    """Run the page's blocks in a fresh interpreter; the CompletedProcess."""
    (workdir / "docs" / "figures").mkdir(parents=True, exist_ok=True)
    script = workdir / f"docs_{page.stem}.py"
    script.write_text(page_script(page.read_text(encoding="utf-8")), encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": path}
    return subprocess.run([sys.executable, script.name], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)


PAGES = sorted(p for p in DOCS.rglob("*.md")
               if "_build" not in p.parts and python_blocks(p.read_text(encoding="utf-8")))


@needs_jit
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_code_blocks_run(page, tmp_path):
    result = run_page(page, tmp_path)
    assert result.returncode == 0, (
        f"a python block of docs/{page.relative_to(DOCS)} failed (the traceback's line "
        f"numbers are the page's):\n{result.stderr[-4000:]}")


def test_block_runner_catches_a_raising_block_and_honours_the_skip_mark(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("# A page\n\n```python\nx = 1\n```\n\n" + SKIP_MARK + "\n"
                    "```python\nraise RuntimeError('skipped')\n```\n\n"
                    "```text\nnot code\n```\n\n```python\nassert x == 1\n"
                    "raise ValueError('broken block')\n```\n", encoding="utf-8")
    assert [first for first, _ in python_blocks(page.read_text())] == [4, 17]
    result = run_page(page, tmp_path)
    assert result.returncode != 0
    assert "ValueError: broken block" in result.stderr and "skipped" not in result.stderr
    assert 'docs_broken.py", line 18' in result.stderr       # the page's line 18


def test_every_public_name_is_in_the_api_reference():
    listed = set(re.findall(r"^   ([A-Za-z_][\w.]*)$",
                            (DOCS / "api" / "index.rst").read_text(), flags=re.M))
    missing = sorted(set(fastebm.__all__) - listed)
    assert not missing, f"add to docs/api/index.rst: {missing}"


def sphinx_build(source, out, *options):
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), *options, str(source), str(out / "html")],
        cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True,
        timeout=900)


@needs_jit
@pytest.mark.docs
def test_sphinx_build_has_no_warning(tmp_path):
    pytest.importorskip("sphinx_gallery")
    result = sphinx_build(DOCS, tmp_path, "-D", "sphinx_gallery_conf.run_stale_examples=1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-6000:]
    built = {p.stem for p in (tmp_path / "html" / "api" / "generated").glob("*.html")}
    names = {"energy": "fastebm.energy-function"}   # conf.autosummary_filename_map
    missing = [n for n in fastebm.__all__ if names.get(n, f"fastebm.{n}") not in built]
    assert not missing, f"no API page for {missing}"
    assert (tmp_path / "html" / "auto_examples" / "index.html").exists()


@pytest.mark.docs
def test_sphinx_build_fails_on_a_warning(tmp_path):
    """The negative control: this configuration, a page with a broken link, -W: exit 1."""
    pytest.importorskip("sphinx_gallery")
    source = tmp_path / "src"
    (source / "gallery").mkdir(parents=True)
    (source / "conf.py").write_text((DOCS / "conf.py").read_text())
    (source / "gallery" / "README.txt").write_text("Gallery\n=======\n")
    (source / "index.md").write_text("# Broken\n\nSee [a missing page](missing.md).\n\n"
                                     "```{toctree}\nauto_examples/index\n```\n")
    result = sphinx_build(source, tmp_path / "out")
    assert result.returncode != 0
    assert "missing.md" in result.stderr
