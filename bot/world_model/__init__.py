"""The explicit world model: transitions the trusted evaluator observed, a small torch MLP
per goal that predicts the change of state, its error against two baselines, and the
capacity experiments that decide how large the model of new model-based children may be."""
