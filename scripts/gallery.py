"""Render every plot EvalCallback draws (and the extra ``Metric.plot()`` figures) to PNG files.

Small metrics are fed with the examples' data and drawn through the callback's own plotting path
(:func:`lightning_evalkit.callback.plot_sources.plot_sources`, then ``figure_builders``, then ``figure_to_rgb``,
the pixels TensorBoard receives), or through ``Metric.plot()`` for the figures the callback does not draw:

- the breast-cancer data of ``examples/train_classifier.py`` (its split and standardisation), scored by a
  logistic regression on four features (scikit-learn; a few milliseconds, where the example's MLP trains
  for seconds);
- scikit-learn's digits (10 classes; a logistic regression on 10 pixels, so that some digits are confused),
  and three labels read off them for the multilabel plots;
- 40 generated classes, to show what the plots do with many classes;
- the shapes of ``examples/train_detector.py``, with detections made from the ground truth (each shape found
  with a jittered box most of the time, some with the wrong label, plus spurious boxes), since training the
  example's detector takes longer than a documentation build should.

The documentation build runs it in memory (``docs/hooks.py`` adds the PNGs and the gallery page to the site); no
PNG is kept in the repository. By hand::

    python scripts/gallery.py build/gallery    # writes build/gallery/*.png and gallery.md, prints each file
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lightning_evalkit._core.report import PLOT_NAMES  # noqa: E402
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources  # noqa: E402
from lightning_evalkit.plotting import figure_to_rgb  # noqa: E402

# What each of EvalCallback's plots shows (the gallery's captions).
CAPTIONS = {
    "roc": "The ROC curve with its AUC (and DeLong interval with `confidence_level=`) in the legend and the "
    'operating point (`operating_point="youden"`) marked with its sensitivity and specificity. Multiclass and '
    "multilabel: one one-vs-rest curve per class with its AUC and number of positives, and the macro average; "
    "above 10 classes the 10 with the most positives.",
    "sensitivity_specificity": "Sensitivity and specificity against the threshold, the operating point as a "
    "dashed line with its two rates (and their Wilson intervals).",
    "precision_recall": "Precision against recall, with the average precision and the prevalence line.",
    "confusion_matrix": "Counts and row percentages (the share of the true class), coloured by that share; the "
    "title gives n and the threshold. Above 15 classes the 15 with the most samples, the rest pooled into "
    '"other"; multilabel: one 2x2 panel per label.',
    "calibration": "The reliability diagram of a `CalibrationError`: observed frequency against mean predicted "
    "probability per bin, the bin counts underneath, the ECE in the title.",
    "decision_curve": "The decision curve of a `NetBenefit`: the model's net benefit against the threshold "
    "probability, beside treat-all and treat-none.",
    "detection_pr": "From `MeanAveragePrecision(extended_summary=True)`: precision-recall at IoU 0.50 and 0.75, "
    "one curve per class with its AP in the legend, and the mean over classes.",
    "per_class_values": 'Every per-class classification metric (here `Sensitivity(average="none")`), tagged '
    "`val/per_class_values/<name>`: a bar per class, sorted, best first, with the mean over every defined class; "
    "above 30 classes the best and the worst 15.",
    "detection_confusion_matrix": "From `DetectionConfusionMatrix`: which class matched each ground truth "
    "(class-agnostic matching at one IoU and score threshold, as faster-coco-eval's), the missed ground truth in "
    "the column 'none', the background detections in the row 'none'. Above 15 classes the 15 with the most "
    'objects, the rest pooled into "other".',
    "f1_confidence": "From `DetectionOperatingPoint`: macro F1, precision and recall against the score threshold "
    "(faster-coco-eval's `extended_metrics`, not interpolated), the best-F1 threshold marked.",
    "per_class_ap": "A bar per class, AP at IoU 0.50:0.95, labelled with the class name and its AP; the dashed "
    "line is the mean, given in the title.",
    "error_breakdown": "From `DetectionErrorBreakdown` (TIDE, tidecv's numbers): the mAP gained by fixing each kind "
    "of error (classification, localisation, both, duplicate, background, missed) and, below the line, by perfect "
    "precision (FP) and perfect recall (FN); the title gives the mAP at IoU 0.5.",
}
NOT_AN_IMAGE = ("pr_curve_plugin",)  # TensorBoard's own PR Curves tab: counts, not a figure


@dataclass(frozen=True)
class Picture:
    """One rendered figure: its file name, the plot it shows, the TensorBoard tag, a caption and the PNG."""

    file: str
    plot: str
    tag: str
    caption: str
    png: bytes = field(repr=False)


@dataclass
class Scene:
    """A set of metrics fed with one data set: the callback draws their plots as it would at an epoch's end."""

    key: str
    title: str
    text: str
    metrics: list[tuple[str, Any]]
    class_names: Any = None
    extra: list[tuple[str, str, Callable[[], Any]]] = field(default_factory=list)  # (file name, caption, .plot())


def _load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_gallery_{name}", REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(figure: Any) -> bytes:
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    imsave(buffer, figure_to_rgb(figure), format="png")
    return buffer.getvalue()


def _fit(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(x_train, y_train).predict_proba(x_val)


def _fed(metric: Any, *args: Any) -> Any:
    metric.update(*args)
    return metric


def _breast_cancer() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validation probabilities of a 4-feature model, of a 1-feature baseline, and the targets (1 = malignant)."""
    data = _load_example("train_classifier").BreastCancerData()
    data.setup("fit")
    (x_train, y_train), (x_val, y_val) = (tuple(t.numpy() for t in s.tensors) for s in (data.train_set, data.val_set))
    model = _fit(x_train[:, :4], y_train, x_val[:, :4])[:, 1]
    baseline = _fit(x_train[:, 1:2], y_train, x_val[:, 1:2])[:, 1]  # mean texture alone
    return torch.from_numpy(model), torch.from_numpy(baseline), torch.from_numpy(y_val)


def _binary_scenes() -> list[Scene]:
    import lightning_evalkit as ek

    preds, baseline, target = _breast_cancer()
    binary = {"task": "binary"}
    metrics = [
        ("auroc", _fed(ek.AUROC(**binary), preds, target)),
        ("sensitivity", _fed(ek.Sensitivity(**binary), preds, target)),
        ("specificity", _fed(ek.Specificity(**binary), preds, target)),
        ("confusion_matrix", _fed(ek.ConfusionMatrix(**binary), preds, target)),
        ("ece", _fed(ek.CalibrationError(**binary, n_bins=10), preds, target)),
        ("net_benefit", _fed(ek.NetBenefit(thresholds=torch.linspace(0.01, 0.99, 99)), preds, target)),
    ]
    at_spec = _fed(ek.SensitivityAtSpecificity(**binary, min_specificity=0.9), preds, target)
    delong = _fed(ek.DeLongTest(**binary), preds, baseline, target)
    extra = [
        (
            "sensitivity_at_specificity",
            "`SensitivityAtSpecificity.plot()`: the ROC curve with the chosen point (its threshold, both rates "
            "with 95% Wilson intervals) and the constraint, here `min_specificity=0.9`, dotted.",
            at_spec.plot,
        ),
        (
            "delong_test",
            "`DeLongTest.plot()`: both models' ROC curves with their AUCs and 95% DeLong intervals, "
            "z and p in the title (the baseline scores mean texture alone).",
            delong.plot,
        ),
    ]
    text = (
        "The breast-cancer validation split of `examples/train_classifier.py` (malignant = positive), scored by "
        'a logistic regression on four features; `EvalCallback(..., class_names=["benign", "malignant"], '
        "confidence_level=0.95)`."
    )
    return [Scene("binary", "Binary", text, metrics, ["benign", "malignant"], extra)]


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    train, val = order[: int(0.6 * len(y))], order[int(0.6 * len(y)) :]
    pixels = np.argsort(-x[train].var(0))[:10]
    x = (x[:, pixels] - x[train][:, pixels].mean(0)) / x[train][:, pixels].std(0)
    return torch.from_numpy(_fit(x[train], y[train], x[val])), torch.from_numpy(y[val])


def _class_scenes() -> list[Scene]:
    import lightning_evalkit as ek

    probs, target = _digits()
    digits = [str(d) for d in range(10)]
    multiclass = {"task": "multiclass", "num_classes": 10}
    scenes = [
        Scene(
            "multiclass",
            "Multiclass",
            "scikit-learn's digits (10 classes), a logistic regression on 10 of the 64 pixels.",
            [
                ("auroc", _fed(ek.AUROC(**multiclass), probs, target)),
                ("confusion_matrix", _fed(ek.ConfusionMatrix(**multiclass), probs, target)),
                ("sensitivity", _fed(ek.Sensitivity(**multiclass, average="none"), probs, target)),
            ],
            digits,
        )
    ]
    members = {"even": (0, 2, 4, 6, 8), "5 or more": (5, 6, 7, 8, 9), "prime": (2, 3, 5, 7)}
    labels = torch.stack([probs[:, list(m)].sum(1) for m in members.values()], 1).clamp(0, 1)
    truth = torch.stack([torch.isin(target, torch.tensor(m)).long() for m in members.values()], 1)
    multilabel = {"task": "multilabel", "num_labels": 3}
    scenes.append(
        Scene(
            "multilabel",
            "Multilabel",
            "Three labels of the same digits (even, 5 or more, prime), each scored by the sum of the model's "
            "probabilities of its digits.",
            [
                ("auroc", _fed(ek.AUROC(**multilabel), labels, truth)),
                ("confusion_matrix", _fed(ek.ConfusionMatrix(**multilabel), labels, truth)),
            ],
            list(members),
        )
    )
    generator = torch.Generator().manual_seed(0)
    classes = 40
    many_target = torch.randint(0, classes, (3000,), generator=generator)
    logits = torch.randn(3000, classes, generator=generator) + 2.5 * torch.nn.functional.one_hot(many_target, classes)
    many = {"task": "multiclass", "num_classes": classes}
    scenes.append(
        Scene(
            "many_classes",
            "Many classes",
            "40 generated classes: the ROC draws the 10 with the most positives (the macro curve still averages "
            'all 40), the confusion matrix shows the 15 with the most samples and pools the rest into "other", the '
            "per-class bars show the best and the worst 15.",
            [
                ("auroc", _fed(ek.AUROC(**many, input_format="logits"), logits, many_target)),
                ("confusion_matrix", _fed(ek.ConfusionMatrix(**many, input_format="logits"), logits, many_target)),
                (
                    "sensitivity",
                    _fed(ek.Sensitivity(**many, input_format="logits", average="none"), logits, many_target),
                ),
            ],
            [f"class {i}" for i in range(classes)],
        )
    )
    return scenes


def _detections(target: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Detections for one image: each shape found (mostly) with a jittered box, plus spurious boxes."""
    found = torch.rand(len(target["labels"]), generator=generator) < 0.85
    boxes = target["boxes"][found] + 1.5 * torch.randn(int(found.sum()), 4, generator=generator)
    labels = target["labels"][found].clone()
    wrong = torch.rand(len(labels), generator=generator) < 0.1
    labels[wrong] = (labels[wrong] + 1) % 3
    scores = 0.5 + 0.5 * torch.rand(len(labels), generator=generator)
    spurious = int(torch.randint(0, 3, (1,), generator=generator))
    corner = 40 * torch.rand(spurious, 2, generator=generator)
    side = 10 + 14 * torch.rand(spurious, 1, generator=generator)
    return {
        "boxes": torch.cat([boxes, torch.cat([corner, corner + side], 1)]),
        "scores": torch.cat([scores, 0.7 * torch.rand(spurious, generator=generator)]),
        "labels": torch.cat([labels, torch.randint(0, 3, (spurious,), generator=generator)]),
    }


def _detection_scenes() -> list[Scene]:
    import lightning_evalkit as ek

    example = _load_example("train_detector")
    dataset = example.ShapesDataset(120, seed=1)
    generator = torch.Generator().manual_seed(0)
    target = [{**dataset.items[i][1], "image_id": i} for i in range(len(dataset))]
    preds = [_detections(t, generator) for t in target]
    metric = ek.MeanAveragePrecision(box_format="xyxy", class_metrics=True, extended_summary=True)
    text = (
        "120 images of `examples/train_detector.py`'s shapes; the detections are made from the ground truth "
        "(85% of the shapes found with a jittered box, a tenth of those with the wrong label, up to two spurious "
        "boxes per image)."
    )
    breakdown = ek.DetectionErrorBreakdown(box_format="xyxy")
    confusion = ek.DetectionConfusionMatrix(num_classes=3, iou_threshold=0.5, score_threshold=0.25)
    operating = ek.DetectionOperatingPoint(box_format="xyxy")
    metrics = [("map", _fed(metric, preds, target)), ("dcm", _fed(confusion, preds, target))]
    metrics += [("op", _fed(operating, preds, target)), ("tide", _fed(breakdown, preds, target))]
    return [Scene("detection", "Detection", text, metrics, list(example.SHAPES))]


def scenes() -> list[Scene]:
    """Every scene of the gallery, fed with data."""
    return [*_binary_scenes(), *_class_scenes(), *_detection_scenes()]


def render(chosen: Sequence[Scene] | None = None) -> list[tuple[Scene, list[Picture]]]:
    """Each scene with its pictures: every image plot the callback draws for it, then its extra ``.plot()``s."""
    rendered = []
    for scene in scenes() if chosen is None else chosen:
        sources = plot_sources(scene.metrics, {}, PLOT_NAMES, scene.class_names, 0.95, "youden")
        plot_of = {source.tag: source.plot for source in sources}
        pictures = [
            Picture(
                f"{scene.key}_{tag.replace('/', '_')}.png",
                plot_of[tag],
                f"val/{tag}",
                CAPTIONS[plot_of[tag]],
                _png(build()),
            )
            for tag, build in figure_builders(sources, PLOT_NAMES, scene.class_names)
        ]
        for name, caption, plot in scene.extra:
            pictures.append(Picture(f"{scene.key}_{name}.png", "", "", caption, _png(plot()[0])))
        rendered.append((scene, pictures))
    return rendered


def markdown(rendered: Sequence[tuple[Scene, Sequence[Picture]]], folder: str = "gallery") -> str:
    """The gallery page: a section per scene, each picture with its tag and caption."""
    lines = [
        "# Gallery",
        "",
        "Every plot `EvalCallback` draws, rendered when this site was built by `scripts/gallery.py` through the "
        "callback's own plotting path (the pixels TensorBoard gets), and the figures some metrics' `.plot()` "
        "adds. TensorBoard's PR Curves tab (`pr_curve_plugin`) is TensorBoard's own drawing of the counts and has "
        "no picture here. The plots are described on the [EvalCallback](callback.md#what-appears-in-tensorboard) "
        "page.",
        "",
    ]
    described: set[str] = set()
    for scene, pictures in rendered:
        lines += [f"## {scene.title}", "", scene.text, ""]
        for picture in pictures:
            title = f"`{picture.tag}`" if picture.tag else picture.caption.split(":")[0]
            caption = picture.caption if picture.tag else picture.caption.split(":", 1)[1].strip()
            lines += [f"### {title}", ""]
            if (picture.plot or picture.file) not in described:  # a plot's caption comes once, at its first picture
                lines += [caption, ""]
                described.add(picture.plot or picture.file)
            lines += [f"![{picture.tag or title}]({folder}/{picture.file})", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Write every picture and gallery.md into the given folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files and gallery.md (created)")
    for path in write(render(), parser.parse_args(argv).out):
        print(path)


def write(rendered: Sequence[tuple[Scene, Sequence[Picture]]], out: Path) -> list[Path]:
    """Write the pictures into ``out/gallery/`` and the page to ``out/gallery.md``; the paths written."""
    (out / "gallery").mkdir(parents=True, exist_ok=True)
    written = []
    for _, pictures in rendered:
        for picture in pictures:
            written.append(out / "gallery" / picture.file)
            written[-1].write_bytes(picture.png)
    (out / "gallery.md").write_text(markdown(rendered))
    return [*written, out / "gallery.md"]


if __name__ == "__main__":
    main()
