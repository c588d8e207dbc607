"""A GitHub stand-in served over real HTTP on 127.0.0.1, shaped by recorded GitHub responses."""
