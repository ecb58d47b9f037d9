"""lynxid: identify individually marked animals in camera-trap photos and turn the
identified detections into capture histories for spatial capture-recapture."""
__version__ = "0.1.0"
