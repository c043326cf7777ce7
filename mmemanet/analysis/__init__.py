from .complexity import ComplexityReport, count_parameters, measure_complexity

__all__ = ['ComplexityReport', 'count_parameters', 'measure_complexity']
