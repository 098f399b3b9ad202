"""The documentation site stays whole: its pages and API modules, the README's links into it, its code, and a
gallery that shows every plot EvalCallback draws.

``mkdocs build --strict`` itself runs in scripts/test.sh (and, as a README command, in test_readme_commands.py).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = ("index", "callback", "classification", "clinical", "detection", "benchmarks", "architecture")
API_MODULES = (
    "lightning_evalkit",
    "lightning_evalkit.functional",
    "lightning_evalkit.plotting",
    "lightning_evalkit.coco",
    "lightning_evalkit.callback",
)
GENERATED = ("gallery.md",)  # written into the site by docs/hooks.py at build time


def _nav_files() -> list[str]:
    text = (REPO / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return re.findall(r":\s+(\S+\.md)\s*$", nav, flags=re.MULTILINE)


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def _slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) and GitHub give a heading."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower().replace("`", ""))
    return re.sub(r"[\s]+", "-", text).strip("-")


def _anchors(markdown: str) -> set[str]:
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return {_slug(h) for h in re.findall(r"^#+\s+(.*)$", markdown, flags=re.MULTILINE)}


def _load_gallery() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_gallery_under_test", REPO / "scripts" / "gallery.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_nav_lists_every_page_and_every_page_exists() -> None:
    nav = _nav_files()
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert set(nav) - set(GENERATED) == on_disk, "mkdocs.yml's nav and docs/*.md differ"
    for page in PAGES:
        assert f"{page}.md" in nav
    assert "gallery.md" in nav and not (DOCS / "gallery.md").exists()  # generated, never kept


def test_the_api_reference_documents_each_public_module() -> None:
    documented = []
    for page in sorted((DOCS / "api").glob("*.md")):
        documented += re.findall(r"^::: (\S+)\s*$", page.read_text(), flags=re.MULTILINE)
    assert sorted(documented) == sorted(API_MODULES)
    for name in API_MODULES:
        module = importlib.import_module(name)
        assert module.__doc__ and module.__all__, name


def test_the_readme_links_resolve() -> None:
    """Every relative link of the README names a file that exists, and a heading there when it has an anchor."""
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        path, _, anchor = link.partition("#")
        target = REPO / path if path else REPO / "README.md"
        assert target.exists(), f"README links to {link}, which does not exist"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target.read_text()), f"README links to {link}: no such heading"


def test_the_readme_links_every_guide_page() -> None:
    readme = (REPO / "README.md").read_text()
    for page in PAGES:
        assert f"(docs/{page}.md" in readme, f"the README does not link docs/{page}.md"


def test_every_readme_example_is_in_the_docs() -> None:
    """The README keeps one example per family; each is also on a docs page, where the code is run below."""
    docs_blocks = {block for page in DOCS.glob("*.md") for block in _python_blocks(page.read_text())}
    readme_blocks = _python_blocks((REPO / "README.md").read_text())
    assert len(readme_blocks) >= 4
    for block in readme_blocks:
        assert block in docs_blocks, f"README example not on any docs page:\n{block}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "index"),
    [(page, index) for page in PAGES for index in range(len(_python_blocks((DOCS / f"{page}.md").read_text())))],
)
def test_the_docs_code_runs(page: str, index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ```python block of a docs page runs as written (in an empty folder: it may write logs)."""
    code = _python_blocks((DOCS / f"{page}.md").read_text())[index]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"docs/{page}.md block {index}", "exec"), {"__name__": "__docs__"})


@pytest.mark.slow
def test_the_gallery_shows_every_plot_the_callback_draws(tmp_path: Path) -> None:
    from matplotlib.image import imread

    from lightning_evalkit._core.report import PLOT_NAMES

    os.environ.setdefault("MPLBACKEND", "Agg")
    gallery = _load_gallery()
    rendered = gallery.render()
    pictures = [picture for _, scene_pictures in rendered for picture in scene_pictures]
    drawn = {picture.plot for picture in pictures if picture.plot}
    assert drawn == set(PLOT_NAMES) - set(gallery.NOT_AN_IMAGE)
    assert len({picture.file for picture in pictures}) == len(pictures)
    for picture in pictures:
        pixels = imread(io.BytesIO(picture.png), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300, picture.file
        assert pixels[..., :3].std() > 0.05, f"{picture.file} is blank"
    page = gallery.markdown(rendered)
    for picture in pictures:
        assert f"(gallery/{picture.file})" in page
    gallery.write(rendered, tmp_path)
    assert sorted(p.name for p in (tmp_path / "gallery").iterdir()) == sorted(p.file for p in pictures)
    assert (tmp_path / "gallery.md").read_text() == page
