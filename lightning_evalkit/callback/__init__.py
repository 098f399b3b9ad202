"""EvalCallback and what it needs: padding-aware updates under DDP, the plots a metric can feed, result naming,
and one sink per logger kind.
"""

from lightning_evalkit.callback.eval_callback import EvalCallback, EvalCallbackWarning

__all__ = ["EvalCallback", "EvalCallbackWarning"]
