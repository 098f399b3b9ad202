"""Pure numerics on counts and sorted scores, knowing nothing of metrics: binomial intervals (regularised incomplete
beta, Wilson, Clopper-Pearson), DeLong's placements, variance and paired test, normal quantiles.
"""
