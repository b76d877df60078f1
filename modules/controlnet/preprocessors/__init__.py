"""ControlNet preprocessors ("annotators"): weight-free ones in OpenCV/numpy, the rest via controlnet-aux."""
