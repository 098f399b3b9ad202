"""MkDocs hooks (``hooks:`` in mkdocs.yml): the gallery is rendered at build time, never kept in the repository.

``on_files`` runs ``scripts/gallery.py``'s renderer in memory and adds its PNG files (``gallery/*.png``) and the
gallery page (``gallery.md``) to the site as generated files, so ``mkdocs build --strict`` checks the page's
image links like any other, and the PNGs land only in the built site.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.gallery")


def _gallery(config: Any) -> Any:
    path = Path(config.config_file_path).resolve().parent / "scripts" / "gallery.py"
    spec = importlib.util.spec_from_file_location("_evalkit_gallery", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def on_files(files: Files, config: Any) -> Files:
    """Render the gallery and add its page and pictures to the site's files."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    started = time.perf_counter()
    gallery = _gallery(config)
    rendered = gallery.render()
    for _, pictures in rendered:
        for picture in pictures:
            files.append(File.generated(config, f"gallery/{picture.file}", content=picture.png))
    files.append(File.generated(config, "gallery.md", content=gallery.markdown(rendered)))
    count = sum(len(pictures) for _, pictures in rendered)
    log.info("Gallery: %d pictures rendered in %.1f s", count, time.perf_counter() - started)
    return files
