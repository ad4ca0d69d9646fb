"""Instance segmentation models: YOLACT (per-frame) with the YolactEdge split for video."""
