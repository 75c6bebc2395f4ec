"""Visual analysis: one streaming decode pass, shot detection, keyframes, thumbnails, visual QC.

Plain typed Python (no Dagster): ``prism_assets.assets.visual`` wires it into assets.
"""
