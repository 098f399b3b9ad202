"""ImageBootstrapInterval: percentile intervals of COCO mAP and mAR by resampling images, exact under DDP.

A detection metric's samples are images, not boxes: the boxes of one image are not independent (they compete
for the same ground truth), so the bootstrap draws images and every box of a drawn image comes with it. Image
``i`` gets the Poisson(1) weight ``w`` drawn from ``(seed, image_id, resample)``
(:mod:`lightning_evalkit.statistics.bootstrap`), and a resample is the data set with image ``i`` present ``w``
times: what pycocotools computes on ``w`` copies of the image under new ids that sort where ``image_id`` sorts.

Matching is per image, so a copy of an image has its records: a resample repeats each detection and ground
truth record of the wrapped MeanAveragePrecision by its image's weight and accumulates them (a sort and
cumulative sums), without matching again. Copies of one detection tie in score but are identical, so how they
are ordered among themselves changes nothing; against other images they sort by ``image_id``, as in
pycocotools. The weights depend on ``image_id`` only, so N processes give the bits of one.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.cat_states import CatStateMetric
from lightning_evalkit._core.checks import check_positive_int
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, result_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import _warn_many_detections
from lightning_evalkit.detection.mean_ap_metric import MeanAveragePrecision
from lightning_evalkit.statistics.bootstrap import percentile_interval, poisson_weights
from lightning_evalkit.statistics.normal import check_level

__all__ = ["ImageBootstrapInterval"]

_IMAGE_IDS = "bootstrap_image_ids"  # (images,) each image's id: the index its weight is drawn from
_GT_IMAGE_IDS = "bootstrap_gt_image_ids"  # (G,) the image id of each ground-truth record


def _check_wrapped(metric: object) -> MeanAveragePrecision:
    if not isinstance(metric, MeanAveragePrecision):
        raise TypeError(
            "Expected `metric` to be a MeanAveragePrecision (its images are resampled), but got "
            f"{type(metric).__name__}. Wrap a classification metric in BootstrapInterval instead."
        )
    if metric.extended_summary:
        raise ValueError(
            "Expected a MeanAveragePrecision with extended_summary=False (the intervals are of its scalar and "
            "per-class values), but got extended_summary=True. Pass a copy without it, and keep the one with "
            "extended_summary=True beside it for the curves."
        )
    return metric


def _check_image_ids(target: Sequence[Any]) -> None:
    missing = [index for index, item in enumerate(target) if not isinstance(item, Mapping) or "image_id" not in item]
    if missing:
        raise ValueError(
            "Expected an `image_id` in every target (the global index of the image, from which its resampling "
            f"weight is drawn), but image {missing[0]} of the batch has none. Give each target dict its dataset "
            "index or COCO id as 'image_id'."
        )


class ImageBootstrapInterval(CatStateMetric):
    """Percentile bootstrap intervals of a MeanAveragePrecision's values, resampling images (see the module
    docstring); exact under DDP and in any order of the images.

    Args:
        metric: the MeanAveragePrecision to resample (its settings are used, its state is not), with
            ``extended_summary=False``. With ``class_metrics=True`` the per-class values get intervals too.
        num_resamples: number of Poisson resamples of the images (each costs one accumulation of every record).
        confidence_level: level of the intervals, in (0, 1).
        seed: seed of the resampling weights (an int >= 0).

    Every target must carry an ``image_id`` (an int, unique over the evaluation: the dataset index or the COCO
    id); it draws the image's weights and breaks score ties across images, as in pycocotools.

    compute() returns the wrapped metric's result (``map``, ``map_50``, ..., ``classes``) and, for each of its
    values ``<key>``, ``<key>_ci_lower`` and ``<key>_ci_upper``: the ``(1 -+ level) / 2`` quantiles of the
    resampled values (numpy's linear rule). Resamples where a value is undefined (no counted ground truth: -1
    in pycocotools) are left out of its interval; a bound is -1 where the value is undefined in every resample.
    :meth:`resampled` gives the resampled values themselves.

    Example:
        >>> import torch
        >>> boxes = torch.tensor([[10.0, 10.0, 50.0, 50.0]])
        >>> metric = ImageBootstrapInterval(MeanAveragePrecision(), num_resamples=50, seed=1)
        >>> for image_id in range(20):
        ...     shift = 10.0 * (image_id % 4)  # every fourth image's box found, the others missed
        ...     preds = [dict(boxes=boxes + shift, scores=torch.tensor([0.9]), labels=torch.tensor([0]))]
        ...     metric.update(preds, [dict(boxes=boxes, labels=torch.tensor([0]), image_id=image_id)])
        >>> result = metric.compute()
        >>> round(result["map"].item(), 4), bool(result["map_ci_lower"] < result["map"] < result["map_ci_upper"])
        (0.1255, True)
    """

    is_differentiable = False
    higher_is_better = None  # the wrapped metric's direction: an interval has none of its own
    full_state_update = False
    _apply = keep_dtypes_apply
    metric: MeanAveragePrecision

    def __init__(
        self,
        metric: MeanAveragePrecision,
        num_resamples: int = 1000,
        confidence_level: float = 0.95,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        wrapped = _check_wrapped(metric)
        check_positive_int("num_resamples", num_resamples, minimum=2)
        check_positive_int("seed", seed, minimum=0)
        self.num_resamples, self.seed = num_resamples, seed
        self.confidence_level = check_level(confidence_level)
        self.metric = copy.deepcopy(wrapped)
        self.metric.reset()
        self.metric.sync_on_compute = self.metric._to_sync = False  # it accumulates synced records: never sync it
        empty = parse_detection_inputs([], [], wrapped.box_format, wrapped._iou_type_tuple)
        self._add_cat_states(
            {
                **self.metric._update_states(empty),
                _IMAGE_IDS: torch.empty(0, dtype=torch.long),
                _GT_IMAGE_IDS: torch.empty(0, dtype=torch.long),
            }
        )

    @single_threaded
    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Match a batch of images (lists of per-image dicts, each target with its ``image_id``) and keep the
        records; a rejected batch changes nothing."""
        metric = self.metric
        batch = parse_detection_inputs(preds, target, metric.box_format, metric._iou_type_tuple, device=self.device)
        _check_image_ids(target)
        ids = batch.image_ids
        repeated = _repeated(torch.cat([self._cat_state(_IMAGE_IDS), ids]))
        if repeated.numel():
            raise ValueError(
                f"Expected every image once (its image_id draws its weights), but got image_id {int(repeated[0])} "
                "again."
            )
        if metric.warn_on_many_detections:
            _warn_many_detections(batch, metric.max_detection_thresholds[-1], owner=self)
        records = metric._update_states(batch)
        records[_IMAGE_IDS], records[_GT_IMAGE_IDS] = ids, ids[batch.gt_image]
        for name, value in records.items():
            getattr(self, name).append(value)

    def _states(self) -> tuple[dict[str, Tensor], Tensor]:
        """The wrapped metric's record states and the sorted image ids (checked unique over every rank)."""
        states = {name: self._cat_state(name) for name in self._templates}
        image_ids = torch.sort(states.pop(_IMAGE_IDS)).values
        repeated = _repeated(image_ids)
        if repeated.numel():
            raise ValueError(
                f"Expected every image once over all processes and merged states, but got image_id "
                f"{int(repeated[0])} more than once."
            )
        return states, image_ids

    def _resample(self, states: dict[str, Tensor], image_ids: Tensor, resample: int) -> dict[str, Tensor]:
        """Every image's records repeated by its weight in resample ``resample``, each copy a whole block (score
        ties within an image then come in the order of its copies, as pycocotools sees copied images)."""
        weights = poisson_weights(self.seed, image_ids, resample)
        gt_weights = weights[torch.searchsorted(image_ids, states[_GT_IMAGE_IDS])]
        det_rows: dict[str, Tensor] = {}
        out = {}
        for name, value in states.items():
            if name == _GT_IMAGE_IDS:
                continue
            prefix, kind, _ = name.partition("det_") if "det_" in name else name.partition("gt_")
            if kind == "det_":
                if prefix not in det_rows:
                    det_rows[prefix] = _copied_blocks(states[prefix + "det_image_ids"], image_ids, weights)
                out[name] = value[det_rows[prefix]]
            else:  # a ground truth's place among its image's does not matter: only counts are read
                out[name] = value.repeat_interleave(gt_weights, dim=0)
        return out

    def _interval_keys(self, value: dict[str, Tensor]) -> list[str]:
        """The keys that get intervals: every value of the result; per class only with ``class_metrics``."""
        per_class = [key for key in value if key.endswith("_per_class")]
        keys = [key for key in value if key != "classes" and key not in per_class]
        return keys + (per_class if self.metric.class_metrics else [])

    @single_threaded
    def resampled(self) -> dict[str, Tensor]:
        """The resampled values, ``(num_resamples, ...)`` float64 per key of :meth:`compute` that gets an interval
        (per-class ones laid out by the full result's ``classes``), NaN where undefined."""
        return self._resampled(*self._states())[1]

    def _resampled(self, states: dict[str, Tensor], image_ids: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        value = self.metric._summary({k: v for k, v in states.items() if k != _GT_IMAGE_IDS})
        classes = value["classes"].reshape(-1)
        keys = self._interval_keys(value)
        values: dict[str, list[Tensor]] = {key: [] for key in keys}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an undefined resample is counted in compute(), not warned each time
            for resample in range(self.num_resamples):
                result = self.metric._summary(self._resample(states, image_ids, resample))
                for key in keys:
                    if key.endswith("_per_class"):
                        values[key].append(_placed(result[key], result["classes"], classes, value[key]))
                    else:
                        values[key].append(_undefined_as_nan(result[key]))
        return value, {key: torch.stack(items) for key, items in values.items()}

    @single_threaded
    def compute(self) -> dict[str, Tensor]:
        """The wrapped metric's result with ``<key>_ci_lower`` and ``<key>_ci_upper`` beside each value."""
        value, resampled = self._resampled(*self._states())
        if "map" in resampled and bool(value["map"] > -1):
            undefined = int(resampled["map"].isnan().sum())
            if undefined:
                rank_zero_warn(
                    f"ImageBootstrapInterval: map is undefined in {undefined} of {self.num_resamples} resamples (no "
                    "counted ground truth drawn); they are left out of its interval.",
                    stacklevel=3,
                )
        result = dict(value)
        for key, values in resampled.items():
            lower, upper = percentile_interval(values, self.confidence_level)
            result[f"{key}_ci_lower"] = lower.nan_to_num(-1.0).to(value[key].dtype)
            result[f"{key}_ci_upper"] = upper.nan_to_num(-1.0).to(value[key].dtype)
        return result

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Every value and bound of the result (-1, undefined, is not logged), per class by label."""
        return result_entries(name, value)

    def plot_kinds(self) -> dict[str, int]:
        """No callback plot."""
        return {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """No callback plot."""
        return []

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw each value with its interval (``val``'s, or compute()'s) as bars with whiskers, without pyplot;
        returns ``(figure, axes)``."""
        from lightning_evalkit.plotting.values import plot_interval_metric

        result = self.compute() if val is None else val
        keys = [key[: -len("_ci_lower")] for key in result if key.endswith("_ci_lower")]
        point = {key: result[key] for key in [*keys, "classes"]}
        lower, upper = ({**point, **{key: result[f"{key}_ci_{side}"] for key in keys}} for side in ("lower", "upper"))
        return plot_interval_metric(self, point, lower, upper, ax)


def _repeated(image_ids: Tensor) -> Tensor:
    """The ids that occur more than once (sorted)."""
    image_ids = torch.sort(image_ids).values
    return image_ids[1:][image_ids.diff() == 0]


def _copied_blocks(record_ids: Tensor, image_ids: Tensor, weights: Tensor) -> Tensor:
    """The rows that repeat each image's block of records (contiguous, as matching appends them) by its weight.

    Example:
        >>> _copied_blocks(torch.tensor([4, 4, 9, 7]), torch.tensor([4, 7, 9]), torch.tensor([2, 0, 1]))
        tensor([0, 1, 0, 1, 2])
    """
    if record_ids.numel() == 0:
        return record_ids.new_zeros(0)
    new_block = torch.ones_like(record_ids, dtype=torch.bool)
    new_block[1:] = record_ids[1:] != record_ids[:-1]
    starts = torch.nonzero(new_block).flatten()
    lengths = torch.diff(starts, append=starts.new_tensor([record_ids.numel()]))
    block_weights = weights[torch.searchsorted(image_ids, record_ids[starts])]
    copies = torch.repeat_interleave(torch.arange(starts.numel(), device=starts.device), block_weights)
    copy_starts, copy_lengths = starts[copies], lengths[copies]
    first_row = torch.cumsum(copy_lengths, 0) - copy_lengths
    offsets = torch.repeat_interleave(copy_starts - first_row, copy_lengths)
    return offsets + torch.arange(offsets.numel(), device=offsets.device)


def _undefined_as_nan(values: Tensor) -> Tensor:
    return values.double().masked_fill(values == -1, float("nan"))


def _placed(values: Tensor, classes: Tensor, all_classes: Tensor, full: Tensor) -> Tensor:
    """A resample's per-class values at their class of ``all_classes`` (a resample can only lose classes), NaN
    for a class it lacks, in the full result's shape."""
    out = torch.full((all_classes.numel(),), float("nan"), dtype=torch.float64, device=values.device)
    classes = classes.reshape(-1)
    if classes.numel() and all_classes.numel():
        out[torch.searchsorted(all_classes, classes.to(all_classes.dtype))] = _undefined_as_nan(values).reshape(-1)
    return out.reshape(full.shape) if all_classes.numel() else torch.full_like(full, float("nan"), dtype=torch.float64)
