"""Pure domain logic: the linear model, training and evaluation, the promotion gate. No I/O."""
