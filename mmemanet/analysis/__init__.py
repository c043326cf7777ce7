from .build import BuiltModel, build_target
from .complexity import ComplexityReport, count_parameters, measure_complexity, measure_detector_complexity

__all__ = ['BuiltModel', 'build_target', 'ComplexityReport', 'count_parameters', 'measure_complexity',
           'measure_detector_complexity']
