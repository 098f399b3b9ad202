"""Pure numerics on counts and sorted scores, knowing nothing of metrics: binomial intervals (regularised incomplete
beta, Wilson, Clopper-Pearson), DeLong's placements, variance and paired test, normal quantiles; calibration bins
(numpy's edges, exact per-bin sums, calibration errors, Murphy's decomposition); Poisson bootstrap weights.
"""
