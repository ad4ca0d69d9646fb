"""Optical flow on features (YolactEdge video mode): :class:`~.featflownet.FeatFlowNet`
estimates it from two C3 maps, :func:`~.warp.warp` applies it (``grid_sample``)."""
