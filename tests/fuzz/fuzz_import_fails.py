"""A module whose import fails (a fuzz case names it as reference.train_fn)."""

raise RuntimeError("this module fails while importing")
