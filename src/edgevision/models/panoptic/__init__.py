"""Panoptic segmentation models."""
