"""What every family shares and nothing else: argument and tensor checks, the "cat"-state metric base, dtype
keeping, warnings said once on rank 0, intra-op thread control, array conversions. Imports nothing of the package.
"""
