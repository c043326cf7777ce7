"""What loading a detection dataset dropped or ignored, and why: one log line per cause, once per dataset.

mmdet's VOC / COCO datasets drop a box whose class is not in the dataset's ``classes`` and ignore (keep as a
no-loss region) a VOC box under ``filter_cfg.bbox_min_size``, a ``difficult`` one or a COCO ``iscrowd`` one,
and leave images without a box out of training, all without a word: with the default VOC classes every box of
a custom class vanishes and the training set is empty. :class:`LoadReportMixin` (used by
:class:`~mmemanet.datasets.checked.CheckedVOCDataset` and
:class:`~mmemanet.datasets.checked.CheckedCocoDataset`) counts all of it while the annotation list is built,
logs one line per cause through mmengine's current logger when the dataset is fully loaded (the unknown class
names with their counts and the ``metainfo=dict(classes=...)`` that keeps them; the ``bbox_min_size`` setting;
...), and refuses a training dataset left without a box to train on (:class:`EmptyDatasetError`, one line
naming the cause), and an evaluation dataset whose every box was dropped.
"""
import logging
from collections import Counter
from typing import Dict, List, Optional, Sequence

from mmengine.logging import MMLogger

from .errors import EmptyDatasetError

SHOWN = 4  # class names shown before '...'


class LoadReport:
    """The counts of one load (see the module docstring)."""

    def __init__(self):
        self.images = 0  # images in the annotation list
        self.boxes = 0  # boxes in the annotation files, whatever their fate
        self.unknown: Counter = Counter()  # class name -> boxes dropped because it is not in the classes
        self.dropped: Dict[str, int] = Counter()  # other cause -> boxes dropped
        self.ignored: Dict[str, int] = Counter()  # cause -> boxes kept as ignore regions (no loss)
        self.left_out: Dict[str, int] = Counter()  # cause -> images left out of training
        self.kept_images = 0  # images the dataset holds after filtering
        self.trainable = 0  # boxes of those images with ignore_flag 0
        self.kept_ignored = 0  # boxes of those images with ignore_flag 1
        self.file_classes: Optional[List[str]] = None  # COCO: the file's category names, in the file's order
        self.file_categories: Dict[int, str] = {}  # COCO: category id -> name


def names(classes: Sequence[str], shown: int = SHOWN) -> str:
    """``('a', 'b', ...)`` with at most ``shown`` names, then how many in all."""
    classes = list(classes)
    if len(classes) <= shown + 1:
        return repr(tuple(classes))
    return '(' + ', '.join(repr(c) for c in classes[:shown]) + f', ... {len(classes)} in all)'


def counted(counter: Counter) -> str:
    """``'tree' x 30, 'bush' x 7``, most frequent first."""
    return ', '.join(f'{name!r} x {n}' for name, n in counter.most_common())


def plural(n: int, word: str) -> str:
    return f'{n} {word}' + ('' if n == 1 else 'es' if word.endswith('x') else 's')


class LoadReportMixin:
    """Counting, reporting and the empty-dataset refusal for a detection dataset (module docstring).

    The dataset class counts into ``self.load_report`` while it parses (boxes, ``unknown``, ``dropped``,
    ``ignored``) and may set ``file_classes``; this mixin counts the images left out by ``filter_data`` and
    what remains, and reports at the end of ``filter_data`` (once per load, in ``full_init``).
    """

    def __init__(self, *args, **kwargs):
        metainfo = kwargs.get('metainfo') or {}
        self.classes_from_config = 'classes' in metainfo
        self.load_report = LoadReport()
        super().__init__(*args, **kwargs)

    # --------------------------------------------------------------------------------- counting
    def load_data_list(self):
        self.load_report = LoadReport()
        data_list = super().load_data_list()
        self.load_report.images = len(data_list)
        return data_list

    def filter_data(self):
        kept = super().filter_data()
        report = self.load_report
        if not self.test_mode:
            kept_ids = {id(info) for info in kept}
            min_size = (self.filter_cfg or {}).get('min_size', 0)
            for info in self.data_list:
                if id(info) not in kept_ids:
                    small = min(info['width'], info['height']) < min_size
                    report.left_out[f'smaller than filter_cfg.min_size={min_size} px' if small else
                                    'without a box of the classes (filter_cfg.filter_empty_gt=True)'] += 1
        report.kept_images = len(kept)
        for info in kept:
            for instance in info.get('instances', []):
                if instance.get('ignore_flag', 0):
                    report.kept_ignored += 1
                else:
                    report.trainable += 1
        self.report_load()  # here, not after full_init: an empty list fails in mmengine's serialisation
        return kept

    # --------------------------------------------------------------------------------- reporting
    def suggested_classes(self) -> List[str]:
        """The ``classes`` that would keep the dropped boxes: the unknown names alone when no box matched the
        present classes (the classes are someone else's, e.g. mmdet's VOC default), else the present classes
        plus the unknown names. COCO: in the file's category order (the labels follow it)."""
        report = self.load_report
        matched = report.boxes - sum(report.unknown.values()) - sum(report.dropped.values()) > 0
        wanted = set(report.unknown) | (set(self.metainfo['classes']) if matched else set())
        if report.file_classes is not None:
            return [c for c in report.file_classes if c in wanted]
        present = list(self.metainfo['classes']) if matched else []
        return present + [name for name, _ in report.unknown.most_common() if name not in present]

    def classes_fix(self) -> str:
        """What keeps the boxes of unknown classes: the ``metainfo`` classes to set (COCO: and the categories the
        file must list first)."""
        report, fixes = self.load_report, []
        classes = self.suggested_classes()
        if tuple(classes) != tuple(self.metainfo['classes']):
            fixes.append(f'to keep them set metainfo=dict(classes={tuple(classes)!r}) on the train, val and test '
                         f"datasets, and the detector head's num_classes={len(classes)}")
        if report.file_classes is not None:
            unlisted = [name for name in report.unknown if name not in report.file_classes]
            if unlisted:
                fixes.append(f'{len(unlisted)} of their category ids have no entry in the file\'s "categories": '
                             'add one (id, name) for each to keep them')
        return '; '.join(fixes)

    def describe_classes(self) -> str:
        classes = self.metainfo['classes']
        if self.classes_from_config:
            return f"the dataset's classes {names(classes)}"
        stock = next(cls for cls in type(self).__mro__ if 'METAINFO' in vars(cls)).__name__
        return f"{stock}'s default classes {names(classes)} (no metainfo classes set)"

    def report_lines(self) -> List[tuple]:
        """``(level, line)`` for each cause of a dropped / ignored box or left-out image."""
        report, lines = self.load_report, []
        total = f'of {plural(report.boxes, "box")}'
        unknown = sum(report.unknown.values())
        if unknown:
            lines.append((logging.WARNING,
                          f'dropped {unknown} {total}: their class is not in {self.describe_classes()}: '
                          f'{counted(report.unknown)}; {self.classes_fix()}'))
        for cause, n in report.dropped.items():
            lines.append((logging.WARNING, f'dropped {n} {total}: {cause}'))
        for cause, n in report.ignored.items():
            level = logging.WARNING if 'bbox_min_size' in cause else logging.INFO
            lines.append((level, f'ignored {n} {total} (kept as no-loss regions): {cause}'))
        for cause, n in report.left_out.items():
            lines.append((logging.INFO if 'filter_empty_gt' in cause and not unknown else logging.WARNING,
                          f'left {n} of {plural(report.images, "image")} out of training: {cause}'))
        return lines

    def report_load(self) -> None:
        """Log one line per cause; raise :class:`EmptyDatasetError` for a dataset with nothing to train on (or,
        for evaluation, whose every box was dropped)."""
        logger = MMLogger.get_current_instance()
        where = f'{type(self).__name__} {self.ann_file}'
        for level, line in self.report_lines():
            logger.log(level, f'{where}: {line}')
        report = self.load_report
        if not self.test_mode and report.trainable == 0:
            raise EmptyDatasetError(f'{self.ann_file}: no box to train on, refusing to train: '
                                    f'{self.empty_cause()}')
        if self.test_mode and report.boxes and report.trainable + report.kept_ignored == 0:
            raise EmptyDatasetError(f'{self.ann_file}: no box to evaluate against: {self.empty_cause()}')

    def empty_cause(self) -> str:
        """Why no box is left, in one line, with the setting that changes it."""
        report = self.load_report
        if report.images == 0:
            return 'the image list is empty'
        if report.boxes == 0:
            return f'the annotations of its {plural(report.images, "image")} hold no box'
        parts = []
        unknown = sum(report.unknown.values())
        if unknown:
            parts.append(f'{unknown} dropped because their class is not in {self.describe_classes()} '
                         f'({counted(report.unknown)}; {self.classes_fix()})')
        parts += [f'{n} dropped: {cause}' for cause, n in report.dropped.items()]
        parts += [f'{n} ignored: {cause}' for cause, n in report.ignored.items()]
        left_out = sum(report.left_out.values())
        if left_out and not parts:
            parts += [f'their {plural(n, "image")} left out of training: {cause}'
                      for cause, n in report.left_out.items()]
        return f'of the {plural(report.boxes, "box")} in its {plural(report.images, "image")}, ' + '; '.join(parts)
