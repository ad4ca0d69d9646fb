"""Joint depth estimation and semantic segmentation models."""
