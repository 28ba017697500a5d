"""ccds: deploy and operate a Cross-Cloud Distribution System for real-time live video."""

__version__ = "0.1.0"
