"""ControlNet built in: model files, units, preprocessors and the residual injection."""
